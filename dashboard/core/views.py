"""Views of no particular area: the API description, the 404 answer."""

from __future__ import annotations

from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from django.views.defaults import page_not_found

from dashboard.core.errors import json_error

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"


@require_GET
def openapi(request: HttpRequest) -> HttpResponse:
    """The dashboard's OpenAPI 3 description (dashboard/openapi.yaml, checked in), as YAML."""
    return HttpResponse(OPENAPI_PATH.read_bytes(), content_type="application/yaml")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 for a path no view serves: the JSON error body under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return json_error(404, f"no API at {request.path}")
    return page_not_found(request, exception)
