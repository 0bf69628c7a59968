from django.apps import AppConfig


class RoutesConfig(AppConfig):
    name = "dashboard.routes"
    label = "routes"
