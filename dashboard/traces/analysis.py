"""What a trace page shows besides the spans: clock skew, self time, critical path, stats, call graph.

Pure functions over `dashboard.traces.model.Trace` (no Django, no I/O); all iterative, so a
50,000-span chain does not reach Python's recursion limit. Times are integer microseconds.

Rules, stated once:
- Clock skew (Zipkin's rule, limited to RPC pairs): a SERVER span under a CLIENT span of another
  service that starts before the client or ends after it is assumed to run on a skewed clock; its
  whole subtree is shifted so that it sits centred in the client span (network time split evenly).
  Asynchronous children (PRODUCER -> CONSUMER) legitimately outlive their parent and are not moved.
- Self time of a span: its duration minus the time at least one child (clipped to the span) runs.
- Critical path (Jaeger's algorithm): children that start after their parent ends are dropped,
  children that overrun are cut at the parent's end, and non-blocking children (a CONSUMER, a
  FOLLOWS_FROM reference, or any child of a PRODUCER) are ignored. From the end of a span, walk back in time: the last-finishing
  child before the cut-off is on the path (entered at its end), the parent's own time after that
  child is on the path, then the cut-off moves to that child's start.
"""

from __future__ import annotations

from operator import itemgetter
from typing import NamedTuple

from dashboard.traces.model import CLIENT, CONSUMER, PRODUCER, SERVER, Span, Trace, link


