from django.urls import path

from dashboard.topology import views

app_name = "topology"

urlpatterns = [
    path("", views.map_page, name="map"),
    path("api/topology", views.api_topology, name="api"),
    path("api/topology/history", views.api_topology_history, name="api-history"),
]
