"""Hand-built traces in the source-neutral model, with times chosen so the answers are known."""

from __future__ import annotations

from dashboard.traces.model import Span, Trace, link


def span(
    span_id: str,
    parent: str | None,
    start: int,
    end: int,
    service: str = "svc",
    kind: str | None = None,
    **tags: str,
) -> Span:
    """A span of `service` from `start` to `end` µs, named after its id."""
    return Span(
        span_id=span_id,
        raw_id=span_id,
        parent_id=parent,
        service=service,
        name=f"op-{span_id}",
        kind=kind,
        start_us=start,
        duration_us=end - start,
        tags=dict(tags),
    )


def trace(*spans: Span, trace_id: str = "t1") -> Trace:
    return link(trace_id, list(spans))


def chain(n: int) -> Trace:
    """`n` spans, each the only child of the one before, nested inside it: [i, 2n - i]."""
    spans = [span(f"s{i}", f"s{i - 1}" if i else None, i, 2 * n - i) for i in range(n)]
    return link("chain", spans)
