"""Zipkin v2 JSON -> the source-neutral `Trace` (no Django, no I/O).

Span pieces are merged and arranged with the tracer's own rules (`meshcore.tracer.assembly`:
Zipkin's merge of shared spans, the tree); then the clock-skew rule of `dashboard.traces.analysis`
applies. The client half and the `shared` server half that Envoy reports for one hop keep their
source id in `raw_id`; the server half's `span_id` is `<id>-server` so that every span id is unique.
Zipkin units are already the model's: microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dashboard.traces.analysis import adjust_clock_skew
from dashboard.traces.model import Annotation, Span, Trace, link
from meshcore.tracer.assembly import build_tree, merge_spans

SERVER_HALF_SUFFIX = "-server"
UNKNOWN_SERVICE = "unknown"


def _span_id(span: dict[str, Any]) -> str:
    return span["id"] + SERVER_HALF_SUFFIX if span.get("shared") else span["id"]


def to_trace(zipkin_spans: Iterable[dict[str, Any]]) -> Trace:
    """Convert the spans of one trace (as /api/v2/trace/{id} returns them) into a `Trace`.

    Raises ValueError when there is no span. Spans without a timestamp take their parent's start
    (or the trace's earliest), with a warning, so that they still show.
    """
    merged = merge_spans(zipkin_spans)
    if not merged:
        raise ValueError("a trace needs at least one span")
    roots = build_tree(merged)
    earliest = min((s["timestamp"] for s in merged if s.get("timestamp")), default=0)
    warnings: list[str] = []
    untimed = 0
    converted: list[Span] = []
    stack: list[tuple[Any, Span | None]] = [(node, None) for node in reversed(roots)]
    while stack:
        node, parent = stack.pop()
        raw = node.span
        timestamp = raw.get("timestamp")
        if not timestamp:
            untimed += 1
            timestamp = parent.start_us if parent is not None else earliest
        local = raw.get("localEndpoint")
        span = Span(
            span_id=_span_id(raw),
            raw_id=raw["id"],
            parent_id=parent.span_id if parent is not None else None,
            service=(local or {}).get("serviceName") or UNKNOWN_SERVICE,
            name=raw.get("name") or "",
            kind=raw.get("kind"),
            start_us=int(timestamp),
            duration_us=int(raw.get("duration") or 0),
            tags=dict(raw.get("tags") or {}),
            annotations=[Annotation(int(a["timestamp"]), a["value"]) for a in raw.get("annotations") or ()],
            local_endpoint=dict(local) if local else None,
            remote_endpoint=dict(raw["remoteEndpoint"]) if raw.get("remoteEndpoint") else None,
            shared=bool(raw.get("shared")),
        )
        # A span the tree left as a root but whose parent id is known stays linked by that id.
        if parent is None and raw.get("parentId"):
            span.parent_id = raw["parentId"]
        converted.append(span)
        stack.extend((child, span) for child in reversed(node.children))
    if untimed:
        warnings.append(f"{untimed} span(s) without a timestamp placed at their parent's start")
    return adjust_clock_skew(link(merged[0]["traceId"], converted, warnings))
