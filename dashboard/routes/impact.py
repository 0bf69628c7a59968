"""Golden signals of a service in the minutes before vs after a route change. Pure; no Django.

`impact(documents, service, at, minutes)` takes topology snapshots (`TrafficMap.to_dict()`, any
order) and averages, over the snapshots in [at - minutes, at) and (at, at + minutes], every signal
of the service's inbound traffic in total and per version (dashboard.services.metrics). `at` is
epoch seconds. A signal without any value in a window is None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import fmean
from typing import Any

from dashboard.services.metrics import SIGNALS, service_series


def _means(series: Mapping[str, list]) -> dict[str, float | None]:
    result: dict[str, float | None] = {}
    for signal in SIGNALS:
        values = [v for v in series.get(signal, []) if v is not None]
        result[signal] = round(fmean(values), 3) if values else None
    return result


def _window(documents: Sequence[Mapping[str, Any]], service: str) -> dict[str, dict[str, float | None]]:
    # Per-poll rates: the windows before and after a change are averaged here, not smoothed.
    series = service_series(list(documents), service, window_s=None)
    return {group: _means(values) for group, values in series["inbound"].items()}


def impact(documents: Sequence[Mapping[str, Any]], service: str, at: float, minutes: float) -> dict[str, Any]:
    ordered = sorted(documents, key=lambda d: d.get("taken_at", 0))
    span = minutes * 60
    before = [d for d in ordered if at - span <= d.get("taken_at", 0) < at]
    after = [d for d in ordered if at < d.get("taken_at", 0) <= at + span]
    return {
        "service": service,
        "at": at,
        "minutes": minutes,
        "before": {"snapshots": len(before), "inbound": _window(before, service)},
        "after": {"snapshots": len(after), "inbound": _window(after, service)},
    }
