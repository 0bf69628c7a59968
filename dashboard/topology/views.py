"""Live map page and the topology JSON API (login required by the middleware)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from dashboard.core.errors import json_error
from dashboard.topology.params import BadParameter, bool_param, int_param
from dashboard.topology.snapshots import history, latest_snapshot, payload


@require_GET
def map_page(request: HttpRequest) -> HttpResponse:
    snapshot = latest_snapshot()
    initial = None if snapshot is None else payload(snapshot.taken_at, snapshot.data)
    return render(
        request,
        "topology/map.html",
        {"initial": initial, "poll_interval": settings.TOPOLOGY_POLL_INTERVAL_SECONDS, "replay_minutes": 30},
    )


@require_GET
def api_topology(request: HttpRequest) -> JsonResponse:
    """The current map and its figure; 503 until the first poll has stored a snapshot.

    `generated_at` is when this answer was made and `snapshot_age_s` how many seconds older the
    snapshot is (`taken_at`): above 3 poll intervals the poller is not keeping up, or not running.
    """
    snapshot = latest_snapshot()
    if snapshot is None:
        return json_error(503, "no topology snapshot yet: is the poller (celery beat + worker) running?")
    now = timezone.now()
    body = payload(snapshot.taken_at, snapshot.data)
    body["generated_at"] = now.isoformat()
    body["snapshot_age_s"] = round(max(0.0, (now - snapshot.taken_at).total_seconds()), 3)
    return JsonResponse(body)


@require_GET
def api_topology_history(request: HttpRequest) -> JsonResponse:
    """?minutes=N (1..retention, default 30), ?max_points=M (1..3600, default 360), ?figures=true."""
    try:
        minutes = int_param(request.GET, "minutes", 30, 1, settings.SNAPSHOT_RETENTION_MINUTES)
        max_points = int_param(request.GET, "max_points", 360, 1, 3600)
        figures = bool_param(request.GET, "figures", False)
    except BadParameter as error:
        return json_error(400, str(error))
    snapshots = history(minutes, max_points)
    return JsonResponse(
        {
            "minutes": minutes,
            "snapshots": [payload(s.taken_at, s.data, with_figure=figures) for s in snapshots],
        }
    )
