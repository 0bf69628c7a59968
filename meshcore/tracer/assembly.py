"""Trace assembly: merge span pieces, build the span tree, correct clock skew, summarize.

Pure functions over normalized Zipkin span dicts; thread-safe; nothing here touches storage.

Merge rules (Zipkin's `zipkin2.internal.Trace.merge`):
- Pieces with the same span id are one span when they are the same half: same `shared` flag and
  the same (or a missing) localEndpoint. Their fields merge: the first non-empty value wins for
  scalars, tags and annotations are united, `timestamp` is the earliest, `duration` the longest.
- A client half and the `shared` server half that Envoy reports for the same id stay two spans
  (Zipkin's v2 model), and the server half inherits the client's parentId when it has none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from meshcore.tracer.model import ZipkinSpan, local_service, same_host


def _merge_into(target: dict[str, Any], piece: dict[str, Any]) -> None:
    for key, value in piece.items():
        if key == "tags":
            target["tags"] = {**value, **target.get("tags", {})}
        elif key == "annotations":
            seen = {(a["timestamp"], a["value"]) for a in target.get("annotations", [])}
            merged = list(target.get("annotations", []))
            merged.extend(a for a in value if (a["timestamp"], a["value"]) not in seen)
            merged.sort(key=lambda a: (a["timestamp"], a["value"]))
            target["annotations"] = merged
        elif key == "timestamp":
            current = target.get("timestamp")
            target["timestamp"] = value if current is None else min(current, value)
        elif key == "duration":
            target["duration"] = max(target.get("duration", 0), value)
        elif key in ("localEndpoint", "remoteEndpoint"):
            target[key] = {**value, **target.get(key, {})}
        elif key not in target:
            target[key] = value


def merge_spans(spans: Iterable[ZipkinSpan]) -> list[ZipkinSpan]:
    """Merge pieces of the same span (see module rules); returns spans sorted by timestamp.

    Input spans are not modified. A piece without localEndpoint merges with the piece of the same
    id and `shared` flag that has one (Zipkin does the same for late "finish" pieces).
    """
    spans = list(spans)
    keys = {(span["traceId"], span["id"], bool(span.get("shared"))) for span in spans}
    if len(keys) == len(spans):
        # Nothing arrived in pieces (the common case): copies are all the merge would make.
        return _finish([dict(span) for span in spans])  # type: ignore[misc]
    by_key: dict[tuple[str, str, bool], list[dict[str, Any]]] = {}
    order: list[dict[str, Any]] = []
    for span in spans:
        key = (span["traceId"], span["id"], bool(span.get("shared")))
        service = local_service(span)
        candidates = by_key.setdefault(key, [])
        for existing in candidates:
            existing_service = local_service(existing)
            if service is None or existing_service is None or existing_service == service:
                _merge_into(existing, dict(span))
                break
        else:
            copy = dict(span)
            candidates.append(copy)
            order.append(copy)
    return _finish(order)


def _finish(order: list[dict[str, Any]]) -> list[ZipkinSpan]:
    """Give server halves their client's parentId and sort by timestamp (client half first)."""
    # Shared server halves often lack the parentId their client half carries.
    clients = {s["id"]: s for s in order if not s.get("shared") and s.get("kind") == "CLIENT"}
    for span in order:
        if span.get("shared") and "parentId" not in span:
            client = clients.get(span["id"])
            if client is not None and "parentId" in client:
                span["parentId"] = client["parentId"]
    order.sort(key=lambda s: (s.get("timestamp", 0), 0 if not s.get("shared") else 1))
    return order  # type: ignore[return-value]


@dataclass
class SpanNode:
    """A span in the tree; `children` sorted by timestamp. `skew` is the correction in µs applied."""

    span: ZipkinSpan
    children: list[SpanNode] = field(default_factory=list)
    skew: int = 0


def tree_indices(spans: list[ZipkinSpan]) -> tuple[list[int], list[list[int] | None], bool]:
    """The tree of merged spans as indices into `spans`: (roots, children of each span, whole).

    `children[i]` is None for a leaf, else the indices of span i's children sorted by timestamp
    (ties keep the order of `spans`); roots keep the order of `spans`. The rules are `build_tree`'s.
    `whole` is False when some span id appears twice in the same half: the spans were not merged
    (`merge_spans`) and the tree is not to be used. Indices rather than nodes: a 50,000-span trace
    is converted without an object per span.
    """
    count = len(spans)
    server_half: dict[str, int] = {}
    plain: dict[str, int] = {}
    for index, span in enumerate(spans):
        if span.get("shared"):
            server_half.setdefault(span["id"], index)
        else:
            plain.setdefault(span["id"], index)
    children: list[list[int] | None] = [None] * count
    roots: list[int] = []
    for index, span in enumerate(spans):
        parent: int | None = None
        if span.get("shared") and span["id"] in plain:
            parent = plain[span["id"]]  # never this span: `plain` holds no server half
        elif "parentId" in span:
            parent_id = span["parentId"]
            parent = server_half.get(parent_id)
            if parent is None:
                parent = plain.get(parent_id)
        if parent is None or parent == index:
            roots.append(index)
        else:
            kids = children[parent]
            if kids is None:
                children[parent] = [index]
            else:
                kids.append(index)
    timestamps = [span.get("timestamp", 0) for span in spans]
    for kids in children:
        if kids is not None and len(kids) > 1:
            kids.sort(key=timestamps.__getitem__)
    return roots, children, len(server_half) + len(plain) == count


