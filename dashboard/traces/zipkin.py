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
from meshcore.tracer.assembly import merge_spans, tree_indices

SERVER_HALF_SUFFIX = "-server"
UNKNOWN_SERVICE = "unknown"


def to_trace(zipkin_spans: Iterable[dict[str, Any]]) -> Trace:
    """Convert the spans of one trace (as /api/v2/trace/{id} returns them) into a `Trace`.

    Raises ValueError when there is no span. Spans without a timestamp take their parent's start
    (or the trace's earliest), with a warning, so that they still show. The input is not modified.
    """
    spans = list(zipkin_spans)
    if not spans:
        raise ValueError("a trace needs at least one span")
    roots, children, whole = tree_indices(spans)
    if not whole:
        # Some span id arrived in more than one piece of the same half (the tracer's answers are
        # merged already; other Zipkin servers may return pieces).
        spans = merge_spans(spans)
        roots, children, _ = tree_indices(spans)
    earliest: int | None = None  # the trace's earliest timestamp, for untimed roots only
    warnings: list[str] = []
    missing_parents: set[str] = set()
    untimed = 0
    ordered: list[Span] = []
    # Depth first over the tree (children already sorted by timestamp); each stack entry is
    # (index into `spans`, parent's index into `ordered`, depth). Roots sorted like children: by start.
    roots.sort(key=lambda i: (spans[i].get("timestamp", 0), bool(spans[i].get("shared"))))
    stack: list[tuple[int, int | None, int]] = [(root, None, 0) for root in reversed(roots)]
    pop, push = stack.pop, stack.append
    while stack:
        position, parent_index, depth = pop()
        raw = spans[position]
        get = raw.get
        parent = ordered[parent_index] if parent_index is not None else None
        timestamp = get("timestamp")
        if not timestamp:
            untimed += 1
            if parent is not None:
                timestamp = parent.start_us
            else:
                if earliest is None:
                    earliest = min((s["timestamp"] for s in spans if s.get("timestamp")), default=0)
                timestamp = earliest
        local = get("localEndpoint")
        annotations = get("annotations")
        shared = bool(get("shared"))
        raw_id = raw["id"]
        index = len(ordered)
        # Positional, in the field order of Span: a keyword call costs more at 50,000 spans.
        span = Span(
            raw_id + SERVER_HALF_SUFFIX if shared else raw_id,  # span_id
            raw_id,
            parent.span_id if parent is not None else None,  # parent_id
            (local.get("serviceName") if local else None) or UNKNOWN_SERVICE,  # service
            get("name") or "",
            get("kind"),
            int(timestamp),  # start_us
            int(get("duration") or 0),  # duration_us
            get("tags") or {},
            [Annotation(int(a["timestamp"]), a["value"]) for a in annotations] if annotations else [],
            local or None,  # local_endpoint
            get("remoteEndpoint") or None,
            shared,
            False,  # follows_from: Zipkin has no such reference
            0,  # skew_us
            depth,
            index,
            parent_index,
            [],  # children
        )
        if parent is not None:
            parent.children.append(index)
        elif get("parentId"):
            missing_parents.add(raw["parentId"])
        ordered.append(span)
        kids = children[position]
        if kids is not None:
            for k in range(len(kids) - 1, -1, -1):
                push((kids[k], index, depth + 1))
    if missing_parents:
        warnings.append(
            f"{len(missing_parents)} parent span(s) never arrived; their children are shown as roots"
        )
    if untimed:
        warnings.append(f"{untimed} span(s) without a timestamp placed at their parent's start")
    trace_id = spans[0]["traceId"]
    root_indices = [s.index for s in ordered if s.parent_index is None]
    return adjust_clock_skew(Trace(trace_id, ordered, root_indices, warnings))
