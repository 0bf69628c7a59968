from django.apps import AppConfig


class ServicesConfig(AppConfig):
    name = "dashboard.services"
    label = "services"
