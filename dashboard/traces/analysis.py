"""What a trace page shows besides the spans: clock skew, self time, critical path, stats, call graph.

Pure functions over `dashboard.traces.model.Trace` (no Django, no I/O); all iterative, so a
50,000-span chain does not reach Python's recursion limit. Times are integer microseconds.

Rules, stated once:
- Clock skew (Zipkin's rule): a SERVER span under a CLIENT span of another service, on another
  host, that starts before the client is assumed to run on a skewed clock; its whole subtree is
  shifted so that it sits centred in the client span (network time split evenly), or starts with
  it when the server ran longer. Two spans whose local endpoints give the same IP share a clock and
  are never moved. A server that ends after its client is not skew either: the client gave up (a
  timeout, a reset) while the server went on, which is what the waterfall must show. Asynchronous
  children (PRODUCER -> CONSUMER) legitimately outlive their parent and are not moved.
- Self time of a span: its duration minus the time at least one child (clipped to the span) runs.
- Critical path (Jaeger's algorithm): children that start after their parent ends are dropped,
  children that overrun are cut at the parent's end, and non-blocking children (a CONSUMER, a
  FOLLOWS_FROM reference, or any child of a PRODUCER) are ignored. From the end of a span, walk back in time: the last-finishing
  child before the cut-off is on the path (entered at its end), the parent's own time after that
  child is on the path, then the cut-off moves to that child's start.
"""

from __future__ import annotations

from operator import add, eq, itemgetter
from typing import NamedTuple

from dashboard.traces.model import CLIENT, CONSUMER, PRODUCER, SERVER, Span, Trace, link
from meshcore.tracer.model import same_host


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
            and not same_host(span.local_endpoint, parent.local_endpoint)
        ):
            start = span.start_us + inherited
            if start < parent.start_us:
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


class Columns(NamedTuple):
    """Per-span values indexed like `Trace.spans`, read once so that each analysis pass loops over
    plain lists (or hands them to C: sort keys, map) rather than reading span attributes again.
    Built by `columns`; the functions taking `cols` build them when not given. Times are µs."""

    starts: list[int]
    durations: list[int]
    ends: list[int]
    parents: list[int | None]
    services: list[str]
    names: list[str]


def columns(trace: Trace) -> Columns:
    """The `Columns` of the trace as it is now (build them again after modifying spans)."""
    spans = trace.spans
    starts = [span.start_us for span in spans]
    durations = [span.duration_us for span in spans]
    return Columns(
        starts,
        durations,
        list(map(add, starts, durations)),
        [span.parent_index for span in spans],
        [span.service for span in spans],
        [span.name for span in spans],
    )


def self_times(trace: Trace, cols: Columns | None = None) -> list[int]:
    """Self time of every span (µs), indexed like `trace.spans`."""
    starts, durations, ends, *_ = cols or columns(trace)
    result = durations[:]  # a leaf's self time is its duration
    for span in [span for span in trace.spans if span.children]:
        index = span.index
        end = ends[index]
        cursor = starts[index]
        covered = 0
        # Children are sorted by start, which is all a sweep over their union needs.
        for child in span.children:
            c_start = starts[child]
            c_end = ends[child]
            if c_start < cursor:
                c_start = cursor
            if c_end > end:
                c_end = end
            if c_end > c_start:
                covered += c_end - c_start
                cursor = c_end
        own = durations[index] - covered
        result[index] = own if own > 0 else 0
    return result


class Section(NamedTuple):
    """A stretch [start_us, end_us) of the critical path spent in span `index` itself."""

    index: int
    start_us: int
    end_us: int


_INDEX = itemgetter(0)
_START = itemgetter(1)
_END = itemgetter(2)
_BY_TIME = itemgetter(1, 2)  # Section (start_us, end_us), in C rather than a lambda per section


def _blocking_intervals(trace: Trace, cols: Columns) -> tuple[list[int], list[int], list[bool]]:
    """Each span's interval clipped to its parent's (starts, ends), and whether it can block its
    parent at all (False: starts after the parent ends, non-blocking kind, or under such a span)."""
    spans = trace.spans
    starts = cols.starts[:]
    ends = cols.ends[:]
    blocking = [False] * len(spans)
    for span in spans:  # parents first
        index = span.index
        parent_index = span.parent_index
        if parent_index is None:
            blocking[index] = True
            continue
        if (
            not blocking[parent_index]
            or span.kind == CONSUMER
            or span.follows_from
            or spans[parent_index].kind == PRODUCER
        ):
            continue
        low, high = starts[parent_index], ends[parent_index]
        start = starts[index]
        if start > high:
            continue
        end = ends[index]
        if start < low:
            start = starts[index] = low
        if end > high:
            end = ends[index] = high
        if end >= start:
            blocking[index] = True
    return starts, ends, blocking


def _blocking_children(
    parents: list[int | None], ends: list[int], blocking: list[bool]
) -> list[list[int] | None]:
    """The blocking children of each span (None when it has none) as a stack: the latest end on
    top, ties with the first in display order (start order among siblings) on top. One sort of all
    spans instead of one per parent."""
    result: list[list[int] | None] = [None] * len(parents)
    # Reversed before the (stable) sort so that among equal ends the first in display order is last.
    by_end = sorted([i for i in range(len(parents) - 1, -1, -1) if blocking[i]], key=ends.__getitem__)
    for child in by_end:
        parent = parents[child]
        if parent is None:
            continue
        kids = result[parent]
        if kids is None:
            result[parent] = [child]
        else:
            kids.append(child)
    return result


