"""The health page, /api/health, the unauthenticated yes/no probe, and /metrics.

- `GET /health/` (login): every part and check with state, last success and last error.
- `GET /api/health` (login): the same as JSON (`HealthReport.to_dict()`).
- `GET /healthz` and `GET /api/health?probe=1` (no login, for compose health checks and load
  balancers): 200 "ok" when the database and Redis answer, 503 "unavailable" otherwise, no details.
  `?require=poller` (comma list of check names) also requires those checks to be up.
- `GET /metrics` (Prometheus text): a logged-in user, or `Authorization: Bearer <token>` (see
  settings.METRICS_TOKEN); anything else gets 401.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dashboard.core.errors import json_error
from dashboard.health import metrics, service
from dashboard.health.report import Check
from meshcore.model.errors import FieldError


def _probe_answer(request: HttpRequest) -> HttpResponse:
    wanted = [name.strip() for name in request.GET.get("require", "").split(",") if name.strip()]
    optional = {"poller": service.probe_poller, "controlplane": service.probe_controlplane}
    unknown = [name for name in wanted if name not in optional]
    if unknown:
        return json_error(
            400,
            "unknown check",
            [FieldError("require", f"{', '.join(unknown)} is not one of {', '.join(sorted(optional))}")],
        )
    checks = service.essential_checks() + [Check(n, "dashboard", optional[n], True) for n in wanted]
    report = service.health_report(checks)
    ok = report.essential_ok
    return HttpResponse(
        "ok\n" if ok else "unavailable\n", status=200 if ok else 503, content_type="text/plain"
    )


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return _probe_answer(request)


@login_not_required
@never_cache
@require_GET
def api_health(request: HttpRequest) -> HttpResponse:
    """The full report for a logged-in user; the yes/no probe (`?probe=1`) for anyone."""
    if "probe" in request.GET:
        return _probe_answer(request)
    if not request.user.is_authenticated:
        return json_error(401, "authentication required")
    return JsonResponse(service.health_report().to_dict())


@never_cache
@require_GET
def health_page(request: HttpRequest) -> HttpResponse:
    """The report as a page; `?fragment=1` renders only the tables (the page refreshes them)."""
    report = service.health_report()
    template = "health/_report.html" if request.GET.get("fragment") else "health/page.html"
    return render(request, template, {"report": report, "data": report.to_dict()})


@login_not_required
@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not (request.user.is_authenticated or metrics.bearer_ok(request.headers.get("Authorization", ""))):
        response = json_error(401, "authentication required: log in, or send Authorization: Bearer <token>")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics.exposition(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)
