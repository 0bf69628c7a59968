"""The trace explorer's use cases over a `TraceSource`: search, one trace with its analysis, compare.

Plain functions, no Django: views, the consumer, the live tail and the benchmarks call them with
the source they want; the link to a VirtualService page is passed in (`route_url(namespace, name)`).
Every failure of the source is a SourceError for the caller to answer (503 when unreachable).
JSON shapes are the API's (see dashboard/traces/api.py). Times are µs unless named `_ms`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dashboard.sources.errors import SourceError
from dashboard.sources.traces import TraceSource
from dashboard.traces import analysis
from dashboard.traces.compare import compare
from dashboard.traces.flags import (
    RESPONSE_FLAGS_TAG,
    ROUTE_NAME_TAG,
    ROUTE_NAMESPACE_TAG,
    ROUTE_RULE_TAG,
    explain_flags,
    route_rule,
)
from dashboard.traces.model import Trace
from dashboard.traces.search import MAX_LIMIT, TraceQuery, is_trace_id, matches
from dashboard.traces.zipkin import to_trace

RouteUrl = Callable[[str, str], str]
# The `annotations` of every span document without any: serialized as [] like a list, and one
# object rather than 50,000 empty lists to build and free for a large trace.
NO_ANNOTATIONS: tuple[()] = ()
REQUEST_ID_TAG = "guid:x-request-id"
# Candidates read per result for orders other than "most recent" (see `search`).
WIDE_FETCH = 5
# A pasted x-request-id is looked up over the longest lookback the search offers (ms).
REQUEST_ID_LOOKBACK_MS = 2 * 86_400_000


class TraceNotFound(LookupError):
    """No trace with this id (the message says which)."""


def trace_url(trace_id: str) -> str:
    return f"/traces/{trace_id}/"


def summary(trace: Trace) -> dict[str, Any]:
    """The Summary of the search API: root, timing (µs), size, errors, services, status."""
    root = trace.root
    counts: dict[str, int] = {}
    for span in trace.spans:
        counts[span.service] = counts.get(span.service, 0) + 1
    return {
        "traceId": trace.trace_id,
        "rootService": root.service if root else None,
        "rootOperation": root.name if root else None,
        "start_us": trace.start_us,
        "duration_us": trace.duration_us,
        "spanCount": len(trace.spans),
        "errorCount": analysis.errored(trace.spans),
        "services": [{"name": n, "count": c} for n, c in sorted(counts.items(), key=lambda i: (-i[1], i[0]))],
        "statusCode": root.status_code if root else None,
        "url": trace_url(trace.trace_id),
    }


SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "recent": lambda s: (-s["start_us"], s["traceId"]),
    "longest": lambda s: (-s["duration_us"], -s["start_us"]),
    "spans": lambda s: (-s["spanCount"], -s["start_us"]),
    "errors": lambda s: (-s["errorCount"], -s["start_us"]),
}


def convert_all(raw_traces: list[list[dict[str, Any]]]) -> list[Trace]:
    """Convert each non-empty raw trace (malformed ones are skipped rather than failing a list)."""
    result = []
    for spans in raw_traces:
        if not spans:
            continue
        try:
            result.append(to_trace(spans))
        except (ValueError, KeyError, TypeError):
            continue
    return result


def find_by_request_id(source: TraceSource, request_id: str, now_ms: int | None = None) -> str | None:
    """The id of the trace whose spans carry Envoy's `guid:x-request-id` = `request_id`, or None."""
    found = source.search(
        annotation_query=f"{REQUEST_ID_TAG}={request_id}",
        end_ts_ms=now_ms,
        lookback_ms=REQUEST_ID_LOOKBACK_MS,
        limit=1,
    )
    return found[0][0]["traceId"] if found and found[0] else None


def resolve_q(source: TraceSource, q: str, now_ms: int | None = None) -> str | None:
    """A trace id for the search box: the text itself when it is one, else an x-request-id's trace."""
    text = q.strip()
    if is_trace_id(text):
        return text.lower()
    return find_by_request_id(source, text, now_ms)


def fetch_limit(query: TraceQuery) -> int:
    """How many traces to ask the source for (see `search`)."""
    if query.sort == "recent" and query.min_duration_us is None and query.max_duration_us is None:
        return query.limit
    return min(MAX_LIMIT, max(query.limit * WIDE_FETCH, 100))


def search(source: TraceSource, query: TraceQuery) -> list[dict[str, Any]]:
    """Summaries of the traces matching `query`, sorted as it asks, at most `query.limit`.

    The tracer prefilters (Zipkin's query, newest first); `matches` then applies the trace-duration
    bounds. When the order is not "most recent" or durations are bounded, up to `WIDE_FETCH` times
    `limit` candidates (at most MAX_LIMIT) are read so that "longest" means the longest of many
    recent matches, not of the `limit` newest. With `q`, the one trace it names.
    """
    if query.q:
        trace_id = resolve_q(source, query.q, query.end_ms)
        raw = source.trace_many([trace_id]) if trace_id else []
    else:
        p = query.zipkin_params()
        raw = source.search(
            service=p.get("serviceName"),
            span_name=p.get("spanName"),
            annotation_query=p.get("annotationQuery"),
            min_duration_us=p.get("minDuration"),
            max_duration_us=p.get("maxDuration"),
            end_ts_ms=p["endTs"],
            lookback_ms=p["lookback"],
            limit=fetch_limit(query),
        )
    rows = [summary(trace) for trace in convert_all(raw) if query.q or matches(trace, query)]
    rows.sort(key=SORT_KEYS[query.sort])
    return rows[: query.limit]


