"""Recent recorded traffic per service, kept in Redis and refreshed incrementally.

Reading five minutes of traces for every preview would cost seconds (1,500 traces are ~10 MB of
Zipkin JSON); instead each read asks the tracer only for the traces since the last read (with an
overlap, since Envoy reports spans a moment after the request) and merges the calls by span id.
A Celery beat task (`routes.record_traffic`) keeps every service's window warm, so a preview reads
a small delta. The window is WHATIF_MINUTES; at most WHATIF_MAX_TRACES traces are read at once.
Calls are `dashboard.routes.recorded.RecordedRequest`; Zipkin timestamps are microseconds.
"""

from __future__ import annotations

import json
import time

from django.conf import settings

from dashboard.routes.recorded import RecordedRequest, requests_from_traces
from dashboard.routes.shared_state import redis_client
from dashboard.sources import configured
from dashboard.sources.errors import SourceError
from dashboard.sources.traces import TraceSource

KEY = "meshscope:routes:traffic:"
# Envoy flushes spans within a second or so; re-read this much before the last read's end.
OVERLAP_MS = 15_000


def recent_requests(
    service: str, namespace: str = "default", source: TraceSource | None = None, now_ms: int | None = None
) -> list[RecordedRequest]:
    """Every recorded call to `service` in the last WHATIF_MINUTES minutes, oldest first.

    Raises SourceError when the tracer (or Redis) cannot be read.
    """
    import redis

    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    window_ms = settings.WHATIF_MINUTES * 60_000
    key = f"{KEY}{namespace}/{service}"
    try:
        raw = redis_client().get(key)
    except redis.RedisError as error:
        raise SourceError(f"cannot read the recorded traffic: {error}") from None
    state = json.loads(raw) if raw else {"until_ms": 0, "requests": []}
    since = max(now_ms - window_ms, state["until_ms"] - OVERLAP_MS)
    source = source or configured.trace_source(settings.ROUTE_STORE_TIMEOUT_SECONDS)
    traces = source.traces(
        service=f"{service}.{namespace}", limit=settings.WHATIF_MAX_TRACES, lookback_ms=max(1, now_ms - since)
    )
    merged = {r["span_id"]: r for r in state["requests"]}
    merged.update((r.span_id, r.to_dict()) for r in requests_from_traces(traces, service))
    cutoff_us = (now_ms - window_ms) * 1000
    kept = sorted(
        (r for r in merged.values() if r["timestamp_us"] >= cutoff_us), key=lambda r: r["timestamp_us"]
    )
    try:
        redis_client().set(key, json.dumps({"until_ms": now_ms, "requests": kept}), ex=window_ms // 1000 * 2)
    except redis.RedisError as error:
        raise SourceError(f"cannot store the recorded traffic: {error}") from None
    return [RecordedRequest.from_dict(r) for r in kept]


def refresh_all() -> int:
    """Refresh every registry service's window (the beat task); returns how many were refreshed."""
    registry = configured.registry_source().registry()
    for service in registry.services:
        recent_requests(service.name, service.namespace)
    return len(registry.services)
