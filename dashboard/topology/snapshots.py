"""Storing, pruning and reading snapshots, and the payload every browser receives."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from dashboard.topology.models import TopologySnapshot
from dashboard.topology.render import render_figure
from dashboard.topology.trafficmap import TrafficMap


def payload(taken_at: dt.datetime, data: dict[str, Any], with_figure: bool = True) -> dict[str, Any]:
    """What the API and the websocket send: the map, and the Plotly figure rendered from it."""
    result: dict[str, Any] = {"taken_at": taken_at.isoformat(), "map": data}
    if with_figure:
        result["figure"] = render_figure(TrafficMap.from_dict(data))
    return result


def store_snapshot(traffic_map: TrafficMap, retention_minutes: int) -> TopologySnapshot:
    """Save the map and drop snapshots older than the retention window, in one transaction."""
    taken_at = dt.datetime.fromtimestamp(traffic_map.taken_at, tz=dt.UTC)
    with transaction.atomic():
        snapshot = TopologySnapshot.objects.create(taken_at=taken_at, data=traffic_map.to_dict())
        TopologySnapshot.objects.filter(
            taken_at__lt=taken_at - dt.timedelta(minutes=retention_minutes)
        ).delete()
    return snapshot


def latest_snapshot() -> TopologySnapshot | None:
    return TopologySnapshot.objects.order_by("-taken_at").first()


def history(minutes: int, max_points: int) -> list[TopologySnapshot]:
    """Snapshots of the last `minutes`, oldest first, thinned evenly to at most `max_points`."""
    since = timezone.now() - dt.timedelta(minutes=minutes)
    rows = list(
        TopologySnapshot.objects.filter(taken_at__gte=since).order_by("taken_at").values_list("id", flat=True)
    )
    if len(rows) > max_points:
        step = len(rows) / max_points
        rows = [rows[int(i * step)] for i in range(max_points - 1)] + [rows[-1]]
    return list(TopologySnapshot.objects.filter(id__in=rows).order_by("taken_at"))