def load_trace(
    source: TraceSource, trace_id: str, phases: dict[str, float] | None = None
) -> tuple[list[dict[str, Any]], Trace]:
    """(raw Zipkin spans, model) of one trace; TraceNotFound when the source has none.

    With `phases`, the wall time (ms) of reading the trace ("read") and converting it ("model").
    """
    began = time.perf_counter()
    try:
        raw = source.trace(trace_id)
    except SourceError as error:
        if error.status == 404:
            raise TraceNotFound(f"trace {trace_id} not found") from None
        raise
    if not raw:
        raise TraceNotFound(f"trace {trace_id} not found")
    read = time.perf_counter()
    model = to_trace(raw)
    if phases is not None:
        phases["read"] = (read - began) * 1000
        phases["model"] = (time.perf_counter() - read) * 1000
    return raw, model


def span_documents(trace: Trace, self_us: list[int], route_url: RouteUrl | None) -> list[dict[str, Any]]:
    """The Span objects of the trace API, in display order; `self_us` indexed like `trace.spans`.

    One pass that builds each dict directly: flags and route rules are explained once per distinct
    tag value (a few values repeat over thousands of spans) and shared by the spans that carry
    them; spans without the tags skip the lookup. Each span's `tags` is the model's dict itself.
    """
    flags_of: dict[str | None, list[dict[str, str]]] = {None: []}
    routes: dict[tuple[str, str | None, str | None], dict[str, object] | None] = {}
    result = []
    append = result.append
    for span, own in zip(trace.spans, self_us, strict=True):
        tags = span.tags
        raw_flags = tags.get(RESPONSE_FLAGS_TAG)
        flags = flags_of.get(raw_flags)
        if flags is None:
            flags = flags_of[raw_flags] = explain_flags(tags)
        namespace = tags.get(ROUTE_NAMESPACE_TAG)
        if namespace:
            route_key = (namespace, tags.get(ROUTE_NAME_TAG), tags.get(ROUTE_RULE_TAG))
            if route_key in routes:
                route = routes[route_key]
            else:
                route = routes[route_key] = route_rule(tags, route_url)
        else:
            route = None  # route_rule needs a namespace
        error = tags.get("error")
        annotations = span.annotations
        append(
            {
                "spanId": span.span_id,
                "parentId": span.parent_id,
                "service": span.service,
                "name": span.name,
                "kind": span.kind,
                "start_us": span.start_us,
                "duration_us": span.duration_us,
                "depth": span.depth,
                "self_us": own,
                "error": error is not None and error.lower() != "false",  # Span.error, inlined
                "tags": tags,
                "annotations": [{"timestamp_us": a.timestamp_us, "value": a.value} for a in annotations]
                if annotations
                else NO_ANNOTATIONS,
                "localEndpoint": span.local_endpoint,
                "remoteEndpoint": span.remote_endpoint,
                "flags": flags,
                "route": route,
                "skew_us": span.skew_us,
            }
        )
    return result


def trace_detail(trace: Trace, route_url: RouteUrl | None = None) -> dict[str, Any]:
    """The trace API document: spans in display order with self time, flags and route rule, the
    critical path (span ids, and its sections), statistics, call graph and warnings."""
    cols = analysis.columns(trace)
    self_us = analysis.self_times(trace, cols)
    sections = analysis.critical_path(trace, cols)
    section_ids = analysis.section_span_ids(trace, sections)
    spans = trace.spans
    start_us = min(cols.starts, default=0)
    duration_us = max(cols.ends) - start_us if spans else 0
    services = list(dict.fromkeys(cols.services))
    return {
        "traceId": trace.trace_id,
        "start_us": start_us,
        "duration_us": duration_us,
        "services": services,
        "spans": span_documents(trace, self_us, route_url),
        "criticalPath": list(dict.fromkeys(section_ids)),  # as analysis.critical_path_ids
        # [spanId, start_us, end_us] per stretch of the path (arrays: a 50,000-span trace has ~100k).
        "criticalSections": analysis.critical_sections(section_ids, sections),
        "stats": analysis.stats_table(trace, self_us, duration_us, cols),
        "callGraph": analysis.call_graph(trace, services, cols),
        "warnings": list(trace.warnings),
    }


def compare_traces(source: TraceSource, a_id: str, b_id: str) -> dict[str, Any]:
    """The compare API document; TraceNotFound names the id that does not exist."""
    found = {t.trace_id: t for t in convert_all(source.trace_many([a_id, b_id]))}
    for trace_id in (a_id, b_id):
        if trace_id not in found:
            raise TraceNotFound(f"trace {trace_id} not found")
    a, b = found[a_id], found[b_id]
    return {"a": summary(a), "b": summary(b), **compare(a, b)}
