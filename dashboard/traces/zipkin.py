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
from dashboard.traces.model import Annotation, Span, Trace
from meshcore.tracer.assembly import build_tree, merge_spans

SERVER_HALF_SUFFIX = "-server"
UNKNOWN_SERVICE = "unknown"


def _span_id(span: dict[str, Any]) -> str:
    return span["id"] + SERVER_HALF_SUFFIX if span.get("shared") else span["id"]


def _needs_merge(spans: list[dict[str, Any]]) -> bool:
    """Whether any span id arrives in more than one piece of the same half (the tracer's answers
    are merged already; other Zipkin servers may return pieces)."""
    return len({(span["id"], span.get("shared", False)) for span in spans}) != len(spans)


def to_trace(zipkin_spans: Iterable[dict[str, Any]]) -> Trace:
    """Convert the spans of one trace (as /api/v2/trace/{id} returns them) into a `Trace`.

    Raises ValueError when there is no span. Spans without a timestamp take their parent's start
    (or the trace's earliest), with a warning, so that they still show. The input is not modified.
    """
    spans = list(zipkin_spans)
    if not spans:
        raise ValueError("a trace needs at least one span")
    if _needs_merge(spans):
        spans = merge_spans(spans)  # build_tree only reads the spans, merged or not
    roots = build_tree(spans)
    earliest = min((s["timestamp"] for s in spans if s.get("timestamp")), default=0)
    warnings: list[str] = []
    missing_parents: set[str] = set()
    untimed = 0
    ordered: list[Span] = []
    # Depth first over the tree build_tree made (children already sorted by timestamp); each
    # entry is (node, parent index, depth). Roots sorted like children: by start.
    roots.sort(key=lambda n: (n.span.get("timestamp", 0), bool(n.span.get("shared"))))
    stack: list[tuple[Any, int | None, int]] = [(node, None, 0) for node in reversed(roots)]
    while stack:
        node, parent_index, depth = stack.pop()
        raw = node.span
        parent = ordered[parent_index] if parent_index is not None else None
        timestamp = raw.get("timestamp")
        if not timestamp:
            untimed += 1
            timestamp = parent.start_us if parent is not None else earliest
        local = raw.get("localEndpoint")
        remote = raw.get("remoteEndpoint")
        index = len(ordered)
        span = Span(
            span_id=_span_id(raw),
            raw_id=raw["id"],
            parent_id=parent.span_id if parent is not None else None,
            service=(local.get("serviceName") if local else None) or UNKNOWN_SERVICE,
            name=raw.get("name") or "",
            kind=raw.get("kind"),
            start_us=int(timestamp),
            duration_us=int(raw.get("duration") or 0),
            tags=raw.get("tags") or {},
            annotations=[Annotation(int(a["timestamp"]), a["value"]) for a in raw.get("annotations") or ()],
            local_endpoint=local or None,
            remote_endpoint=remote or None,
            shared=bool(raw.get("shared")),
            depth=depth,
            index=index,
            parent_index=parent_index,
        )
        if parent is not None:
            parent.children.append(index)
        elif raw.get("parentId"):
            missing_parents.add(raw["parentId"])
        ordered.append(span)
        children = node.children
        for k in range(len(children) - 1, -1, -1):
            stack.append((children[k], index, depth + 1))
    if missing_parents:
        warnings.append(
            f"{len(missing_parents)} parent span(s) never arrived; their children are shown as roots"
        )
    if untimed:
        warnings.append(f"{untimed} span(s) without a timestamp placed at their parent's start")
    trace_id = spans[0]["traceId"]
    root_indices = [s.index for s in ordered if s.parent_index is None]
    return adjust_clock_skew(Trace(trace_id, ordered, root_indices, warnings))
