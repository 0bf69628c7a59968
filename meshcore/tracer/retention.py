"""Retention of the span store, run by the writer inside its transaction.

By age (trace start older than `retention_us`) and by count (`max_spans`): when the count exceeds
the cap the oldest traces (by start time) are deleted until it is at most 98% of the cap, so
committed state never holds more than `max_spans` spans. Units: µs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from meshcore.tracer.linker import LINK_BUCKET_US

# Count retention deletes down to this fraction of the cap so deletes happen in chunks.
RETENTION_LOW_WATER = 0.98


@dataclass(frozen=True)
class RetentionPolicy:
    max_spans: int
    retention_us: int


def enforce_retention(
    conn: sqlite3.Connection,
    policy: RetentionPolicy,
    spans: int,
    now_us: int,
    term_pairs: Iterable[tuple[str, str]],
) -> int:
    """Delete traces older than the retention age, then the oldest traces beyond the span cap.

    `spans` is the committed span count before; returns how many spans were deleted. `term_pairs`
    are the (service, term) pairs known to the index (their old rows are pruned by cutoff); it is
    iterated only when something is deleted, so it must be re-iterable (a set).
    """
    deleted = 0
    oldest = conn.execute("SELECT min(ts) FROM traces").fetchone()[0]
    age_cutoff = now_us - policy.retention_us
    if oldest is not None and oldest < age_cutoff:
        deleted += delete_traces_before(conn, age_cutoff, age_cutoff, term_pairs)
    if spans - deleted <= policy.max_spans:
        return deleted
    target = int(policy.max_spans * RETENTION_LOW_WATER)
    excess = spans - deleted - target
    freed = 0
    cutoff: int | None = None
    for ts, count in conn.execute("SELECT ts, span_count FROM traces ORDER BY ts"):
        if freed >= excess and ts != cutoff:
            break
        freed += count
        cutoff = ts
    if cutoff is not None:
        deleted += delete_traces_before(conn, cutoff + 1, age_cutoff, term_pairs)
    return deleted


def delete_traces_before(
    conn: sqlite3.Connection, cutoff_us: int, age_cutoff_us: int, term_pairs: Iterable[tuple[str, str]]
) -> int:
    """Delete every trace whose start is before `cutoff_us`, with its spans and index terms;
    returns the spans deleted.

    Terms with ts < cutoff belong only to deleted traces: a surviving trace starts at or after
    the cutoff and none of its spans starts before its trace start. Terms of deleted spans that
    started after the cutoff stay until a later pass with a later cutoff; they are harmless,
    because every search candidate is checked against the stored spans.
    """
    ids = [(row[0],) for row in conn.execute("SELECT trace_id FROM traces WHERE ts < ?", (cutoff_us,))]
    if not ids:
        return 0
    before = conn.total_changes
    conn.executemany("DELETE FROM spans WHERE trace_id = ?", ids)
    deleted_spans = conn.total_changes - before
    conn.execute("DELETE FROM traces WHERE ts < ?", (cutoff_us,))
    # Links are aggregates (like Zipkin's separate dependency store): they follow the age limit,
    # not the span-count cap, so the dependency graph keeps its history while spans rotate.
    if cutoff_us <= age_cutoff_us:
        conn.execute("DELETE FROM links WHERE bucket < ?", (cutoff_us // LINK_BUCKET_US,))
    conn.executemany(
        "DELETE FROM terms WHERE service = ? AND term = ? AND ts < ?",
        [(service, term, cutoff_us) for service, term in term_pairs],
    )
    return deleted_spans
