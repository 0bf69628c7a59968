"""The source-neutral trace model every trace page and API speaks (no Django, no I/O).

A converter per trace format (`dashboard.traces.zipkin` for Zipkin v2, `dashboard.traces.jaeger`
for Jaeger's JSON; the Jaeger source adapter is a later step) turns what a backend returns into a
`Trace`: spans in depth-first display order, each knowing its parent, depth and
clock-skew correction. Analysis (`dashboard.traces.analysis`) works on this model only.

Units: every time is integer microseconds; `start_us` is since the Unix epoch and already includes
the span's clock-skew correction `skew_us` (the raw start is `start_us - skew_us`).
Thread safety: instances are plain data; do not share a `Trace` between threads while mutating it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Span kinds as Zipkin and OpenTelemetry name them; None when the source gave none.
CLIENT = "CLIENT"
SERVER = "SERVER"
PRODUCER = "PRODUCER"
CONSUMER = "CONSUMER"


@dataclass(slots=True)
class Annotation:
    """A timestamped event inside a span (µs since epoch, skew-corrected like its span)."""

    timestamp_us: int
    value: str


@dataclass(slots=True)
class Span:
    """One span. `span_id` is unique within its trace (a shared server half gets its own id).

    `parent_id` is the `span_id` of the span it hangs under in the tree (None for a root);
    `index` is the position in `Trace.spans`; `children` are indices into `Trace.spans`, sorted by
    start. `raw_id` is the id the source used (the client and server halves of one Envoy hop share it).
    """

    span_id: str
    raw_id: str
    parent_id: str | None
    service: str
    name: str
    kind: str | None
    start_us: int
    duration_us: int
    tags: dict[str, str] = field(default_factory=dict)
    annotations: list[Annotation] = field(default_factory=list)
    local_endpoint: dict[str, Any] | None = None
    remote_endpoint: dict[str, Any] | None = None
    shared: bool = False
    # The parent does not wait for this span (Jaeger's FOLLOWS_FROM reference).
    follows_from: bool = False
    skew_us: int = 0
    depth: int = 0
    index: int = 0
    parent_index: int | None = None
    children: list[int] = field(default_factory=list)

    @property
    def end_us(self) -> int:
        return self.start_us + self.duration_us

    @property
    def error(self) -> bool:
        """Zipkin's rule, which Envoy follows: an `error` tag (any value but "false") marks failure."""
        value = self.tags.get("error")
        return value is not None and value.lower() != "false"

    @property
    def status_code(self) -> int | None:
        """The `http.status_code` tag as an int, None when absent or not a number."""
        raw = self.tags.get("http.status_code")
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            return None


@dataclass(slots=True)
class Trace:
    """A trace: spans in depth-first display order (parents before children, siblings by start).

    `roots` are indices of spans without a parent in the trace (normally one; spans whose parent
    never arrived become roots too, so nothing is hidden). `warnings` are human-readable notes
    about adjustments made while building the model (clock skew, missing parents).
    """

    trace_id: str
    spans: list[Span]
    roots: list[int]
    warnings: list[str] = field(default_factory=list)

    @property
    def start_us(self) -> int:
        return min([s.start_us for s in self.spans], default=0)  # a list: faster than a generator

    @property
    def end_us(self) -> int:
        return max([s.start_us + s.duration_us for s in self.spans], default=0)

    @property
    def duration_us(self) -> int:
        return self.end_us - self.start_us if self.spans else 0

    @property
    def root(self) -> Span | None:
        """The main root: the earliest root span (a client half before its server half)."""
        if not self.roots:
            return None
        return self.spans[min(self.roots, key=lambda i: (self.spans[i].start_us, self.spans[i].shared))]

    def services(self) -> list[str]:
        """Service names in order of first appearance in display order."""
        return list(dict.fromkeys([s.service for s in self.spans]))


def link(trace_id: str, spans: list[Span], warnings: list[str] | None = None) -> Trace:
    """Arrange spans (each with a unique `span_id` and its `parent_id`) into a `Trace`.

    Sets `index`, `parent_index`, `children` and `depth`, and orders `spans` depth first (parents
    before children, siblings and roots by start). A span whose parent is not in the trace becomes
    a root (with a warning); so does a span caught in a parent cycle. Iterative: any depth works.
    """
    warnings = list(warnings or [])
    by_id: dict[str, Span] = {}
    for span in spans:
        by_id.setdefault(span.span_id, span)
    kids: dict[str, list[Span]] = {}
    roots: list[Span] = []
    missing: set[str] = set()
    for span in by_id.values():
        parent = by_id.get(span.parent_id) if span.parent_id is not None else None
        if parent is None or parent is span:
            if span.parent_id is not None:
                missing.add(span.parent_id)
            span.parent_id = None
            roots.append(span)
        else:
            kids.setdefault(parent.span_id, []).append(span)
    if missing:
        warnings.append(f"{len(missing)} parent span(s) never arrived; their children are shown as roots")

    def order_key(span: Span) -> tuple[int, bool, str]:
        return (span.start_us, span.shared, span.span_id)

    ordered: list[Span] = []
    visited: set[str] = set()

    def walk(start: Span) -> None:
        stack: list[tuple[Span, int, int | None]] = [(start, 0, None)]
        while stack:
            span, depth, parent_index = stack.pop()
            if span.span_id in visited:
                continue
            visited.add(span.span_id)
            span.depth = depth
            span.index = len(ordered)
            span.parent_index = parent_index
            span.children = []
            if parent_index is not None:
                ordered[parent_index].children.append(span.index)
            ordered.append(span)
            children = sorted(kids.get(span.span_id, ()), key=order_key)
            stack.extend((child, depth + 1, span.index) for child in reversed(children))

    for root in sorted(roots, key=order_key):
        walk(root)
    # Spans left over sit in a parent cycle (a -> b -> a): show them as roots rather than drop them.
    cyclic = sorted((s for s in by_id.values() if s.span_id not in visited), key=order_key)
    if cyclic:
        warnings.append(f"{len(cyclic)} span(s) form a parent cycle; shown as roots")
    for span in cyclic:
        if span.span_id not in visited:
            span.parent_id = None
            walk(span)
    root_indices = [s.index for s in ordered if s.parent_index is None]
    return Trace(trace_id=trace_id, spans=ordered, roots=root_indices, warnings=warnings)
