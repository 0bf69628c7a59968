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


class TooManySpans(ValueError):
    """The request holds more spans than the caller's limit (counted before converting them)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} spans in one request")
        self.limit = limit


def _any_value_json(value: Any) -> Any:
    """An OTLP/JSON AnyValue -> a Python value (None for anything that is not an AnyValue)."""
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
        return [_any_value_json(item) for item in _list(_object(value["arrayValue"]).get("values"))]
    if "kvlistValue" in value:
        return _attributes(_object(value["kvlistValue"]).get("values"))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _object(value: Any) -> dict[str, Any]:
    """A JSON object field of the request; absent or null is an empty one, anything else malformed."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OtlpDecodeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _list(value: Any) -> list[Any]:
    """A JSON array field of the request; absent or null is empty, anything else malformed."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpDecodeError(f"expected a JSON list, got {type(value).__name__}")
    return value


def _attributes(value: Any) -> dict[str, Any]:
    """A KeyValue list -> {key: value}; entries without a string key are skipped."""
    return {
        kv["key"]: _any_value_json(kv.get("value"))
        for kv in _list(value)
        if isinstance(kv, dict) and isinstance(kv.get("key"), str)
    }


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


def spans_from_otlp_json(body: bytes, max_spans: int | None = None) -> list[dict[str, Any]]:
    """Decode an OTLP/HTTP JSON ExportTraceServiceRequest into raw Zipkin span dicts.

    Raises OtlpDecodeError when the body is not JSON or not shaped like the request message (the
    message names the part), and TooManySpans as soon as more than `max_spans` spans are seen.
    """
    try:
        request = loads(body)
    except ValueError as error:
        raise OtlpDecodeError(f"malformed JSON: {error}") from error
    if not isinstance(request, dict):
        raise OtlpDecodeError("expected a JSON object with 'resourceSpans'")
    out: list[dict[str, Any]] = []
    for r, resource_span in enumerate(_field_list(request, "resourceSpans", "")):
        where = f"resourceSpans[{r}]"
        if not isinstance(resource_span, dict):
            raise OtlpDecodeError(f"{where} must be an object")
        resource = _field_object(resource_span, "resource", where)
        service = _field_attributes(resource, f"{where}.resource").get("service.name")
        # 'instrumentationLibrarySpans' is the pre-1.0 name of 'scopeSpans'; old senders still use it.
        scopes_key = "scopeSpans" if "scopeSpans" in resource_span else "instrumentationLibrarySpans"
        for s_index, scope_span in enumerate(_field_list(resource_span, scopes_key, where)):
            scope_where = f"{where}.{scopes_key}[{s_index}]"
            if not isinstance(scope_span, dict):
                raise OtlpDecodeError(f"{scope_where} must be an object")
            scope_key = "scope" if "scope" in scope_span else "instrumentationLibrary"
            scope = _field_object(scope_span, scope_key, scope_where)
            spans = _field_list(scope_span, "spans", scope_where)
            if max_spans is not None and len(out) + len(spans) > max_spans:
                raise TooManySpans(max_spans)
            for index, span in enumerate(spans):
                if not isinstance(span, dict):
                    out.append(span)  # the validator reports "(span) must be a JSON object"
                    continue
                out.append(_json_span(span, f"{scope_where}.spans[{index}]", service, scope))
    return out


def _field_object(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    try:
        return _object(parent.get(key))
    except OtlpDecodeError as error:
        raise OtlpDecodeError(f"{where + '.' if where else ''}{key}: {error}") from None


def _field_list(parent: dict[str, Any], key: str, where: str) -> list[Any]:
    try:
        return _list(parent.get(key))
    except OtlpDecodeError as error:
        raise OtlpDecodeError(f"{where + '.' if where else ''}{key}: {error}") from None


def _field_attributes(parent: dict[str, Any], where: str) -> dict[str, Any]:
    try:
        return _attributes(parent.get("attributes"))
    except OtlpDecodeError as error:
        raise OtlpDecodeError(f"{where}.attributes: {error}") from None


def _json_span(span: dict[str, Any], where: str, service: Any, scope: dict[str, Any]) -> dict[str, Any]:
    """One OTLP/JSON Span -> a raw Zipkin span dict (OtlpDecodeError naming `where` if malformed)."""
    kind_value = span.get("kind")
    kind = (
        _KIND_BY_NUMBER.get(kind_value)
        if isinstance(kind_value, int)
        else _KIND_BY_NAME.get(kind_value)
        if isinstance(kind_value, str)
        else None
    )
    status = _field_object(span, "status", where)
    code = status.get("code", 0)
    if isinstance(code, str):
        code = _STATUS_BY_NAME.get(code, 0)
    events = []
    for e_index, event in enumerate(_field_list(span, "events", where)):
        if not isinstance(event, dict):
            raise OtlpDecodeError(f"{where}.events[{e_index}] must be an object")
        name = event.get("name", "")
        events.append(
            (
                _nanos(event.get("timeUnixNano")),
                name if isinstance(name, str) else "",
                _field_attributes(event, f"{where}.events[{e_index}]"),
            )
        )
    scope_name, scope_version = scope.get("name"), scope.get("version")
    message = status.get("message")
    return _convert(
        service if isinstance(service, str) else None,
        scope_name if isinstance(scope_name, str) and scope_name else None,
        scope_version if isinstance(scope_version, str) and scope_version else None,
        _json_id(span.get("traceId")),
        _json_id(span.get("spanId")),
        _json_id(span.get("parentSpanId")),
        span.get("name"),
        kind,
        _nanos(span.get("startTimeUnixNano")),
        _nanos(span.get("endTimeUnixNano")),
        _field_attributes(span, where),
        code if isinstance(code, int) and not isinstance(code, bool) else 0,
        message if isinstance(message, str) else "",
        events,
    )


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


def spans_from_otlp_protobuf(body: bytes, max_spans: int | None = None) -> list[dict[str, Any]]:
    """Decode an OTLP/HTTP protobuf ExportTraceServiceRequest into raw Zipkin span dicts.

    This is what the OpenTelemetry SDK's OTLP/HTTP exporter sends (`application/x-protobuf`).
    Raises OtlpDecodeError when the bytes are not that message, TooManySpans when it holds more
    than `max_spans` spans (counted before any is converted).
    """
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as error:
        raise OtlpDecodeError(f"malformed OTLP protobuf: {error}") from error
    if max_spans is not None:
        count = sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
        if count > max_spans:
            raise TooManySpans(max_spans)
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