def build_tree(spans: list[ZipkinSpan]) -> list[SpanNode]:
    """Arrange merged spans into trees; returns the roots (normally one).

    A shared server half is the child of the client half with the same id; other spans hang under
    their parentId (preferring the parent's server half, which is the one executing in the caller's
    process). Spans whose parent is missing become roots, so nothing is ever hidden.
    """
    nodes = [SpanNode(span) for span in spans]
    roots, children, _ = tree_indices(spans)
    for node, kids in zip(nodes, children, strict=True):
        if kids is not None:
            node.children = [nodes[k] for k in kids]
    return [nodes[r] for r in roots]


def _shift(node: SpanNode, delta: int) -> None:
    stack = [node]
    while stack:
        current = stack.pop()
        current.skew += delta
        stack.extend(current.children)


def correct_clock_skew(roots: list[SpanNode]) -> None:
    """Adjust (in place) `SpanNode.skew` where a child on another host starts before its parent.

    Zipkin's rule: when a span reported by a different service on another host (the local
    endpoints' IPs differ or are unknown) starts before its parent, its clock is assumed skewed.
    Its subtree is shifted so that it is centred inside the parent span: network latency is split
    evenly between request and response. A child that ends after its parent is left where it is:
    the caller gave up (a timeout, a reset) while the callee went on.
    The span dicts themselves are never modified: the corrected start is `adjusted_timestamp(node)`
    = timestamp + skew.
    """
    stack = list(roots)
    while stack:
        node = stack.pop()
        parent_span = node.span
        parent_ts = parent_span.get("timestamp")
        parent_duration = parent_span.get("duration")
        for child in node.children:
            child_span = child.span
            child_ts = child_span.get("timestamp")
            child_duration = child_span.get("duration", 0)
            if (
                parent_ts is not None
                and parent_duration
                and child_ts is not None
                and local_service(child_span) != local_service(parent_span)
                and not same_host(child_span.get("localEndpoint"), parent_span.get("localEndpoint"))
            ):
                start = parent_ts + node.skew
                child_start = child_ts + child.skew
                if child_start < start:
                    latency = max(0, (parent_duration - child_duration) // 2)
                    _shift(child, start + latency - child_start)
            stack.append(child)


def adjusted_timestamp(node: SpanNode) -> int | None:
    """The span's timestamp after clock-skew correction, in µs since epoch."""
    timestamp = node.span.get("timestamp")
    return None if timestamp is None else timestamp + node.skew


@dataclass(frozen=True)
class TraceSummary:
    """What a trace list shows: root service/name, start (µs), duration (µs), size, error flag."""

    trace_id: str
    root_service: str | None
    root_name: str | None
    timestamp: int | None
    duration: int
    span_count: int
    error: bool
    services: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "traceId": self.trace_id,
            "rootService": self.root_service,
            "rootName": self.root_name,
            "timestamp": self.timestamp,
            "duration": self.duration,
            "spanCount": self.span_count,
            "error": self.error,
            "services": list(self.services),
        }


def is_error(span: ZipkinSpan) -> bool:
    """Zipkin's error rule: an `error` tag (any value) marks the span failed."""
    return "error" in span.get("tags", {})


def summarize(spans: list[ZipkinSpan]) -> TraceSummary:
    """Summarize one trace (spans of one trace id, merged or not) after skew correction."""
    merged = merge_spans(spans)
    if not merged:
        raise ValueError("a trace needs at least one span")
    roots = build_tree(merged)
    correct_clock_skew(roots)
    starts: list[int] = []
    ends: list[int] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        start = adjusted_timestamp(node)
        if start is not None:
            starts.append(start)
            ends.append(start + node.span.get("duration", 0))
        stack.extend(node.children)
    # The root is the earliest parentless span; a parentless client half beats its server half.
    root = min(roots, key=lambda n: (n.span.get("timestamp", 2**63), bool(n.span.get("shared")))).span
    return TraceSummary(
        trace_id=merged[0]["traceId"],
        root_service=local_service(root),
        root_name=root.get("name"),
        timestamp=min(starts) if starts else None,
        duration=(max(ends) - min(starts)) if starts else 0,
        span_count=len(merged),
        error=any(is_error(span) for span in merged),
        services=tuple(sorted({s for s in (local_service(span) for span in merged) if s})),
    )
