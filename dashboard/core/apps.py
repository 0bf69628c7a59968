from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "dashboard.core"
    label = "core"

    def ready(self) -> None:
        from dashboard.core import checks  # noqa: F401 - registers the system checks
