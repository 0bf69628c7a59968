"""Recorded requests from traces: what a caller sent to a service and which version answered.

Envoy's outbound span of each call (kind CLIENT; the gateway's too) carries `http.method`,
`http.url`, `upstream_cluster` (`outbound|9080|v1|reviews.default.svc.cluster.local`) and, as
`http.request.header.<name>` custom tags, the request headers the mesh records (end-user,
user-agent and every header a VirtualService matches on). The callee's inbound half of the same
span (shared span id, kind SERVER) names the workload that served it in its `node_id` tag.
Zipkin timestamps are microseconds. Pure; no Django, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HEADER_TAG = "http.request.header."


@dataclass(frozen=True)
class RecordedRequest:
    """One call to `service` (its short name): method, path (no query), query, headers (lower-case
    names), the workload that served it (None when its half was not recorded), when (µs)."""

    service: str
    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    served_by: str | None = None
    timestamp_us: int = 0
    span_id: str = ""  # trace id + span id: one call, however often its trace is read

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "headers": dict(self.headers),
            "served_by": self.served_by,
            "timestamp_us": self.timestamp_us,
            "span_id": self.span_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecordedRequest:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


def _service_of_cluster(cluster: str) -> str | None:
    parts = cluster.split("|")
    if len(parts) != 4 or parts[0] != "outbound":
        return None
    return parts[3].split(".", 1)[0]


def workload_of_node(node_id: str) -> str | None:
    """`sidecar~127.0.0.1~reviews-v2.default~default.svc.cluster.local` -> `reviews-v2`."""
    parts = node_id.split("~")
    if len(parts) != 4:
        return None
    return parts[2].split(".", 1)[0]


def _request(span: Mapping[str, Any], served_by: str | None) -> RecordedRequest | None:
    tags = span.get("tags") or {}
    service = _service_of_cluster(tags.get("upstream_cluster", ""))
    url = tags.get("http.url")
    if service is None or not url:
        return None
    parts = urlsplit(url)
    headers = {key[len(HEADER_TAG) :]: value for key, value in tags.items() if key.startswith(HEADER_TAG)}
    return RecordedRequest(
        service=service,
        method=tags.get("http.method", "GET"),
        path=parts.path or "/",
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        served_by=served_by,
        timestamp_us=int(span.get("timestamp") or 0),
        span_id=f"{span.get('traceId', '')}/{span.get('id', '')}",
    )


def requests_from_traces(
    traces: Iterable[Iterable[Mapping[str, Any]]], service: str
) -> list[RecordedRequest]:
    """Every recorded call to `service` in `traces` (Zipkin v2 JSON), oldest first."""
    found: list[RecordedRequest] = []
    for trace in traces:
        spans = list(trace)
        servers = {
            s.get("id"): workload_of_node((s.get("tags") or {}).get("node_id", ""))
            for s in spans
            if s.get("kind") == "SERVER"
        }
        for span in spans:
            if span.get("kind") != "CLIENT":
                continue
            request = _request(span, servers.get(span.get("id")))
            if request is not None and request.service == service:
                found.append(request)
    found.sort(key=lambda r: r.timestamp_us)
    return found
