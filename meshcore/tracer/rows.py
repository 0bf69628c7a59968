"""Rows for the span store, built from normalized spans outside the writer (any thread).

Named rows (NamedTuple: a tuple to SQLite's executemany and to pickle, a name to the reader) in
the column order of `meshcore.tracer.schema`. Units: µs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from meshcore.tracer.model import ZipkinSpan, dumps

# Longer values are not indexed (they would bloat the index); queries on them use the slow path.
MAX_TERM_LENGTH = 200


class SpanRow(NamedTuple):
    """One row of `spans`: one received span piece."""

    trace_id: str
    id: str
    parent_id: str | None
    kind: str | None
    name: str | None
    service: str | None
    remote_service: str | None
    ts: int  # µs; ingest time when the span had no timestamp
    duration: int | None
    shared: int
    error: int
    json: str | None


class TraceRow(NamedTuple):
    """A batch's contribution to one row of `traces` (merged into the stored row by the writer)."""

    trace_id: str
    ts: int
    end_ts: int
    span_count: int
    error: int
    root_rank: int  # 0 parentless non-shared span seen, 1 parentless shared, 2 none
    root_service: str | None


class TermRow(NamedTuple):
    """One row of `terms`: an indexed tag ("key=value") or annotation value of a trace."""

    service: str
    term: str
    ts: int
    trace_id: str


@dataclass(frozen=True)
class PreparedBatch:
    """Rows for one submitted batch, built outside the writer (see `prepare_batch`)."""

    span_rows: list[SpanRow]
    trace_rows: list[TraceRow]
    term_rows: list[TermRow]
    names: set[tuple[str, str]]
    remotes: set[tuple[str, str]]
    tag_values: set[tuple[str, str]]

    def __reduce__(self) -> tuple:
        # Batches cross to the writer process by pickle. Named rows pickle as a class reference
        # plus arguments each, measured 2.6x slower to dump and 5.8x slower to load than plain
        # tuples: send plain tuples and name them again on arrival.
        return (
            _rebuild_batch,
            (
                [tuple(row) for row in self.span_rows],
                [tuple(row) for row in self.trace_rows],
                [tuple(row) for row in self.term_rows],
                self.names,
                self.remotes,
                self.tag_values,
            ),
        )


def _rebuild_batch(
    span_rows: list[tuple],
    trace_rows: list[tuple],
    term_rows: list[tuple],
    names: set[tuple[str, str]],
    remotes: set[tuple[str, str]],
    tag_values: set[tuple[str, str]],
) -> PreparedBatch:
    return PreparedBatch(
        list(map(partial(tuple.__new__, SpanRow), span_rows)),
        list(map(partial(tuple.__new__, TraceRow), trace_rows)),
        list(map(partial(tuple.__new__, TermRow), term_rows)),
        names,
        remotes,
        tag_values,
    )


def prepare_batch(
    spans: list[ZipkinSpan], now_us: int, indexed: frozenset[str], autocomplete: tuple[str, ...]
) -> PreparedBatch:
    """Turn normalized spans into rows for `SpanWriter.write`. Pure; any thread.

    `now_us` stands in for a missing span timestamp in the index columns (the stored JSON keeps the
    span as sent). Tags are indexed when their key is in `indexed`; values of `autocomplete` keys
    are collected for /api/v2/autocompleteValues.
    """
    span_rows: list[SpanRow] = []
    # trace id -> [ts, end_ts, span_count, error, root_rank, root_service], updated in place
    traces: dict[str, list] = {}
    terms: dict[tuple[str, str, str], int] = {}
    names: set[tuple[str, str]] = set()
    remotes: set[tuple[str, str]] = set()
    tag_values: set[tuple[str, str]] = set()
    for span in spans:
        trace_id = span["traceId"]
        local = span.get("localEndpoint")
        service = local.get("serviceName") if local else None
        remote = span.get("remoteEndpoint")
        remote_name = remote.get("serviceName") if remote else None
        timestamp = span.get("timestamp") or now_us
        duration = span.get("duration")
        tags = span.get("tags")
        error = 1 if tags and "error" in tags else 0
        shared = 1 if span.get("shared") else 0
        name = span.get("name")
        span_rows.append(
            SpanRow(
                trace_id,
                span["id"],
                span.get("parentId"),
                span.get("kind"),
                name,
                service,
                remote_name,
                timestamp,
                duration,
                shared,
                error,
                dumps(span),
            )
        )
        root_rank = 2 if "parentId" in span else shared
        summary = traces.get(trace_id)
        end = timestamp + (duration or 0)
        if summary is None:
            traces[trace_id] = [timestamp, end, 1, error, root_rank, service]
        else:
            if timestamp < summary[0]:
                summary[0] = timestamp
            if end > summary[1]:
                summary[1] = end
            summary[2] += 1
            summary[3] |= error
            if root_rank < summary[4]:
                summary[4] = root_rank
                summary[5] = service
        term_service = service or ""
        if tags:
            for key, value in tags.items():
                if key in indexed and len(value) <= MAX_TERM_LENGTH:
                    term_key = (term_service, f"{key}={value}", trace_id)
                    if terms.get(term_key, timestamp + 1) > timestamp:
                        terms[term_key] = timestamp
                    if key in autocomplete:
                        tag_values.add((key, value))
        annotations = span.get("annotations")
        if annotations:
            for annotation in annotations:
                value = annotation["value"]
                if len(value) <= MAX_TERM_LENGTH:
                    term_key = (term_service, value, trace_id)
                    if terms.get(term_key, timestamp + 1) > timestamp:
                        terms[term_key] = timestamp
        if service:
            # "" records a service whose spans have no name, so /services still lists it.
            names.add((service, name or ""))
            if remote_name:
                remotes.add((service, remote_name))
    return PreparedBatch(
        span_rows=span_rows,
        trace_rows=[TraceRow(trace_id, *summary) for trace_id, summary in traces.items()],
        term_rows=[TermRow(service, term, ts, trace_id) for (service, term, trace_id), ts in terms.items()],
        names=names,
        remotes=remotes,
        tag_values=tag_values,
    )
