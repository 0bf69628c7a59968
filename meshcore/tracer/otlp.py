"""OTLP/HTTP trace requests (JSON and protobuf) -> Zipkin v2 span dicts.

The mapping follows OpenTelemetry's Zipkin exporter specification
(https://opentelemetry.io/docs/specs/otel/trace/sdk_exporters/zipkin/):
- `service.name` resource attribute -> localEndpoint.serviceName; `peer.service` -> remoteEndpoint;
- span kind SERVER/CLIENT/PRODUCER/CONSUMER -> the same Zipkin kind; INTERNAL/UNSPECIFIED -> no kind;
- start/end nanoseconds -> timestamp/duration in microseconds (integer division by 1000);
- attributes -> tags (strings as-is, bool "true"/"false", numbers as text, arrays as JSON);
- status ERROR -> tags `otel.status_code=ERROR` and `error=<description>`; OK -> `otel.status_code=OK`;
- events -> annotations (`name`, or `"name": {attributes as JSON}` when the event has attributes);
- instrumentation scope -> tags `otel.scope.name` / `otel.scope.version`.

Both entry points return *raw* Zipkin-shaped dicts that then go through `validation.normalize_batch`,
so OTLP and Zipkin input share one validator and one bad-input policy. Ids that cannot be hex at all
(OTLP/JSON with a non-string id, protobuf bytes of the wrong length) are passed on in a form the
validator rejects with a message naming the field.
"""

from __future__ import annotations

import base64
from typing import Any

from meshcore.tracer.model import dumps, loads

