"""Large synthetic traces in Zipkin v2 JSON (as Envoy reports them), for the trace pages' tests and
benchmarks, and a helper that stores one in a tracer in batches its ingest limits accept.

The shape is a BookInfo-like call tree, wide and deep: each span calls up to `fanout` children that
run inside it, services cycle through BookInfo's, every span has the tags Envoy sets (node_id,
response_flags, http.*). Deterministic for a given seed. Timestamps are µs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

SERVICES = ("productpage.default", "reviews.default", "ratings.default", "details.default")
BATCH_SPANS = 4000  # well under the tracer's 5 MiB body and 10,000 spans per request


def large_trace(n: int, start_us: int, seed: int = 7, fanout: int = 6) -> tuple[str, list[dict[str, Any]]]:
    """(trace id, `n` spans) of one synthetic trace starting at `start_us`; span 0 is the root and
    lasts 10 s; every child lies inside its parent. Children are handed out breadth-first, so the
    tree is about log_fanout(n) deep."""
    rng = random.Random(seed)
    trace_id = f"{rng.getrandbits(128) | 1:032x}"
    ids = [f"{rng.getrandbits(64) | 1:016x}" for _ in range(n)]
    windows: list[tuple[int, int]] = [(start_us, 10_000_000)]
    spans = [_span(trace_id, ids[0], None, 0, start_us, 10_000_000, rng)]
    parent = 0
    children = 0
    for i in range(1, n):
        if children >= fanout:
            parent += 1
            children = 0
        p_start, p_duration = windows[parent]
        slot = p_duration // fanout
        start = p_start + children * slot + rng.randrange(0, max(1, slot // 4))
        duration = max(1, int(slot * rng.uniform(0.3, 0.95)))
        windows.append((start, duration))
        spans.append(_span(trace_id, ids[i], ids[parent], i, start, duration, rng))
        children += 1
    return trace_id, spans


def _span(
    trace_id: str, span_id: str, parent_id: str | None, i: int, start: int, duration: int, rng: random.Random
) -> dict[str, Any]:
    service = SERVICES[i % len(SERVICES)]
    short = service.split(".")[0]
    failed = rng.random() < 0.01
    span: dict[str, Any] = {
        "traceId": trace_id,
        "id": span_id,
        "name": f"{short}:9080/op{i % 13}",
        "kind": "SERVER",
        "timestamp": start,
        "duration": duration,
        "localEndpoint": {"serviceName": service, "ipv4": "127.0.0.1"},
        "tags": {
            "http.method": "GET",
            "http.url": f"http://{short}:9080/op{i % 13}",
            "http.status_code": "503" if failed else "200",
            "response_flags": "UF" if failed else "-",
            "node_id": f"sidecar~127.0.0.1~{short}-v1.default~default.svc.cluster.local",
            "component": "proxy",
        },
    }
    if failed:
        span["tags"]["error"] = "true"
    if parent_id:
        span["parentId"] = parent_id
    return span


def store_in_batches(post: Callable[[list[dict[str, Any]]], None], spans: list[dict[str, Any]]) -> None:
    """Send `spans` through `post` (one tracer POST that waits until stored) in accepted batch sizes."""
    for first in range(0, len(spans), BATCH_SPANS):
        post(spans[first : first + BATCH_SPANS])
