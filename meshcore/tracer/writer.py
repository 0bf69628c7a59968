"""The single SQLite writer: turns prepared batches into rows, enforces retention.

`SpanWriter` owns the only write connection. It runs either in a thread of the serving process
(tests, embedding) or, for the service, in a child process (`writer_process_main`): measurement on a
2-core machine showed the writer thread and the event loop fighting for the GIL (SQLite releases and
re-takes it for every row), which capped ingest well below 25k spans/s; in its own process the
writer's SQLite work runs truly in parallel with HTTP parsing and validation. Batches cross the
process boundary as `PreparedBatch` (tuples of strings, cheap to pickle).

Retention (enforced after every write and every second when idle): by age (trace start older than
`retention_us`) and by count (`max_spans`): when the count exceeds the cap the oldest traces (by
start time) are deleted until it is at most 98% of the cap, so committed state never holds more than
`max_spans` spans. Units: µs.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sqlite3
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from meshcore.tracer.model import ZipkinSpan, dumps

log = logging.getLogger(__name__)

# Longer values are not indexed (they would bloat the index); queries on them use the slow path.
MAX_TERM_LENGTH = 200
# Per key, at most this many autocomplete values are remembered (bounded memory).
MAX_AUTOCOMPLETE_VALUES = 1000
# Count retention deletes down to this fraction of the cap so deletes happen in chunks.
RETENTION_LOW_WATER = 0.98
# The writer commits at most about this many spans per transaction (bigger = cheaper per span).
WRITE_BATCH_SPANS = 20_000
# Dependency links are aggregated per minute of callee start time (the /dependencies resolution).
LINK_BUCKET_US = 60_000_000
# A callee whose caller has not arrived yet waits this long (writer clock) before its fallback applies.
LINK_WAIT_US = 60_000_000
# At most this many spans wait for their counterpart (bounded memory; the oldest give up first).
MAX_WAITING_LINKS = 200_000
WRITER_CACHE_MIB = 64
READER_CACHE_MIB = 8

SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    id TEXT NOT NULL,
    parent_id TEXT,
    kind TEXT,
    name TEXT,
    service TEXT,
    remote_service TEXT,
    ts INTEGER NOT NULL,          -- µs; ingest time when the span had no timestamp
    duration INTEGER,
    shared INTEGER NOT NULL,
    error INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS spans_by_trace ON spans (trace_id, id);
CREATE INDEX IF NOT EXISTS spans_by_service_ts ON spans (service, ts);
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    ts INTEGER NOT NULL,          -- µs, earliest span start
    end_ts INTEGER NOT NULL,      -- µs, latest span end
    span_count INTEGER NOT NULL,
    error INTEGER NOT NULL,
    root_rank INTEGER NOT NULL,   -- 0 parentless non-shared span seen, 1 parentless shared, 2 none
    root_service TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS traces_by_ts ON traces (ts);
CREATE TABLE IF NOT EXISTS terms (
    service TEXT NOT NULL,
    term TEXT NOT NULL,           -- "key=value" for a tag, "value" for an annotation
    ts INTEGER NOT NULL,
    trace_id TEXT NOT NULL,
    PRIMARY KEY (service, term, ts, trace_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS term_pairs (service TEXT NOT NULL, term TEXT NOT NULL, PRIMARY KEY (service, term)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS span_names (service TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (service, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS remote_names (service TEXT NOT NULL, remote TEXT NOT NULL, PRIMARY KEY (service, remote)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS autocomplete (key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (key, value)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS links (
    bucket INTEGER NOT NULL,      -- callee span start // LINK_BUCKET_US
    parent TEXT NOT NULL,
    child TEXT NOT NULL,
    calls INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    PRIMARY KEY (bucket, parent, child)
) WITHOUT ROWID;
"""


