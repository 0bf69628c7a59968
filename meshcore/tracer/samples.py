"""BookInfo-shaped traces as Envoy 1.40 reports them, for tests, benchmarks and demos.

One request through the gateway gives 8 spans with shared span context (client and server halves
share ids, the server half has `"shared": true`; only localEndpoint is set):

  istio-ingressgateway CLIENT A -> productpage SERVER A(shared)
  productpage CLIENT B -> details SERVER B(shared)
  productpage CLIENT C -> reviews SERVER C(shared)
  reviews CLIENT D -> ratings SERVER D(shared)        (reviews v2/v3 only; v1 has 6 spans)

Timestamps are microseconds. Deterministic for a given `random.Random`.
"""

from __future__ import annotations

import random
from typing import Any

GATEWAY = "istio-ingressgateway.istio-system"
PRODUCTPAGE = "productpage.default"
DETAILS = "details.default"
REVIEWS = "reviews.default"
RATINGS = "ratings.default"


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4) | 1:0{digits}x}"


def _pair(
    trace_id: str,
    span_id: str,
    parent_id: str | None,
    client_service: str,
    server_service: str,
    path: str,
    start: int,
    duration: int,
    status: int,
    upstream: str,
    extra_tags: dict[str, str],
) -> list[dict[str, Any]]:
    common = {
        "http.method": "GET",
        "http.url": f"http://{server_service.split('.')[0]}:9080{path}",
        "http.protocol": "HTTP/1.1",
        "http.status_code": str(status),
        "guid:x-request-id": f"{trace_id}-{span_id}",
        "response_flags": "-",
        **extra_tags,
    }
    if status >= 500:
        common["error"] = "true"
    client: dict[str, Any] = {
        "traceId": trace_id,
        "id": span_id,
        "name": f"{server_service.split('.')[0]}:9080/*",
        "kind": "CLIENT",
        "timestamp": start,
        "duration": duration,
        "localEndpoint": {"serviceName": client_service, "ipv4": "127.0.0.1"},
        "tags": {**common, "upstream_cluster": f"outbound|9080||{server_service}.svc.cluster.local"},
    }
    if parent_id:
        client["parentId"] = parent_id
    server: dict[str, Any] = {
        "traceId": trace_id,
        "id": span_id,
        "name": f"{server_service.split('.')[0]}:9080/*",
        "kind": "SERVER",
        "shared": True,
        "timestamp": start + 50,
        "duration": max(1, duration - 100),
        "localEndpoint": {"serviceName": server_service, "ipv4": "127.0.0.1"},
        "tags": {**common, "upstream_cluster": upstream, "downstream_cluster": "-"},
    }
    if parent_id:
        server["parentId"] = parent_id
    return [client, server]


def bookinfo_trace(
    rng: random.Random,
    start_us: int,
    *,
    error: bool = False,
    reviews_version: str = "v2",
    trace_id: str | None = None,
) -> list[dict[str, Any]]:
    """The spans of one BookInfo request starting at `start_us` (µs). `error`: ratings answers 500."""
    trace_id = trace_id or _hex(rng, 16)
    a, b, c, d = (_hex(rng, 16) for _ in range(4))
    inbound = "inbound|9080||"
    spans = _pair(trace_id, a, None, GATEWAY, PRODUCTPAGE, "/productpage", start_us, 9000, 200, inbound, {})
    spans += _pair(trace_id, b, a, PRODUCTPAGE, DETAILS, "/details/0", start_us + 300, 1500, 200, inbound, {})
    spans += _pair(
        trace_id, c, a, PRODUCTPAGE, REVIEWS, "/reviews/0", start_us + 2000, 6000, 200, inbound, {}
    )
    if reviews_version != "v1":
        status = 500 if error else 200
        spans += _pair(
            trace_id, d, c, REVIEWS, RATINGS, "/ratings/0", start_us + 2500, 3000, status, inbound, {}
        )
    return spans
