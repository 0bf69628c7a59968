"""Root URLconf: one include per app."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from dashboard.core import views as core_views
from dashboard.services import views as services_views

urlpatterns = [
    path("", include("dashboard.topology.urls")),
    path("", include("dashboard.health.urls")),
    path("accounts/", include("dashboard.accounts.urls")),
    path("services/", include("dashboard.services.urls")),
    path("routes/", include("dashboard.routes.urls")),
    path("traces/", include("dashboard.traces.urls")),
    path("security/", include("dashboard.security.urls")),
    path("api/openapi.yaml", core_views.openapi, name="openapi"),
    path("api/", include("dashboard.routes.api_urls")),
    path("api/", include("dashboard.traces.api_urls")),
    path("api/registry", services_views.api_registry, name="api-registry"),
    path("api/services/<str:name>/metrics", services_views.api_service_metrics, name="api-service-metrics"),
    path(
        "api/workloads/<str:name>/metrics", services_views.api_workload_metrics, name="api-workload-metrics"
    ),
    path("admin/", admin.site.urls),
]

# Unknown paths under /api/ answer the JSON error body, like every other API error.
handler404 = "dashboard.core.views.not_found"