def critical_path(trace: Trace, cols: Columns | None = None) -> list[Section]:
    """The critical path of every root, as sections in time order (see module rules).

    O(n log n): each span's blocking children are taken once, latest end first (popped from a
    stack), because the cut-off only moves back in time while the walk stays inside one span.
    """
    cols = cols or columns(trace)
    parents = cols.parents
    starts, ends, blocking = _blocking_intervals(trace, cols)
    stacks = _blocking_children(parents, ends, blocking)
    sections: list[Section] = []
    add_section = sections.append
    new_section = tuple.__new__  # Section(...) without its Python-level __new__: ~100k per 50k spans
    last = -1  # the span of the last section added
    roots = sorted(trace.roots, key=cols.starts.__getitem__)
    for root_index in roots:
        current = root_index
        limit = ends[root_index]
        while True:
            kids = stacks[current]
            if kids:
                while kids and ends[kids[-1]] > limit:
                    kids.pop()  # ends after the cut-off: never on the path from here
                if kids:
                    child = kids.pop()
                    child_end = ends[child]
                    if child_end < limit:
                        add_section(new_section(Section, (current, child_end, limit)))
                        last = current
                    current, limit = child, child_end
                    continue
            own_start = starts[current]
            if own_start < limit or last != current:
                add_section(new_section(Section, (current, own_start, limit)))
                last = current
            if current == root_index:
                break
            limit = own_start
            current = parents[current]  # type: ignore[assignment]
    # One root's walk adds sections latest first, each ending where the next one starts or later:
    # reversed, they are in time order, unless two empty sections at one instant swap places.
    if len(roots) == 1 and not any(map(eq, map(_START, sections), map(_END, sections))):
        sections.reverse()
    else:
        sections.sort(key=_BY_TIME)
    return sections


def critical_path_ids(trace: Trace, sections: list[Section]) -> list[str]:
    """Span ids on the path in order of their first section."""
    return list(dict.fromkeys(section_span_ids(trace, sections)))


def section_span_ids(trace: Trace, sections: list[Section]) -> list[str]:
    """The span id of each section (in C: a 50,000-span trace has ~100,000 sections)."""
    span_ids = [span.span_id for span in trace.spans]
    return list(map(span_ids.__getitem__, map(_INDEX, sections)))


def critical_sections(section_ids: list[str], sections: list[Section]) -> list[tuple[str, int, int]]:
    """(span id, start_us, end_us) per section; `section_ids` from `section_span_ids`."""
    return list(zip(section_ids, map(_START, sections), map(_END, sections), strict=True))


def stats_table(
    trace: Trace, self_us: list[int], duration_us: int | None = None, cols: Columns | None = None
) -> list[dict[str, object]]:
    """Per service and operation: count, total and self time (µs), self time as % of the trace.

    Sorted by self time, largest first. `percent` has two decimals. `duration_us` is the trace's
    (computed when not given: the caller often has it already).
    """
    duration = trace.duration_us if duration_us is None else duration_us
    cols = cols or columns(trace)
    # service -> operation -> [count, total, self]: nested by name, as a (service, operation) key
    # would be a tuple hashed anew for every span.
    rows: dict[str, dict[str, list[int]]] = {}
    for service, operation, total, own in zip(
        cols.services, cols.names, cols.durations, self_us, strict=True
    ):
        of_service = rows.get(service)
        if of_service is None:
            of_service = rows[service] = {}
        row = of_service.get(operation)
        if row is None:
            of_service[operation] = [1, total, own]
        else:
            row[0] += 1
            row[1] += total
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
        for service, of_service in rows.items()
        for operation, (count, total, own) in of_service.items()
    ]
    table.sort(key=lambda r: (-r["self_us"], r["service"], r["operation"]))  # type: ignore[operator]
    return table


def call_graph(
    trace: Trace, services: list[str] | None = None, cols: Columns | None = None
) -> dict[str, list[dict[str, object]]]:
    """Services as nodes; an edge per (caller service, callee service) with the number of calls.

    A call is a parent -> child step that changes service (the client half of an Envoy hop and
    the server half it reaches); steps inside one service add no edge. `services` is
    `trace.services()` when the caller has it already. Edges in order of their first call.
    """
    nodes = [{"id": name, "service": name} for name in (trace.services() if services is None else services)]
    cols = cols or columns(trace)
    of_service = cols.services
    counts: dict[str, dict[str, int]] = {}  # caller -> callee -> calls (see stats_table)
    order: list[tuple[str, str]] = []
    for parent_index, callee in zip(cols.parents, of_service, strict=True):
        if parent_index is None:
            continue
        caller = of_service[parent_index]
        if caller == callee:
            continue
        row = counts.get(caller)
        if row is None:
            row = counts[caller] = {}
        calls = row.get(callee)
        if calls is None:
            row[callee] = 1
            order.append((caller, callee))
        else:
            row[callee] = calls + 1
    edges = [{"source": a, "target": b, "count": counts[a][b]} for a, b in order]
    return {"nodes": nodes, "edges": edges}


def errored(spans: list[Span]) -> int:
    """How many spans are marked as errors."""
    return sum(1 for span in spans if span.error)
