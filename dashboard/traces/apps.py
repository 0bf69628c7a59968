from django.apps import AppConfig


class TracesConfig(AppConfig):
    name = "dashboard.traces"
    label = "traces"