# OTLP SpanKind enum values (opentelemetry/proto/trace/v1/trace.proto).
_KIND_BY_NUMBER = {2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_KIND_BY_NAME = {
    "SPAN_KIND_SERVER": "SERVER",
    "SPAN_KIND_CLIENT": "CLIENT",
    "SPAN_KIND_PRODUCER": "PRODUCER",
    "SPAN_KIND_CONSUMER": "CONSUMER",
}
_STATUS_ERROR = 2
_STATUS_OK = 1
_STATUS_BY_NAME = {"STATUS_CODE_ERROR": _STATUS_ERROR, "STATUS_CODE_OK": _STATUS_OK, "STATUS_CODE_UNSET": 0}


class OtlpDecodeError(ValueError):
    """The request body is not an OTLP ExportTraceServiceRequest at all."""


def _any_value_json(value: Any) -> Any:
    """An OTLP/JSON AnyValue -> a Python value."""
    if not isinstance(value, dict):
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        # int64 is a JSON string in OTLP/JSON (proto3 JSON mapping) but senders also use numbers.
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if "doubleValue" in value:
        return value["doubleValue"]
    if "arrayValue" in value:
        return [_any_value_json(item) for item in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return {
            kv.get("key"): _any_value_json(kv.get("value"))
            for kv in (value["kvlistValue"] or {}).get("values", [])
        }
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _tag_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return dumps(value)


def _nanos(value: Any) -> int | None:
    """OTLP/JSON fixed64 nanoseconds come as decimal strings (or numbers); None when unusable."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _convert(
    service: str | None,
    scope_name: str | None,
    scope_version: str | None,
    trace_id: Any,
    span_id: Any,
    parent_id: Any,
    name: Any,
    kind: str | None,
    start_ns: int | None,
    end_ns: int | None,
    attributes: dict[str, Any],
    status_code: int,
    status_message: str,
    events: list[tuple[int | None, str, dict[str, Any]]],
) -> dict[str, Any]:
    span: dict[str, Any] = {"traceId": trace_id, "id": span_id}
    if parent_id:
        span["parentId"] = parent_id
    if name is not None:
        span["name"] = name
    if kind:
        span["kind"] = kind
    if start_ns is not None:
        span["timestamp"] = start_ns // 1000
        if end_ns is not None:
            # Keep a negative difference visible so the validator rejects it with a clear message.
            span["duration"] = (
                (end_ns - start_ns) // 1000 if end_ns >= start_ns else -((start_ns - end_ns) // 1000 or 1)
            )
    elif end_ns is not None:
        span["timestamp"] = "(endTimeUnixNano without startTimeUnixNano)"
    if service:
        span["localEndpoint"] = {"serviceName": service}
    tags = {key: _tag_text(value) for key, value in attributes.items() if value is not None}
    peer = tags.pop("peer.service", None)
    if peer:
        span["remoteEndpoint"] = {"serviceName": peer}
    if scope_name:
        tags["otel.scope.name"] = scope_name
    if scope_version:
        tags["otel.scope.version"] = scope_version
    if status_code == _STATUS_ERROR:
        tags["otel.status_code"] = "ERROR"
        tags["error"] = status_message or "true"
    elif status_code == _STATUS_OK:
        tags["otel.status_code"] = "OK"
    if tags:
        span["tags"] = tags
    annotations = []
    for time_ns, event_name, event_attributes in events:
        value = event_name if not event_attributes else f'"{event_name}": {dumps(event_attributes)}'
        annotations.append({"timestamp": (time_ns or 0) // 1000, "value": value})
    if annotations:
        span["annotations"] = annotations
    return span


def _json_id(value: Any) -> Any:
    """OTLP/JSON ids are hex strings; "" means absent. Non-strings go to the validator as-is."""
    return value.lower() if isinstance(value, str) else value


def spans_from_otlp_json(body: bytes) -> list[dict[str, Any]]:
    """Decode an OTLP/HTTP JSON ExportTraceServiceRequest into raw Zipkin span dicts.

    Raises OtlpDecodeError when the body is not JSON or not shaped like the request message.
    """
    try:
        request = loads(body)
    except ValueError as error:
        raise OtlpDecodeError(f"malformed JSON: {error}") from error
    if not isinstance(request, dict):
        raise OtlpDecodeError("expected a JSON object with 'resourceSpans'")
    resource_spans = request.get("resourceSpans") or []
    if not isinstance(resource_spans, list):
        raise OtlpDecodeError("'resourceSpans' must be a list")
    out: list[dict[str, Any]] = []
    for resource_span in resource_spans:
        if not isinstance(resource_span, dict):
            raise OtlpDecodeError("each 'resourceSpans' item must be an object")
        resource = resource_span.get("resource") or {}
        service = None
        for attribute in resource.get("attributes") or []:
            if isinstance(attribute, dict) and attribute.get("key") == "service.name":
                service = _any_value_json(attribute.get("value"))
        # 'instrumentationLibrarySpans' is the pre-1.0 name of 'scopeSpans'; old senders still use it.
        scope_spans = (
            resource_span.get("scopeSpans") or resource_span.get("instrumentationLibrarySpans") or []
        )
        for scope_span in scope_spans:
            if not isinstance(scope_span, dict):
                raise OtlpDecodeError("each 'scopeSpans' item must be an object")
            scope = scope_span.get("scope") or scope_span.get("instrumentationLibrary") or {}
            for span in scope_span.get("spans") or []:
                if not isinstance(span, dict):
                    out.append(span)  # the validator reports "(span) must be a JSON object"
                    continue
                kind_value = span.get("kind")
                kind = (
                    _KIND_BY_NUMBER.get(kind_value)
                    if isinstance(kind_value, int)
                    else _KIND_BY_NAME.get(kind_value)
                )
                status = span.get("status") or {}
                code = status.get("code", 0)
                if isinstance(code, str):
                    code = _STATUS_BY_NAME.get(code, 0)
                attributes = {
                    kv.get("key"): _any_value_json(kv.get("value"))
                    for kv in span.get("attributes") or []
                    if isinstance(kv, dict)
                }
                events = [
                    (
                        _nanos(event.get("timeUnixNano")),
                        str(event.get("name", "")),
                        {
                            kv.get("key"): _any_value_json(kv.get("value"))
                            for kv in event.get("attributes") or []
                            if isinstance(kv, dict)
                        },
                    )
                    for event in span.get("events") or []
                    if isinstance(event, dict)
                ]
                out.append(
                    _convert(
                        service if isinstance(service, str) else None,
                        scope.get("name") or None,
                        scope.get("version") or None,
                        _json_id(span.get("traceId")),
                        _json_id(span.get("spanId")),
                        _json_id(span.get("parentSpanId")),
                        span.get("name"),
                        kind,
                        _nanos(span.get("startTimeUnixNano")),
                        _nanos(span.get("endTimeUnixNano")),
                        attributes,
                        code if isinstance(code, int) else 0,
                        str(status.get("message") or ""),
                        events,
                    )
                )
    return out


def _any_value_proto(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_any_value_proto(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _any_value_proto(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, which)


def _proto_id(raw: bytes) -> str | None:
    # Wrong-length ids become hex of that length, which the validator rejects by length.
    return raw.hex() if raw else None


def spans_from_otlp_protobuf(body: bytes) -> list[dict[str, Any]]:
    """Decode an OTLP/HTTP protobuf ExportTraceServiceRequest into raw Zipkin span dicts.

    This is what the OpenTelemetry SDK's OTLP/HTTP exporter sends (`application/x-protobuf`).
    Raises OtlpDecodeError when the bytes are not that message.
    """
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as error:
        raise OtlpDecodeError(f"malformed OTLP protobuf: {error}") from error
    out: list[dict[str, Any]] = []
    for resource_span in request.resource_spans:
        service = None
        for attribute in resource_span.resource.attributes:
            if attribute.key == "service.name":
                service = _any_value_proto(attribute.value)
        for scope_span in resource_span.scope_spans:
            scope = scope_span.scope
            for span in scope_span.spans:
                out.append(
                    _convert(
                        service if isinstance(service, str) else None,
                        scope.name or None,
                        scope.version or None,
                        _proto_id(span.trace_id),
                        _proto_id(span.span_id),
                        _proto_id(span.parent_span_id),
                        span.name,
                        _KIND_BY_NUMBER.get(span.kind),
                        span.start_time_unix_nano or None,
                        span.end_time_unix_nano or None,
                        {kv.key: _any_value_proto(kv.value) for kv in span.attributes},
                        span.status.code,
                        span.status.message,
                        [
                            (
                                event.time_unix_nano or None,
                                event.name,
                                {kv.key: _any_value_proto(kv.value) for kv in event.attributes},
                            )
                            for event in span.events
                        ],
                    )
                )
    return out


def export_response_protobuf(rejected: int = 0, message: str = "") -> bytes:
    """An ExportTraceServiceResponse (with partial_success when spans were rejected)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return response.SerializeToString()
