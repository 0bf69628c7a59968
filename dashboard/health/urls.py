from django.urls import path

from dashboard.health import views

app_name = "health"

urlpatterns = [
    path("health/", views.health_page, name="page"),
    path("api/health", views.api_health, name="api"),
    path("healthz", views.healthz, name="probe"),
    path("metrics", views.metrics_view, name="metrics"),
]