def adjust_clock_skew(trace: Trace) -> Trace:
    """Correct skewed RPC children (see module rules); returns the trace re-linked in display order.

    Each corrected span records its shift in `skew_us` (cumulative down the subtree), its
    annotations move with it, and one warning per shifted subtree says which span and by how much.
    """
    spans = trace.spans
    shifts = [0] * len(spans)
    moved: list[str] = []
    for span in spans:  # display order: parents are corrected before their children
        if span.parent_index is None:
            continue
        parent = spans[span.parent_index]
        inherited = shifts[span.parent_index]
        shift = inherited
        if (
            span.kind == SERVER
            and parent.kind == CLIENT
            and span.service != parent.service
            and parent.duration_us > 0
        ):
            start = span.start_us + inherited
            if start < parent.start_us or start + span.duration_us > parent.start_us + parent.duration_us:
                latency = max(0, (parent.duration_us - span.duration_us) // 2)
                own = parent.start_us + latency - start
                if own:
                    shift += own
                    moved.append(
                        f"clock skew: {span.service} span {span.name!r} ({span.span_id}) and its children "
                        f"shifted by {own} µs to sit inside their {parent.service} client span"
                    )
        shifts[span.index] = shift
    if not any(shifts):
        return trace
    for span, shift in zip(spans, shifts, strict=True):
        if shift:
            span.start_us += shift
            span.skew_us += shift
            for annotation in span.annotations:
                annotation.timestamp_us += shift
    return link(trace.trace_id, spans, [*trace.warnings, *moved])


def self_times(trace: Trace) -> list[int]:
    """Self time of every span (µs), indexed like `trace.spans`."""
    spans = trace.spans
    starts = [span.start_us for span in spans]
    ends = [span.start_us + span.duration_us for span in spans]
    result = [0] * len(spans)
    for span in spans:
        children = span.children
        if not children:
            result[span.index] = span.duration_us
            continue
        end = ends[span.index]
        cursor = starts[span.index]
        covered = 0
        # Children are sorted by start, which is all a sweep over their union needs.
        for child in children:
            c_start = starts[child]
            c_end = ends[child]
            if c_start < cursor:
                c_start = cursor
            if c_end > end:
                c_end = end
            if c_end > c_start:
                covered += c_end - c_start
                cursor = c_end
        result[span.index] = max(0, span.duration_us - covered)
    return result


class Section(NamedTuple):
    """A stretch [start_us, end_us) of the critical path spent in span `index` itself."""

    index: int
    start_us: int
    end_us: int


_BY_TIME = itemgetter(1, 2)  # Section (start_us, end_us), in C rather than a lambda per section


def _blocking_intervals(trace: Trace) -> tuple[list[int], list[int], list[bool]]:
    """Each span's interval clipped to its parent's (starts, ends), and whether it can block its
    parent at all (False: starts after the parent ends, non-blocking kind, or under such a span)."""
    spans = trace.spans
    count = len(spans)
    starts = [0] * count
    ends = [0] * count
    blocking = [False] * count
    for span in spans:  # parents first
        index = span.index
        parent_index = span.parent_index
        if parent_index is None:
            starts[index], ends[index], blocking[index] = (
                span.start_us,
                span.start_us + span.duration_us,
                True,
            )
            continue
        if (
            not blocking[parent_index]
            or span.kind == CONSUMER
            or span.follows_from
            or spans[parent_index].kind == PRODUCER
        ):
            continue
        low, high = starts[parent_index], ends[parent_index]
        start = span.start_us
        end = start + span.duration_us
        if start > high:
            continue
        start = low if start < low else start
        end = high if end > high else end
        if end < start:
            continue
        starts[index], ends[index], blocking[index] = start, end, True
    return starts, ends, blocking


def critical_path(trace: Trace) -> list[Section]:
    """The critical path of every root, as sections in time order (see module rules).

    O(n log n): each span's blocking children are scanned once, latest end first, because the
    cut-off only moves back in time while the walk stays inside one span.
    """
    spans = trace.spans
    starts, ends, blocking = _blocking_intervals(trace)
    count = len(spans)
    by_end: list[list[int] | None] = [None] * count
    cursor = [0] * count
    sections: list[Section] = []
    add = sections.append
    new_section = tuple.__new__  # Section(...) without its Python-level __new__: ~100k per 50k spans
    leaf: list[int] = []  # shared by every span without blocking children; never modified
    for root_index in sorted(trace.roots, key=lambda i: spans[i].start_us):
        current = root_index
        limit = ends[root_index]
        while True:
            ordered = by_end[current]
            if ordered is None:
                children = spans[current].children
                ordered = by_end[current] = (
                    sorted([c for c in children if blocking[c]], key=ends.__getitem__, reverse=True)
                    if children
                    else leaf
                )
            if ordered:
                position = cursor[current]
                size = len(ordered)
                while position < size and ends[ordered[position]] > limit:
                    position += 1
                if position < size:
                    child = ordered[position]
                    cursor[current] = position + 1
                    child_end = ends[child]
                    if child_end < limit:
                        add(new_section(Section, (current, child_end, limit)))
                    current, limit = child, child_end
                    continue
                cursor[current] = position
            own_start = starts[current]
            if own_start < limit or not sections or sections[-1][0] != current:
                add(new_section(Section, (current, own_start, limit)))
            if current == root_index:
                break
            limit = own_start
            current = spans[current].parent_index  # type: ignore[assignment]
    sections.sort(key=_BY_TIME)
    return sections


def critical_path_ids(trace: Trace, sections: list[Section]) -> list[str]:
    """Span ids on the path in order of their first section."""
    spans = trace.spans
    return list(dict.fromkeys([spans[index].span_id for index, _, _ in sections]))


def stats_table(trace: Trace, self_us: list[int], duration_us: int | None = None) -> list[dict[str, object]]:
    """Per service and operation: count, total and self time (µs), self time as % of the trace.

    Sorted by self time, largest first. `percent` has two decimals. `duration_us` is the trace's
    (computed when not given: the caller often has it already).
    """
    duration = trace.duration_us if duration_us is None else duration_us
    rows: dict[tuple[str, str], list[int]] = {}
    for span, own in zip(trace.spans, self_us, strict=True):
        key = (span.service, span.name)
        row = rows.get(key)
        if row is None:
            rows[key] = [1, span.duration_us, own]
        else:
            row[0] += 1
            row[1] += span.duration_us
            row[2] += own
    table = [
        {
            "service": service,
            "operation": operation,
            "count": count,
            "total_us": total,
            "self_us": own,
            "percent": round(own * 100 / duration, 2) if duration else 0.0,
        }
        for (service, operation), (count, total, own) in rows.items()
    ]
    table.sort(key=lambda r: (-r["self_us"], r["service"], r["operation"]))  # type: ignore[operator]
    return table


def call_graph(trace: Trace, services: list[str] | None = None) -> dict[str, list[dict[str, object]]]:
    """Services as nodes; an edge per (caller service, callee service) with the number of calls.

    A call is a parent -> child step that changes service (the client half of an Envoy hop and
    the server half it reaches); steps inside one service add no edge. `services` is
    `trace.services()` when the caller has it already.
    """
    nodes = [{"id": name, "service": name} for name in (trace.services() if services is None else services)]
    counts: dict[tuple[str, str], int] = {}
    spans = trace.spans
    for span in spans:
        parent_index = span.parent_index
        if parent_index is None:
            continue
        caller = spans[parent_index].service
        callee = span.service
        if caller != callee:
            key = (caller, callee)
            counts[key] = counts.get(key, 0) + 1
    edges = [{"source": a, "target": b, "count": n} for (a, b), n in counts.items()]
    return {"nodes": nodes, "edges": edges}


def errored(spans: list[Span]) -> int:
    """How many spans are marked as errors."""
    return sum(1 for span in spans if span.error)
