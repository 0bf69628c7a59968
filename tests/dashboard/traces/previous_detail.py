"""A plain, span-by-span statement of the trace document's analysis (self time as a union of
intervals, Jaeger's critical path as a recursive walk, statistics by grouping, call graph by
counting pairs), as the document was computed before its analysis ran over columns. The oracle
that `dashboard.traces.analysis` and `service.trace_detail` must agree with byte for byte
(test_detail_equivalence.py); not used by the application. Times are µs.
"""

from __future__ import annotations

from typing import Any

from dashboard.traces import service
from dashboard.traces.analysis import Section
from dashboard.traces.model import CONSUMER, PRODUCER, Trace


def self_times(trace: Trace) -> list[int]:
    """Self time of every span (µs): its duration minus the union of its children clipped to it."""
    spans = trace.spans
    result = []
    for span in spans:
        low, high = span.start_us, span.end_us
        clipped = sorted((max(spans[c].start_us, low), min(spans[c].end_us, high)) for c in span.children)
        covered = 0
        reach = low  # the union so far ends here
        for start, end in clipped:
            start = max(start, reach)
            if end > start:
                covered += end - start
                reach = end
        result.append(max(0, span.duration_us - covered))
    return result


def blocking_intervals(trace: Trace) -> dict[int, tuple[int, int]]:
    """Span index -> its interval clipped to its parent's, for the spans that can block their parent."""
    spans = trace.spans
    clipped: dict[int, tuple[int, int]] = {}
    for span in spans:  # parents first
        parent = span.parent_index
        if parent is None:
            clipped[span.index] = (span.start_us, span.end_us)
            continue
        if (
            parent not in clipped
            or span.kind == CONSUMER
            or span.follows_from
            or spans[parent].kind == PRODUCER
        ):
            continue
        low, high = clipped[parent]
        if span.start_us > high:
            continue
        start, end = max(span.start_us, low), min(span.end_us, high)
        if end >= start:
            clipped[span.index] = (start, end)
    return clipped


def critical_path(trace: Trace) -> list[Section]:
    """Jaeger's walk, recursive (the test traces are shallow): from a span's end back in time, the
    last-finishing blocking child before the cut-off is on the path, then the cut-off is its start."""
    spans = trace.spans
    clipped = blocking_intervals(trace)
    sections: list[Section] = []

    def visit(index: int, limit: int) -> None:
        blocking = [c for c in spans[index].children if c in clipped]
        for child in sorted(blocking, key=lambda c: clipped[c][1], reverse=True):
            child_start, child_end = clipped[child]
            if child_end > limit:
                continue
            if child_end < limit:
                sections.append(Section(index, child_end, limit))
            visit(child, child_end)
            limit = child_start
        start = clipped[index][0]
        if start < limit or not sections or sections[-1].index != index:
            sections.append(Section(index, start, limit))

    for root in sorted(trace.roots, key=lambda i: spans[i].start_us):
        visit(root, clipped[root][1])
    sections.sort(key=lambda section: (section.start_us, section.end_us))
    return sections


def stats_table(trace: Trace, self_us: list[int], duration_us: int) -> list[dict[str, object]]:
    """Per (service, operation): the spans grouped first, then counted and summed."""
    groups: dict[tuple[str, str], list[int]] = {}
    for span in trace.spans:
        groups.setdefault((span.service, span.name), []).append(span.index)
    table = []
    for (service_name, operation), members in groups.items():
        own = sum(self_us[i] for i in members)
        table.append(
            {
                "service": service_name,
                "operation": operation,
                "count": len(members),
                "total_us": sum(trace.spans[i].duration_us for i in members),
                "self_us": own,
                "percent": round(own * 100 / duration_us, 2) if duration_us else 0.0,
            }
        )
    return sorted(table, key=lambda r: (-r["self_us"], r["service"], r["operation"]))  # type: ignore[operator]


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


def trace_detail(trace: Trace, route_url: service.RouteUrl | None = None) -> dict[str, Any]:
    """The trace API document as the previous implementation built it."""
    self_us = self_times(trace)
    sections = critical_path(trace)
    spans = trace.spans
    start_us = trace.start_us
    duration_us = trace.end_us - start_us if spans else 0
    services = trace.services()
    return {
        "traceId": trace.trace_id,
        "start_us": start_us,
        "duration_us": duration_us,
        "services": services,
        "spans": service.span_documents(trace, self_us, route_url),
        "criticalPath": list(dict.fromkeys([spans[index].span_id for index, _, _ in sections])),
        # [spanId, start_us, end_us] per stretch of the path (arrays: a 50,000-span trace has ~100k).
        "criticalSections": [(spans[index].span_id, start, end) for index, start, end in sections],
        "stats": stats_table(trace, self_us, duration_us),
        "callGraph": call_graph(trace, list(services)),
        "warnings": list(trace.warnings),
    }
