"""OTLP JSON (Jaeger's `/api/v3`) -> Zipkin v2 spans, the shape every trace source hands the
trace explorer. No Django, no I/O.

- Input: OTLP JSON as Jaeger's `/api/v3` returns it (`{"result": {"resourceSpans": [{"resource":
  {"attributes": [...]}, "scopeSpans": [{"spans": [...]}]}]}}`): ids in hex, times
  `startTimeUnixNano`/`endTimeUnixNano` (ns, as strings), `kind` as the OTLP enum (1 internal,
  2 server, 3 client, 4 producer, 5 consumer; its name is accepted too), attributes as
  `{"key", "value": {"stringValue"|"intValue"|"boolValue"|"doubleValue"|...}}`, events, and
  `status.code` 2 for an error. The service is the resource's `service.name`.
- Output, Zipkin v2 spans: `{traceId, id, parentId, name, kind, timestamp (µs), duration (µs),
  localEndpoint: {serviceName}, remoteEndpoint, tags: {str: str}, annotations: [{timestamp,
  value}]}`. An OTLP error status becomes the `error` tag (its message, or "true"), as Zipkin
  instrumentations write it. What Zipkin cannot say is dropped: span links and resource
  attributes other than the service name. (`dashboard.traces.jaeger.to_zipkin_spans` does the
  same for Jaeger's classic JSON.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dashboard.traces.jaeger import UNKNOWN_SERVICE, text

OTLP_KINDS = {2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
OTLP_KIND_NAMES = {f"SPAN_KIND_{kind}": kind for kind in OTLP_KINDS.values()}
STATUS_ERROR = (2, "STATUS_CODE_ERROR")


def attribute_value(value: dict[str, Any]) -> str:
    """An OTLP AnyValue as tag text (arrays and maps as their JSON-ish text)."""
    for key in ("stringValue", "intValue", "doubleValue"):
        if key in value:
            return text(value[key])
    if "boolValue" in value:
        return text(bool(value["boolValue"]))
    if "arrayValue" in value:
        return "[" + ",".join(attribute_value(v) for v in value["arrayValue"].get("values") or ()) + "]"
    if "kvlistValue" in value:
        pairs = value["kvlistValue"].get("values") or ()
        return "{" + ",".join(f"{p.get('key')}={attribute_value(p.get('value') or {})}" for p in pairs) + "}"
    if "bytesValue" in value:
        return str(value["bytesValue"])
    return ""


def attributes(items: Iterable[dict[str, Any]] | None) -> dict[str, str]:
    return {str(item.get("key")): attribute_value(item.get("value") or {}) for item in items or ()}


def _kind(raw: Any) -> str | None:
    if isinstance(raw, int):
        return OTLP_KINDS.get(raw)
    return OTLP_KIND_NAMES.get(str(raw))


def _micros(nanos: Any) -> int:
    return int(nanos or 0) // 1000


def otlp_to_zipkin(document: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The traces in one `/api/v3` answer (its `result`, or the TracesData itself), each a list of
    Zipkin spans, in the order their first span appears. ValueError when it is no TracesData."""
    data = document.get("result", document) if isinstance(document, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("resourceSpans", []), list):
        raise ValueError("not an OTLP TracesData document")
    traces: dict[str, list[dict[str, Any]]] = {}
    for resource_spans in data.get("resourceSpans") or ():
        resource = attributes((resource_spans.get("resource") or {}).get("attributes"))
        service = resource.get("service.name") or UNKNOWN_SERVICE
        for scope_spans in resource_spans.get("scopeSpans") or ():
            for raw in scope_spans.get("spans") or ():
                span = _otlp_span(raw, service)
                traces.setdefault(span["traceId"], []).append(span)
    return list(traces.values())


def _otlp_span(raw: dict[str, Any], service: str) -> dict[str, Any]:
    start, end = _micros(raw.get("startTimeUnixNano")), _micros(raw.get("endTimeUnixNano"))
    tags = attributes(raw.get("attributes"))
    status = raw.get("status") or {}
    if status.get("code") in STATUS_ERROR:
        tags.setdefault("error", status.get("message") or "true")
    span: dict[str, Any] = {
        "traceId": str(raw.get("traceId") or "").lower(),
        "id": str(raw.get("spanId") or "").lower(),
        "name": raw.get("name") or "",
        "timestamp": start,
        "duration": max(end - start, 0),
        "localEndpoint": {"serviceName": service},
        "tags": tags,
        "annotations": sorted(
            (
                {"timestamp": _micros(e.get("timeUnixNano")), "value": e.get("name") or ""}
                for e in raw.get("events") or ()
            ),
            key=lambda a: a["timestamp"],
        ),
    }
    if raw.get("parentSpanId"):
        span["parentId"] = str(raw["parentSpanId"]).lower()
    kind = _kind(raw.get("kind"))
    if kind:
        span["kind"] = kind
    if tags.get("peer.service"):
        span["remoteEndpoint"] = {"serviceName": tags["peer.service"]}
    return span
