"""Pages of the trace explorer (mounted at /traces/)."""

from django.urls import path

from dashboard.traces import views

app_name = "traces"

urlpatterns = [
    path("", views.search_page, name="search"),
    path("compare/", views.compare_page, name="compare"),
    path("<str:trace_id>/", views.trace_page, name="trace"),
]
