"""Jaeger JSON (the query API's `/api/traces/{id}` trace object) -> the source-neutral `Trace`.

No Django, no I/O. A Jaeger trace is `{"traceID", "spans": [...], "processes": {"p1":
{"serviceName", "tags"}}, "warnings"}`; a span `{"traceID", "spanID", "operationName",
"references": [{"refType": "CHILD_OF"|"FOLLOWS_FROM", "spanID"}], "startTime" (µs), "duration" (µs),
"tags": [{"key", "type", "value"}], "logs": [{"timestamp", "fields": [...]}], "processID"}`.
The first reference is the parent; a FOLLOWS_FROM parent does not wait for its child. The span
kind comes from the `span.kind` tag; a log becomes an annotation (its `event`/`message` field, else
its fields as `key=value`). Jaeger already adjusted clock skew, so no correction is made here.
"""

from __future__ import annotations

from typing import Any

from dashboard.traces.model import Annotation, Span, Trace, link

KINDS = {"client": "CLIENT", "server": "SERVER", "producer": "PRODUCER", "consumer": "CONSUMER"}
UNKNOWN_SERVICE = "unknown"


def text(value: Any) -> str:
    """A tag value as text (booleans as Zipkin writes them: "true"/"false")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def log_event(log: dict[str, Any]) -> tuple[int, str]:
    """(timestamp µs, text) of a Jaeger log: its `event` or `message` field, else all as k=v."""
    fields = {str(f.get("key")): text(f.get("value")) for f in log.get("fields") or ()}
    value = fields.get("event") or fields.get("message") or " ".join(f"{k}={v}" for k, v in fields.items())
    return int(log.get("timestamp") or 0), value


def _annotation(log: dict[str, Any]) -> Annotation:
    return Annotation(*log_event(log))


def to_trace(document: dict[str, Any]) -> Trace:
    """Convert one Jaeger trace object; ValueError when it has no span."""
    raw_spans = document.get("spans") or []
    if not raw_spans:
        raise ValueError("a trace needs at least one span")
    processes = document.get("processes") or {}
    spans: list[Span] = []
    for raw in raw_spans:
        tags = {str(t.get("key")): text(t.get("value")) for t in raw.get("tags") or ()}
        kind = KINDS.get(tags.get("span.kind", "").lower())
        references = raw.get("references") or []
        parent = references[0] if references else None
        process = processes.get(raw.get("processID")) or raw.get("process") or {}
        service = process.get("serviceName") or UNKNOWN_SERVICE
        spans.append(
            Span(
                span_id=raw["spanID"],
                raw_id=raw["spanID"],
                parent_id=parent.get("spanID") if parent else None,
                service=service,
                name=raw.get("operationName") or "",
                kind=kind,
                start_us=int(raw.get("startTime") or 0),
                duration_us=int(raw.get("duration") or 0),
                tags=tags,
                annotations=sorted(
                    (_annotation(log) for log in raw.get("logs") or ()), key=lambda a: a.timestamp_us
                ),
                local_endpoint={"serviceName": service},
                follows_from=bool(parent and parent.get("refType") == "FOLLOWS_FROM"),
            )
        )
    warnings = [str(w) for w in document.get("warnings") or ()]
    return link(str(document.get("traceID") or raw_spans[0].get("traceID")), spans, warnings)


def to_zipkin_spans(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The spans of one Jaeger trace object as Zipkin v2 spans (what trace sources return; see
    `dashboard.traces.otlp` for the shape). FOLLOWS_FROM becomes a plain parent: Zipkin has no other."""
    processes = document.get("processes") or {}
    spans = []
    for raw in document.get("spans") or ():
        tags = {str(t.get("key")): text(t.get("value")) for t in raw.get("tags") or ()}
        process = processes.get(raw.get("processID")) or raw.get("process") or {}
        references = raw.get("references") or []
        span: dict[str, Any] = {
            "traceId": str(raw.get("traceID") or document.get("traceID") or "").lower(),
            "id": str(raw["spanID"]).lower(),
            "name": raw.get("operationName") or "",
            "timestamp": int(raw.get("startTime") or 0),
            "duration": int(raw.get("duration") or 0),
            "localEndpoint": {"serviceName": process.get("serviceName") or UNKNOWN_SERVICE},
            "tags": tags,
            "annotations": sorted(
                ({"timestamp": t, "value": v} for t, v in map(log_event, raw.get("logs") or ())),
                key=lambda a: a["timestamp"],
            ),
        }
        if references:
            span["parentId"] = str(references[0].get("spanID")).lower()
        kind = KINDS.get(tags.pop("span.kind", "").lower())  # Zipkin says it in `kind`
        if kind:
            span["kind"] = kind
        spans.append(span)
    return spans
