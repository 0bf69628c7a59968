"""The single SQLite writer: commits prepared batches in transactions, with retention and links.

`SpanWriter` owns the only write connection and the caches that avoid re-inserting known names.
It runs either in a thread of the serving process (tests, embedding) or, for the service, in a
child process (`meshcore.tracer.writer_loop`): measurement on a 2-core machine showed the writer
thread and the event loop fighting for the GIL (SQLite releases and re-takes it for every row),
which capped ingest well below 25k spans/s; in its own process the writer's SQLite work runs truly
in parallel with HTTP parsing and validation.

One responsibility per module: `schema` (DDL, connections), `rows` (named rows built outside the
writer), this module (transactions and caches), `retention`, `linker` (dependency links),
`writer_loop` (the loop that feeds a writer, in a thread or a process). Units: µs.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from dataclasses import dataclass

from meshcore.tracer.linker import LINK_BUCKET_US, DependencyLinker
from meshcore.tracer.retention import RetentionPolicy, enforce_retention
from meshcore.tracer.rows import MAX_TERM_LENGTH, PreparedBatch, prepare_batch
from meshcore.tracer.schema import READER_CACHE_MIB, SCHEMA, WRITER_CACHE_MIB, connect

log = logging.getLogger(__name__)

# Per key, at most this many autocomplete values are remembered (bounded memory).
MAX_AUTOCOMPLETE_VALUES = 1000
# The writer commits at most about this many spans per transaction (bigger = cheaper per span).
WRITE_BATCH_SPANS = 20_000

__all__ = [
    "LINK_BUCKET_US",
    "MAX_TERM_LENGTH",
    "READER_CACHE_MIB",
    "WRITE_BATCH_SPANS",
    "PreparedBatch",
    "SpanWriter",
    "StoreStats",
    "connect",
    "prepare_batch",
]


@dataclass
class StoreStats:
    """Counters for /metrics. All monotonically increasing except the gauges `spans`, `pending`."""

    spans: int = 0
    pending: int = 0
    written: int = 0
    expired: int = 0
    write_batches: int = 0


class SpanWriter:
    """Owns the write connection and the caches that avoid re-inserting known names. Not thread-safe:
    one SpanWriter is used by exactly one thread at a time."""

    def __init__(self, path: str, *, max_spans: int, retention_us: int) -> None:
        self.max_spans = max_spans
        self.retention_us = retention_us
        self._retention = RetentionPolicy(max_spans=max_spans, retention_us=retention_us)
        self.stats = StoreStats()
        self._writer = connect(path, readonly=False, cache_mib=WRITER_CACHE_MIB)
        self._writer.executescript(SCHEMA)
        self._known_names: set[tuple[str, str]] = set(
            self._writer.execute("SELECT service, name FROM span_names")
        )
        self._known_remotes: set[tuple[str, str]] = set(
            self._writer.execute("SELECT service, remote FROM remote_names")
        )
        self._known_pairs: set[tuple[str, str]] = set(
            self._writer.execute("SELECT service, term FROM term_pairs")
        )
        self._autocomplete: dict[str, set[str]] = {}
        for key, value in self._writer.execute("SELECT key, value FROM autocomplete"):
            self._autocomplete.setdefault(key, set()).add(value)
        self.stats.spans = self._writer.execute("SELECT count(*) FROM spans").fetchone()[0]
        self._linker = DependencyLinker()

    def idle(self, now_us: int) -> None:
        """Enforce retention and settle overdue dependency links without writing spans."""
        self._writer.execute("BEGIN IMMEDIATE")
        try:
            self._linker.link(self._writer, [], now_us)
            self._enforce_retention(now_us)
            self._writer.execute("COMMIT")
        except BaseException:
            self._writer.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Settle every waiting dependency link (their fallbacks), checkpoint, close."""
        with contextlib.suppress(sqlite3.Error):
            self._writer.execute("BEGIN IMMEDIATE")
            self._linker.link(self._writer, [], None)
            self._writer.execute("COMMIT")
        with contextlib.suppress(sqlite3.Error):
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._writer.close()

    def write_isolating(self, batches: list[PreparedBatch], now_us: int) -> int:
        """`write`, but when the combined transaction fails, retry batch by batch so that one bad
        request's spans cannot take other requests' spans down with them (failures are logged)."""
        try:
            return self.write(batches, now_us)
        except Exception:
            if len(batches) == 1:
                raise
        written = 0
        for batch in batches:
            try:
                written += self.write([batch], now_us)
            except Exception:
                log.exception("tracer writer: dropped a batch of %d spans", len(batch.span_rows))
        return written

    def write(self, batches: list[PreparedBatch], now_us: int) -> int:
        """Commit the batches in one transaction, then enforce retention; returns spans written."""
        new_names: list[tuple[str, str]] = []
        new_remotes: list[tuple[str, str]] = []
        new_autocomplete: list[tuple[str, str]] = []
        new_pairs: list[tuple[str, str]] = []
        for batch in batches:
            for pair in batch.names - self._known_names:
                self._known_names.add(pair)
                new_names.append(pair)
            for pair in batch.remotes - self._known_remotes:
                self._known_remotes.add(pair)
                new_remotes.append(pair)
            for key, value in batch.tag_values:
                values = self._autocomplete.setdefault(key, set())
                if value not in values and len(values) < MAX_AUTOCOMPLETE_VALUES:
                    values.add(value)
                    new_autocomplete.append((key, value))
            for service, term, _, _ in batch.term_rows:
                if (service, term) not in self._known_pairs:
                    self._known_pairs.add((service, term))
                    new_pairs.append((service, term))
        conn = self._writer
        written = 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            for batch in batches:
                conn.executemany("INSERT INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", batch.span_rows)
                conn.executemany(
                    """INSERT INTO traces VALUES (?,?,?,?,?,?,?) ON CONFLICT(trace_id) DO UPDATE SET
                       ts = min(ts, excluded.ts), end_ts = max(end_ts, excluded.end_ts),
                       span_count = span_count + excluded.span_count, error = max(error, excluded.error),
                       root_service = CASE WHEN excluded.root_rank < root_rank THEN excluded.root_service
                                           ELSE root_service END,
                       root_rank = min(root_rank, excluded.root_rank)""",
                    batch.trace_rows,
                )
                conn.executemany("INSERT OR IGNORE INTO terms VALUES (?,?,?,?)", batch.term_rows)
                written += len(batch.span_rows)
            if new_pairs:
                conn.executemany("INSERT OR IGNORE INTO term_pairs VALUES (?,?)", new_pairs)
            if new_names:
                conn.executemany("INSERT OR IGNORE INTO span_names VALUES (?,?)", new_names)
            if new_remotes:
                conn.executemany("INSERT OR IGNORE INTO remote_names VALUES (?,?)", new_remotes)
            if new_autocomplete:
                conn.executemany("INSERT OR IGNORE INTO autocomplete VALUES (?,?)", new_autocomplete)
            self.stats.spans += written
            self._linker.link(conn, batches, now_us)
            self._enforce_retention(now_us)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            # The caches may now name rows that were rolled back; reload them from the database.
            self._known_names = set(conn.execute("SELECT service, name FROM span_names"))
            self._known_remotes = set(conn.execute("SELECT service, remote FROM remote_names"))
            self._known_pairs = set(conn.execute("SELECT service, term FROM term_pairs"))
            self.stats.spans = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
            raise
        self.stats.written += written
        self.stats.write_batches += 1
        return written

    def _enforce_retention(self, now_us: int) -> None:
        deleted = enforce_retention(
            self._writer, self._retention, self.stats.spans, now_us, self._known_pairs
        )
        self.stats.spans -= deleted
        self.stats.expired += deleted
