"""The span model: Zipkin v2 JSON is the tracer's canonical representation.

Every span the tracer stores or returns is a normalized Zipkin v2 span dict (see `ZipkinSpan`),
exactly the object Zipkin's API documents (https://zipkin.io/zipkin-api/#/default/post_spans).
Keeping the wire shape as the model (rather than a dataclass that is converted on every request)
means the ingest path copies each span once and the query path returns stored JSON nearly as-is,
which is what makes the ingest throughput target reachable in CPython.

Units (as in Zipkin): `timestamp` and `duration` are integer microseconds (timestamp since the
Unix epoch). Ids are lowercase hex: trace ids 16 or 32 characters, span ids 16.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

import ujson

SPAN_KINDS = frozenset({"CLIENT", "SERVER", "PRODUCER", "CONSUMER"})


class Endpoint(TypedDict, total=False):
    """Zipkin Endpoint: the network context of a node in the service graph."""

    serviceName: str
    ipv4: str
    ipv6: str
    port: int


class Annotation(TypedDict):
    """A timestamped event: `timestamp` in microseconds since epoch."""

    timestamp: int
    value: str


class ZipkinSpan(TypedDict):
    """A normalized Zipkin v2 span; optional keys are absent rather than null."""

    traceId: str
    id: str
    parentId: NotRequired[str]
    name: NotRequired[str]
    kind: NotRequired[str]
    timestamp: NotRequired[int]
    duration: NotRequired[int]
    debug: NotRequired[bool]
    shared: NotRequired[bool]
    localEndpoint: NotRequired[Endpoint]
    remoteEndpoint: NotRequired[Endpoint]
    annotations: NotRequired[list[Annotation]]
    tags: NotRequired[dict[str, str]]


class DependencyLink(TypedDict):
    """Zipkin DependencyLink: calls from `parent` service to `child` service in a time window."""

    parent: str
    child: str
    callCount: int
    errorCount: int


def local_service(span: ZipkinSpan | dict[str, Any]) -> str | None:
    """The span's localEndpoint.serviceName, or None."""
    endpoint = span.get("localEndpoint")
    return endpoint.get("serviceName") if endpoint else None


def same_host(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two Zipkin endpoints name the same IP (v6, else v4), so their spans share a clock.
    Unknown addresses do not match, as in Zipkin's clock-skew rule."""
    if not a or not b:
        return False
    if a.get("ipv6") and a.get("ipv6") == b.get("ipv6"):
        return True
    return bool(a.get("ipv4")) and a.get("ipv4") == b.get("ipv4")


def remote_service(span: ZipkinSpan | dict[str, Any]) -> str | None:
    """The span's remoteEndpoint.serviceName, or None."""
    endpoint = span.get("remoteEndpoint")
    return endpoint.get("serviceName") if endpoint else None


def dumps(value: Any) -> str:
    """Compact JSON text; ujson is several times faster than json on span-sized objects."""
    return ujson.dumps(value, ensure_ascii=False, escape_forward_slashes=False)


def loads(text: str | bytes) -> Any:
    """Parse JSON text (raises ValueError on malformed input)."""
    return ujson.loads(text)
