"""JSON API of the trace explorer (mounted at /api/ by the root URLconf)."""

from django.urls import path

from dashboard.traces import api

app_name = "traces-api"

urlpatterns = [
    path("traces", api.search, name="search"),
    path("traces/compare", api.compare, name="compare"),
    path("traces/<str:trace_id>", api.trace, name="trace"),
]