def connect(path: str, *, readonly: bool, cache_mib: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    # Page cache per connection (the writer's holds the hot index pages that random trace ids touch);
    # no mmap, since mapped pages count in RSS.
    conn.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
    conn.execute("PRAGMA temp_store=MEMORY")
    if readonly:
        conn.execute("PRAGMA query_only=1")
    return conn


@dataclass(frozen=True)
class PreparedBatch:
    """Rows for one submitted batch, built outside the writer (see `TraceStore.prepare`)."""

    span_rows: list[tuple[Any, ...]]
    trace_rows: list[tuple[Any, ...]]
    term_rows: list[tuple[str, str, int, str]]
    names: set[tuple[str, str]]
    remotes: set[tuple[str, str]]
    tag_values: set[tuple[str, str]]


@dataclass
class StoreStats:
    """Counters for /metrics. All monotonically increasing except the gauges `spans`, `pending`."""

    spans: int = 0
    pending: int = 0
    written: int = 0
    expired: int = 0
    write_batches: int = 0


def prepare_batch(
    spans: list[ZipkinSpan], now_us: int, indexed: frozenset[str], autocomplete: tuple[str, ...]
) -> PreparedBatch:
    """Turn normalized spans into rows for `SpanWriter.write`. Pure; any thread.

    `now_us` stands in for a missing span timestamp in the index columns (the stored JSON keeps the
    span as sent). Tags are indexed when their key is in `indexed`; values of `autocomplete` keys
    are collected for /api/v2/autocompleteValues.
    """
    span_rows: list[tuple[Any, ...]] = []
    traces: dict[str, list[Any]] = {}
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
            (
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
        trace_rows=[(trace_id, *summary) for trace_id, summary in traces.items()],
        term_rows=[(service, term, ts, trace_id) for (service, term, trace_id), ts in terms.items()],
        names=names,
        remotes=remotes,
        tag_values=tag_values,
    )


class SpanWriter:
    """Owns the write connection and the caches that avoid re-inserting known names. Not thread-safe:
    one SpanWriter is used by exactly one thread at a time."""

    def __init__(self, path: str, *, max_spans: int, retention_us: int) -> None:
        self.max_spans = max_spans
        self.retention_us = retention_us
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
        """Delete traces older than the retention age, then the oldest traces beyond the span cap."""
        conn = self._writer
        oldest = conn.execute("SELECT min(ts) FROM traces").fetchone()[0]
        age_cutoff = now_us - self.retention_us
        if oldest is not None and oldest < age_cutoff:
            self._delete_traces_before(age_cutoff, age_cutoff)
        if self.stats.spans <= self.max_spans:
            return
        target = int(self.max_spans * RETENTION_LOW_WATER)
        excess = self.stats.spans - target
        freed = 0
        cutoff: int | None = None
        for ts, count in conn.execute("SELECT ts, span_count FROM traces ORDER BY ts"):
            if freed >= excess and ts != cutoff:
                break
            freed += count
            cutoff = ts
        if cutoff is not None:
            self._delete_traces_before(cutoff + 1, age_cutoff)

    def _delete_traces_before(self, cutoff_us: int, now_age_cutoff: int) -> None:
        """Delete every trace whose start is before `cutoff_us`, with its spans and index terms.

        Terms with ts < cutoff belong only to deleted traces: a surviving trace starts at or after
        the cutoff and none of its spans starts before its trace start. Terms of deleted spans that
        started after the cutoff stay until a later pass with a later cutoff; they are harmless,
        because every search candidate is checked against the stored spans.
        """
        conn = self._writer
        ids = [(row[0],) for row in conn.execute("SELECT trace_id FROM traces WHERE ts < ?", (cutoff_us,))]
        if not ids:
            return
        before = conn.total_changes
        conn.executemany("DELETE FROM spans WHERE trace_id = ?", ids)
        deleted_spans = conn.total_changes - before
        conn.execute("DELETE FROM traces WHERE ts < ?", (cutoff_us,))
        # Links are aggregates (like Zipkin's separate dependency store): they follow the age limit,
        # not the span-count cap, so the dependency graph keeps its history while spans rotate.
        if cutoff_us <= now_age_cutoff:
            conn.execute("DELETE FROM links WHERE bucket < ?", (cutoff_us // LINK_BUCKET_US,))
        conn.executemany(
            "DELETE FROM terms WHERE service = ? AND term = ? AND ts < ?",
            [(service, term, cutoff_us) for service, term in self._known_pairs],
        )
        self.stats.spans -= deleted_spans
        self.stats.expired += deleted_spans


# Column positions in PreparedBatch.span_rows (the `spans` table order).
_TRACE, _ID, _PARENT, _KIND, _SERVICE, _REMOTE, _TS, _SHARED, _ERROR = 0, 1, 2, 3, 5, 6, 7, 9, 10
_CALLEE_KINDS = ("SERVER", "CONSUMER")
_CALLER_KINDS = ("CLIENT", "PRODUCER")


class _Waiting:
    """A span whose dependency link needs a span that has not arrived yet."""

    __slots__ = ("arrived", "done", "row")

    def __init__(self, row: tuple[Any, ...], arrived: int) -> None:
        self.row = row
        self.arrived = arrived
        self.done = False


class DependencyLinker:
    """Incremental version of the rule in `meshcore.tracer.dependencies`, run by the writer.

    Computing links at query time meant one index lookup per callee span in the window (about
    300 ms for an hour at a million stored spans); here each span is linked once, when written,
    and /api/v2/dependencies only sums per-minute `links` rows.

    Spans arrive in any order (Envoy's inbound sidecar often reports the server half before the
    outbound sidecar reports the client half), so:
    - a callee (SERVER/CONSUMER) span looks up its caller in the store (the current batch is
      already inserted): the client half with its id, else its parent span. Found: one call is
      counted in the minute of the callee's start. Not found: it waits, keyed by the ids it needs,
      and is linked when such a span is written. After LINK_WAIT_US it falls back to its
      remoteEndpoint service, or is dropped (nothing to link to);
    - a client span with a remoteEndpoint waits LINK_WAIT_US for a callee answering it; if none
      arrives it counts as a call to that remote service (an uninstrumented server).
    Waiting state lives in memory (bounded by MAX_WAITING_LINKS) and is settled on close.
    """

    def __init__(self) -> None:
        self._callees: dict[tuple[str, str], list[_Waiting]] = {}
        self._clients: dict[tuple[str, str], _Waiting] = {}
        self._order: deque[_Waiting] = deque()

    def link(self, conn: sqlite3.Connection, batches: list[PreparedBatch], now_us: int | None) -> None:
        """Link the batches' spans (already inserted in `conn`'s open transaction) and settle
        overdue waiters (all of them when `now_us` is None). Writes `links` rows."""
        counts: dict[tuple[int, str, str], list[int]] = {}
        arrived = now_us if now_us is not None else 0
        for batch in batches:
            for row in batch.span_rows:
                key = (row[_TRACE], row[_ID])
                # Spans that complete someone else's link.
                waiting = self._callees.get(key)
                if waiting:
                    still = []
                    for item in waiting:
                        if item.done:
                            continue
                        if self._completes(item.row, row):
                            self._count_callee(counts, item.row, row)
                            item.done = True
                        else:
                            still.append(item)
                    if still:
                        self._callees[key] = still
                    else:
                        del self._callees[key]
                kind = row[_KIND]
                if kind in _CALLEE_KINDS:
                    for client_key in (key, (row[_TRACE], row[_PARENT])):
                        client = self._clients.pop(client_key, None)
                        if client is not None:
                            client.done = True  # answered by an instrumented server
                    caller = self._find_caller(conn, row)
                    if caller is not None:
                        self._count_callee(counts, row, caller)
                    else:
                        item = _Waiting(row, arrived)
                        self._callees.setdefault(key, []).append(item)
                        if row[_PARENT]:
                            self._callees.setdefault((row[_TRACE], row[_PARENT]), []).append(item)
                        self._order.append(item)
                elif (
                    kind in _CALLER_KINDS and row[_REMOTE] and row[_REMOTE] != row[_SERVICE] and row[_SERVICE]
                ):
                    answered = conn.execute(
                        "SELECT 1 FROM spans WHERE trace_id = ? AND kind IN ('SERVER', 'CONSUMER')"
                        " AND (id = ? OR parent_id = ?) LIMIT 1",
                        (row[_TRACE], row[_ID], row[_ID]),
                    ).fetchone()
                    if answered is None:
                        item = _Waiting(row, arrived)
                        self._clients[key] = item
                        self._order.append(item)
        self._settle(counts, now_us)
        if counts:
            conn.executemany(
                """INSERT INTO links VALUES (?,?,?,?,?) ON CONFLICT(bucket, parent, child) DO UPDATE SET
                   calls = calls + excluded.calls, errors = errors + excluded.errors""",
                [
                    (bucket, parent, child, calls, errors)
                    for (bucket, parent, child), (calls, errors) in counts.items()
                ],
            )

    def _settle(self, counts: dict[tuple[int, str, str], list[int]], now_us: int | None) -> None:
        order = self._order
        while order and (
            now_us is None or len(order) > MAX_WAITING_LINKS or order[0].arrived <= now_us - LINK_WAIT_US
        ):
            item = order.popleft()
            if item.done:
                continue
            item.done = True
            row = item.row
            if row[_KIND] in _CALLEE_KINDS:
                for key in ((row[_TRACE], row[_ID]), (row[_TRACE], row[_PARENT])):
                    waiting = self._callees.get(key)
                    if waiting is not None:
                        waiting[:] = [other for other in waiting if other is not item]
                        if not waiting:
                            del self._callees[key]
                if row[_REMOTE]:
                    self._count(counts, row[_TS], row[_REMOTE], row[_SERVICE], bool(row[_ERROR]))
            else:
                self._clients.pop((row[_TRACE], row[_ID]), None)
                self._count(counts, row[_TS], row[_SERVICE], row[_REMOTE], bool(row[_ERROR]))

    @staticmethod
    def _completes(callee: tuple[Any, ...], row: tuple[Any, ...]) -> bool:
        """Is `row` the caller `callee` waits for? Same id: only a client half; else the parent."""
        if row[_SERVICE] is None:
            return False
        if row[_ID] == callee[_ID]:
            return row[_KIND] in _CALLER_KINDS and not row[_SHARED]
        return True

    @staticmethod
    def _find_caller(conn: sqlite3.Connection, callee: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The client half with the callee's id, else the parent (its server half first)."""
        rows = conn.execute(
            "SELECT trace_id, id, parent_id, kind, NULL, service, remote_service, ts, NULL, shared, error"
            " FROM spans WHERE trace_id = ? AND id = ? AND shared = 0 AND kind IN ('CLIENT', 'PRODUCER')"
            " AND service IS NOT NULL LIMIT 1",
            (callee[_TRACE], callee[_ID]),
        ).fetchone()
        if rows is None and callee[_PARENT]:
            rows = conn.execute(
                "SELECT trace_id, id, parent_id, kind, NULL, service, remote_service, ts, NULL, shared, error"
                " FROM spans WHERE trace_id = ? AND id = ? AND service IS NOT NULL ORDER BY shared DESC LIMIT 1",
                (callee[_TRACE], callee[_PARENT]),
            ).fetchone()
        return rows

    def _count_callee(
        self, counts: dict[tuple[int, str, str], list[int]], callee: tuple[Any, ...], caller: tuple[Any, ...]
    ) -> None:
        if caller[_SERVICE] is None:
            return
        is_client = caller[_KIND] in _CALLER_KINDS and not caller[_SHARED]
        error = bool(callee[_ERROR]) or (is_client and bool(caller[_ERROR]))
        self._count(counts, callee[_TS], caller[_SERVICE], callee[_SERVICE], error)

    @staticmethod
    def _count(
        counts: dict[tuple[int, str, str], list[int]],
        ts: int,
        parent: str | None,
        child: str | None,
        error: bool,
    ) -> None:
        if not parent or not child or parent == child:
            return
        entry = counts.setdefault((ts // LINK_BUCKET_US, parent, child), [0, 0])
        entry[0] += 1
        entry[1] += error


def writer_process_main(path: str, max_spans: int, retention_us: int, inbox: Any, outbox: Any) -> None:
    """Child-process entry: receive lists of PreparedBatch on `inbox`, write, report on `outbox`.

    Messages out: ("ready", spans), ("ack", n_written, spans, written_total, expired_total) after
    each transaction (also with n_written=0 after idle retention), ("stopped",) at the end.
    A None message means: write what is left and stop.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Ctrl-C or a signal to the whole process group must not kill the writer mid-transaction: the
    # serving process decides when to stop (None message), and if it dies the pipe's EOF stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    writer = SpanWriter(path, max_spans=max_spans, retention_us=retention_us)
    outbox.send(("ready", writer.stats.spans))
    stop = False
    last_idle = time.monotonic()
    while not stop:
        batches: list[PreparedBatch] = []
        count = 0
        if inbox.poll(1.0):
            while True:
                try:
                    message = inbox.recv()
                except EOFError:
                    # The serving process is gone (killed): commit what we have and stop.
                    message = None
                if message is None:
                    stop = True
                    break
                batches.extend(message)
                count += sum(len(batch.span_rows) for batch in message)
                if count >= WRITE_BATCH_SPANS or not inbox.poll(0):
                    break
        now = int(time.time() * 1_000_000)
        try:
            if batches:
                writer.write_isolating(batches, now)
            elif time.monotonic() - last_idle >= 1.0:
                last_idle = time.monotonic()
                writer.idle(now)
        except Exception:
            # Losing a batch must be loud, never silent; the writer keeps serving.
            log.exception("tracer writer: failed to write %d spans", count)
        stats = writer.stats
        try:
            outbox.send(("ack", count, stats.spans, stats.written, stats.expired))
        except OSError:
            stop = True  # nobody is listening any more
    writer.close()
    with contextlib.suppress(OSError):
        outbox.send(("stopped",))
