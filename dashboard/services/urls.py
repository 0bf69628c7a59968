from django.urls import path

from dashboard.services import views

app_name = "services"

urlpatterns = [
    path("", views.service_list, name="list"),
    path("<str:name>/", views.service_page, name="service"),
    path("workloads/<str:name>/", views.workload_page, name="workload"),
    path("sidecars/<str:name>/", views.sidecar_page, name="sidecar"),
]
