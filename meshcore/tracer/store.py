"""TraceStore: durable span storage in SQLite (WAL) with retention and Zipkin queries.

Design (measured choices, see benchmarks/bench_tracer.py):
- One writer (`meshcore.tracer.writer.SpanWriter`, in a child process for the service, or a thread)
  owns the write connection. HTTP handlers only validate and `submit()` a batch to a bounded
  in-memory queue (bounded by *spans*, `max_pending_spans`), so memory never grows without limit:
  when the queue is full `submit()` returns False and the caller answers 503 + Retry-After.
  The writer drains several batches per transaction (executemany, WAL, synchronous=NORMAL): one
  fsync-free commit per up to 20k spans is what makes >= 25k spans/s possible in CPython.
- Reads use one connection per reader thread (WAL lets them run beside the writer).
- Tables: `spans` (one row per received span piece; the normalized Zipkin JSON is kept verbatim in
  `json`, so queries return exactly what was sent), `traces` (per-trace start, end, span count,
  error flag, root service: drives search windows and retention order), `terms` (service, term, ts,
  trace id) for annotationQuery on the *indexed* tag keys and on annotation values, `links`
  (per-minute dependency-link aggregates kept by the writer), and small name tables for
  /services, /spans, /remoteServices and autocomplete.
- Only tags whose key is in `indexed_tag_keys` are indexed: indexing every Envoy tag (request ids,
  URLs, addresses) would multiply write cost by ~15. Queries on other keys still work, by checking
  candidate traces found through the service/time index (slower, documented in `find_traces`).
- Retention by age and by span count is enforced by the writer (see `meshcore.tracer.writer`).

Units: span timestamps/durations in µs; `end_ts`/`lookback` in ms (Zipkin API).
Thread-safety: all public methods may be called from any thread.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.process
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

from meshcore.supervisor import RestartPolicy
from meshcore.tracer.assembly import TraceSummary, merge_spans, summarize
from meshcore.tracer.model import DependencyLink, ZipkinSpan, dumps, loads
from meshcore.tracer.queries import QueryRequest, matches
from meshcore.tracer.writer import (
    LINK_BUCKET_US,
    MAX_TERM_LENGTH,
    READER_CACHE_MIB,
    WRITE_BATCH_SPANS,
    PreparedBatch,
    SpanWriter,
    StoreStats,
    connect,
    prepare_batch,
)
from meshcore.tracer.writer_loop import run_writer_loop, writer_process_main

log = logging.getLogger(__name__)

# Envoy's low-cardinality tags plus the usual OpenTelemetry ones; Zipkin's AUTOCOMPLETE_KEYS idea.
DEFAULT_INDEXED_TAG_KEYS: tuple[str, ...] = (
    "error",
    "http.method",
    "http.status_code",
    "response_flags",
    "upstream_cluster",
    "otel.status_code",
    "http.request.method",
    "http.response.status_code",
    "http.route",
)
DEFAULT_AUTOCOMPLETE_KEYS: tuple[str, ...] = (
    "http.method",
    "http.status_code",
    "response_flags",
    "upstream_cluster",
)
_STOP = object()
# How far after its trace's start a span is still looked for by the search indexes (µs).
TRACE_SPREAD_US = 60_000_000
# How many candidate rows the planner reads to estimate how selective an index stream is.
PROBE_ROWS = 2000
# A writer process that dies is started again after this backoff; more than `budget` restarts in
# `budget_window_s` and the store fails (submit refuses, the tracer exits for its supervisor).
WRITER_RESTARTS = RestartPolicy(initial_backoff_s=0.05, max_backoff_s=2.0, budget=10, budget_window_s=60.0)
WRITER_START_TIMEOUT_S = 60.0


# Columns of a get_trace_json row (shared, id, has a parent, JSON).
_ID_COLUMN = itemgetter(1)
_JSON_COLUMN = itemgetter(3)


class TraceStore:
    """Durable Zipkin span store (see module docstring for design, units and thread-safety)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_spans: int = 500_000,
        retention_hours: float = 24.0,
        max_pending_spans: int = 50_000,
        indexed_tag_keys: Iterable[str] = DEFAULT_INDEXED_TAG_KEYS,
        autocomplete_keys: Iterable[str] = DEFAULT_AUTOCOMPLETE_KEYS,
        writer: str = "thread",
    ) -> None:
        """Open (creating if needed) the database at `path`.

        `writer`: "process" (a child process owns the write connection: the service's choice, see
        `meshcore.tracer.writer`), "thread" (a writer thread in this process) or "inline"
        (`submit` writes synchronously; for bulk loads and tools).
        """
        if max_spans <= 0:
            raise ValueError("max_spans must be positive")
        if writer not in ("process", "thread", "inline"):
            raise ValueError(f"writer must be process, thread or inline, got {writer!r}")
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.max_spans = max_spans
        self.retention_us = int(retention_hours * 3600 * 1_000_000)
        self.max_pending_spans = max_pending_spans
        self.autocomplete_keys = tuple(autocomplete_keys)
        # Autocomplete values come from the term index, so autocomplete keys are always indexed.
        self.indexed_tag_keys = frozenset(indexed_tag_keys) | frozenset(self.autocomplete_keys)
        self.mode = writer
        self.stats = StoreStats()
        self._pending_lock = threading.Lock()
        self._idle = threading.Condition(self._pending_lock)
        self._queue: queue.Queue[object] = queue.Queue()
        self._local = threading.local()
        self._closed = False
        self._failed = False
        self._threads: list[threading.Thread] = []
        self._inline: SpanWriter | None = None
        self._inline_lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        # Process mode: spans sent to the writer process and not yet acknowledged (lost if it dies).
        self._in_flight = 0
        self._writer_up = threading.Event()
        self.writer_restarts = 0
        self.lost_spans = 0
        self.writer_last_exit: int | None = None
        self._writer_started = time.monotonic()
        if writer == "process":
            self._start_writer_process()
            self._start_thread(self._send_loop, "tracer-writer-send")
            self._start_thread(self._ack_loop, "tracer-writer-ack")
        else:
            self._inline = SpanWriter(self.path, max_spans=max_spans, retention_us=self.retention_us)
            self.stats.spans = self._inline.stats.spans
            if writer == "thread":
                self._start_thread(self._thread_loop, "tracer-writer")

    def _start_thread(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # ----------------------------------------------------------------------------------- writing
    def prepare(self, spans: list[ZipkinSpan], now_us: int) -> PreparedBatch:
        """Rows for normalized spans with this store's index configuration (any thread)."""
        return prepare_batch(spans, now_us, self.indexed_tag_keys, self.autocomplete_keys)

    def submit(self, spans: list[ZipkinSpan]) -> bool:
        """Queue normalized spans for the writer; False (nothing queued) when over capacity.

        Non-blocking except in "inline" mode. The spans are converted to compact rows here, in the
        caller's thread, so the queue holds strings and tuples rather than nested dicts. Accepted
        spans become visible to queries after the writer commits them (normally well within a
        second; `flush()` waits for it).
        """
        if not spans:
            return True
        if self._inline is not None and self.mode == "inline":
            self.write(spans)
            return True
        with self._pending_lock:
            if self._closed or self._failed or self.stats.pending + len(spans) > self.max_pending_spans:
                return False
            self.stats.pending += len(spans)
        self._queue.put(self.prepare(spans, int(time.time() * 1_000_000)))
        return True

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every span submitted so far is committed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self.stats.pending > 0 and not self._failed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return self.stats.pending == 0

    def write(self, spans: list[ZipkinSpan], *, now_us: int | None = None) -> None:
        """Write normalized spans now and return when committed (bulk loads, tests).

        `now_us` overrides the clock used for spans without timestamp and for age retention
        ("thread"/"inline" modes). In "process" mode this is submit + flush.
        """
        now = now_us if now_us is not None else int(time.time() * 1_000_000)
        if self._inline is None:
            while not self.submit(spans):
                if self._failed or self._closed:
                    raise RuntimeError("tracer writer is not running")
                self.flush(1.0)
            self.flush()
            return
        prepared = self.prepare(spans, now)
        with self._inline_lock:
            self._inline.write([prepared], now)
            self._copy_stats(self._inline.stats)

    def _copy_stats(self, source: StoreStats) -> None:
        self.stats.spans = source.spans
        self.stats.written = source.written
        self.stats.expired = source.expired
        self.stats.write_batches = source.write_batches

    def _drain(self, first: object) -> tuple[list[PreparedBatch], int, bool]:
        """`first` plus whatever is queued, up to about WRITE_BATCH_SPANS; (batches, spans, stop)."""
        stop = first is _STOP
        batches = [first] if isinstance(first, PreparedBatch) else []
        count = len(first.span_rows) if isinstance(first, PreparedBatch) else 0
        while count < WRITE_BATCH_SPANS and not stop:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is _STOP:
                stop = True
            elif isinstance(more, PreparedBatch):
                batches.append(more)
                count += len(more.span_rows)
        return batches, count, stop

    def _release(self, count: int) -> None:
        with self._idle:
            self.stats.pending -= count
            self._idle.notify_all()

    def _thread_loop(self) -> None:
        assert self._inline is not None
        writer = self._inline

        def next_batches(timeout: float) -> tuple[list[PreparedBatch], int, bool]:
            try:
                first = self._queue.get(timeout=timeout)
            except queue.Empty:
                first = None
            return self._drain(first)

        def report(count: int) -> bool:
            self._copy_stats(writer.stats)
            self._release(count)
            return True

        run_writer_loop(writer, next_batches, report, guard=lambda: self._inline_lock)

    def _start_writer_process(self) -> None:
        """Start a writer process and wait for its "ready" (RuntimeError if it does not come)."""
        # spawn, not fork: this process may already hold SQLite handles and threads.
        context = multiprocessing.get_context("spawn")
        inbox_read, inbox = context.Pipe(duplex=False)
        outbox, outbox_write = context.Pipe(duplex=False)
        process = context.Process(
            target=writer_process_main,
            args=(self.path, self.max_spans, self.retention_us, inbox_read, outbox_write),
            name="tracer-writer",
            daemon=True,
        )
        process.start()
        inbox_read.close()
        outbox_write.close()
        try:
            ready = outbox.poll(WRITER_START_TIMEOUT_S)
            message = outbox.recv() if ready else None
        except (OSError, EOFError):
            message = None
        if message is None or message[0] != "ready":
            process.kill()
            raise RuntimeError("tracer writer process did not start")
        self.stats.spans = message[1]
        self._inbox, self._outbox, self._process = inbox, outbox, process
        self._writer_started = time.monotonic()
        self._writer_up.set()

    def _send_loop(self) -> None:
        """Process mode: forward queued batches to the writer process (pickling happens here).

        While the writer is down (being restarted) the batches wait here and in the queue; a batch
        whose send failed never reached the writer and is sent again to the next one.
        """
        while True:
            batches, count, stop = self._drain(self._queue.get())
            while True:
                if not self._writer_up.wait(1.0):
                    if self._failed:
                        self._release(count)
                        return
                    continue
                try:
                    if batches:
                        with self._pending_lock:
                            self._in_flight += count
                        try:
                            self._inbox.send(batches)
                        except BaseException:
                            with self._pending_lock:
                                self._in_flight -= count
                            raise
                    if stop:
                        self._inbox.send(None)
                        return
                    break
                except (OSError, EOFError, ValueError):
                    # The writer died: the ack loop restarts it; these go to the next one.
                    self._writer_up.clear()

    def _ack_loop(self) -> None:
        """Process mode: apply the writer's acknowledgements to `stats` and wake `flush()`; when
        the writer process dies, count what it held as lost and start a new one (with backoff)."""
        recent: list[float] = []
        streak = 0
        while True:
            try:
                message = self._outbox.recv()
            except (OSError, EOFError):
                message = None
            if message is not None and message[0] == "stopped":
                return
            if message is not None:
                _, count, spans, written, expired = message
                with self._pending_lock:
                    self._in_flight -= count
                self.stats.spans = spans
                self.stats.written = written
                self.stats.expired = expired
                self.stats.write_batches += 1 if count else 0
                self._release(count)
                continue
            # The writer process is gone.
            self._writer_up.clear()
            process = self._process
            if process is not None:
                process.join(5)
                self.writer_last_exit = process.exitcode
            with self._pending_lock:
                lost, self._in_flight = self._in_flight, 0
            self.lost_spans += lost
            self._release(lost)
            if self._closed:
                self._fail()  # nothing will restart it: the send loop must not wait for it
                return
            log.error(
                "tracer store: writer process exited (%s); %d accepted spans it held are lost; restarting",
                self.writer_last_exit,
                lost,
            )
            now = time.monotonic()
            recent = [t for t in recent if t > now - WRITER_RESTARTS.budget_window_s]
            if (
                process is not None
                and now - getattr(self, "_writer_started", now) > WRITER_RESTARTS.stable_after_s
            ):
                streak = 0
            while True:
                if len(recent) >= WRITER_RESTARTS.budget:
                    log.error("tracer store: writer restarted %d times in a minute; giving up", len(recent))
                    self._fail()
                    return
                time.sleep(WRITER_RESTARTS.delay(streak))
                streak += 1
                recent.append(time.monotonic())
                if self._closed:
                    return
                try:
                    self._start_writer_process()
                except RuntimeError:
                    log.exception("tracer store: could not restart the writer process")
                    continue
                self.writer_restarts += 1
                log.warning("tracer store: writer process restarted (pid %s)", self._process.pid)
                break

    def writer_state(self) -> dict[str, Any]:
        """The writer's health for /health and /metrics: status UP | DOWN, mode, pid (process
        mode), restarts, lost_spans (accepted spans that died with a writer process), last_exit."""
        if self.mode == "process":
            process = self._process
            up = self._writer_up.is_set() and process is not None and process.is_alive() and not self._failed
            pid = process.pid if process is not None and up else None
        else:
            up = not self._failed and (self.mode == "inline" or any(t.is_alive() for t in self._threads))
            pid = None
        return {
            "status": "UP" if up else "DOWN",
            "mode": self.mode,
            "pid": pid,
            "restarts": self.writer_restarts,
            "lost_spans": self.lost_spans,
            "last_exit": self.writer_last_exit,
        }

    @property
    def failed(self) -> bool:
        """True once the writer could not be kept running: the store accepts no more spans."""
        return self._failed

    def _fail(self) -> None:
        with self._idle:
            self._failed = True
            self._idle.notify_all()

    def close(self, timeout: float = 30.0) -> None:
        """Commit everything queued, stop the writer, close connections. Idempotent."""
        with self._pending_lock:
            if self._closed:
                return
            self._closed = True
        if self._threads:
            self._queue.put(_STOP)
            for thread in self._threads:
                thread.join(timeout)
        if self._process is not None:
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.terminate()
        if self._inline is not None:
            with self._inline_lock:
                self._inline.close()

    # ----------------------------------------------------------------------------------- reading
    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True, cache_mib=READER_CACHE_MIB)
            self._local.conn = conn
        return conn

    def services(self) -> list[str]:
        """Every local service name seen (sorted), as /api/v2/services."""
        return [
            row[0] for row in self._reader().execute("SELECT DISTINCT service FROM span_names ORDER BY 1")
        ]

    def span_names(self, service: str) -> list[str]:
        """Span names of a service (sorted), as /api/v2/spans."""
        rows = self._reader().execute(
            "SELECT name FROM span_names WHERE service = ? AND name != '' ORDER BY 1", (service,)
        )
        return [row[0] for row in rows]

    def remote_services(self, service: str) -> list[str]:
        """remoteEndpoint service names seen from a service (sorted), as /api/v2/remoteServices."""
        rows = self._reader().execute(
            "SELECT remote FROM remote_names WHERE service = ? ORDER BY 1", (service,)
        )
        return [row[0] for row in rows]

    def autocomplete_values(self, key: str) -> list[str]:
        """Values seen for an autocomplete key (sorted); [] for keys not configured."""
        if key not in self.autocomplete_keys:
            return []
        rows = self._reader().execute("SELECT value FROM autocomplete WHERE key = ? ORDER BY 1", (key,))
        return [row[0] for row in rows]

    def _raw_spans(self, trace_id: str) -> list[ZipkinSpan]:
        rows = self._reader().execute("SELECT json FROM spans WHERE trace_id = ?", (trace_id,))
        return [loads(row[0]) for row in rows]

    def has_trace(self, trace_id: str) -> bool:
        """Whether any span of this trace is stored (one index probe). `trace_id` must be normalized."""
        row = self._reader().execute("SELECT 1 FROM spans WHERE trace_id = ? LIMIT 1", (trace_id,)).fetchone()
        return row is not None

    def get_trace(self, trace_id: str) -> list[ZipkinSpan]:
        """The merged spans of one trace ([] when unknown). `trace_id` must be normalized."""
        return merge_spans(self._raw_spans(trace_id))

    def get_trace_json(self, trace_id: str) -> bytes | None:
        """The UTF-8 JSON of `get_trace` (None when unknown), as /api/v2/trace/{id} answers it.

        When no span arrived in pieces and no server half needs its client's parentId (the common
        case), the stored JSON of each span is joined as it is, ordered by timestamp (then client
        half first, then span id): no parse and no re-serialization, which is most of the cost of a
        50,000-span trace. The JSON is read as bytes (decoding it to str only to encode it again
        doubled the read) and whether a span has a parent as a flag (no string per span). When no
        span id repeats (no client/server pair, no pieces: checked in C) nothing else is checked.
        Otherwise the spans are merged as `get_trace` does.
        """
        rows = (
            self._reader()
            .execute(
                "SELECT shared, id, parent_id IS NOT NULL, CAST(json AS BLOB) FROM spans WHERE trace_id = ?"
                " ORDER BY ts, shared, id, rowid",  # rowid: pieces of one span in arrival order
                (trace_id,),
            )
            .fetchall()
        )
        if not rows:
            return None
        if len(set(map(_ID_COLUMN, rows))) == len(rows) or self._whole(rows):
            parts = list(map(_JSON_COLUMN, rows))
            parts[0] = b"[" + parts[0]  # brackets on the ends: the 20 MB of a large trace copied once
            parts[-1] += b"]"
            return b",".join(parts)
        return dumps(merge_spans([loads(row[3]) for row in rows])).encode()

    @staticmethod
    def _whole(rows: list[tuple[int, str, int, bytes]]) -> bool:
        """Whether `get_trace_json` rows whose ids repeat need no merge: each (id, half) once, and
        no server half without a parentId whose client half has one (it would inherit it)."""
        if len({(row[1], row[0]) for row in rows}) != len(rows):
            return False
        orphans = {row[1] for row in rows if row[0] and not row[2]}
        return not orphans or not any(row[2] and not row[0] and row[1] in orphans for row in rows)

    def trace_summary(self, trace_id: str) -> TraceSummary | None:
        """Root service, start and duration (µs, clock skew corrected), span count and error flag
        of one trace (None when unknown): what a trace list in a UI shows."""
        spans = self._raw_spans(trace_id)
        return summarize(spans) if spans else None

    def get_traces(self, trace_ids: Iterable[str]) -> list[list[ZipkinSpan]]:
        """Merged spans of each known trace, in the order asked; unknown ids are skipped."""
        traces = (self.get_trace(trace_id) for trace_id in trace_ids)
        return [trace for trace in traces if trace]

    def trace_count(self) -> int:
        return self._reader().execute("SELECT count(*) FROM traces").fetchone()[0]

    def span_count(self) -> int:
        """Committed spans (rows) in the store."""
        return self.stats.spans

    def _term_stream(
        self, service: str | None, key: str, value: str, start: int, end: int
    ) -> tuple[str, list[Any]]:
        """SQL yielding trace ids (newest span first) with an indexed term of this condition."""
        services = [service] if service is not None else [*self.services(), ""]
        marks = ",".join("?" * len(services))
        if value:
            where = "term = ?"
            args: list[Any] = [f"{key}={value}"]
        else:
            # Key-only: the annotation "key" or any tag "key=value". One index range covers both
            # ("key" < "key=..." < "key>", as '>' follows '='); the few other terms it also spans
            # ("key.sub=...") are removed by the exact check every candidate gets.
            where = "term >= ? AND term < ?"
            args = [key, f"{key}>"]
        sql = f"SELECT trace_id FROM terms WHERE service IN ({marks}) AND {where} AND ts BETWEEN ? AND ? ORDER BY ts DESC"
        return sql, [*services, *args, start, end]

    def _streams(self, request: QueryRequest) -> list[tuple[str, list[Any]]]:
        start, end = request.window_us
        # The window is on trace start, the indexes hold span starts: a trace that starts just
        # before endTs may have its matching span a little later.
        end += TRACE_SPREAD_US
        streams = []
        for key, value in request.annotation_query.items():
            if key in self.indexed_tag_keys and len(value) <= MAX_TERM_LENGTH and len(key) <= MAX_TERM_LENGTH:
                streams.append(self._term_stream(request.service_name, key, value, start, end))
        if request.service_name is not None:
            sql = "SELECT trace_id FROM spans WHERE service = ? AND ts BETWEEN ? AND ?"
            args: list[Any] = [request.service_name, start, end]
            if request.span_name is not None:
                sql += " AND name = ?"
                args.append(request.span_name)
            if request.min_duration is not None:
                sql += " AND duration >= ?"
                args.append(request.min_duration)
            if request.max_duration is not None:
                sql += " AND duration <= ?"
                args.append(request.max_duration)
            streams.append((sql + " ORDER BY ts DESC", args))
        return streams

    def find_traces(self, request: QueryRequest) -> list[list[ZipkinSpan]]:
        """/api/v2/traces: up to `limit` traces matching `request`, newest first, spans merged.

        Plan: candidate trace ids come newest-first from the most selective index stream (the
        term index for indexed annotationQuery keys, the service/time index, or the traces/time
        index), chosen by reading at most PROBE_ROWS rows of each; every candidate is then checked
        with Zipkin's exact predicate (`queries.matches`). Conditions on non-indexed tag keys are
        therefore correct but may need many candidates to be checked.
        """
        start, end = request.window_us
        conn = self._reader()
        streams = self._streams(request)
        if len(streams) > 1:

            def probe(stream: tuple[str, list[Any]]) -> int:
                sql, args = stream
                return conn.execute(f"SELECT count(*) FROM ({sql} LIMIT {PROBE_ROWS})", args).fetchone()[0]

            streams.sort(key=probe)
        if streams:
            sql, args = streams[0]
        else:
            # Candidate traces may start up to a little before the window's spans: the window is on
            # trace start, which is exactly what this index holds.
            sql, args = "SELECT trace_id FROM traces WHERE ts BETWEEN ? AND ? ORDER BY ts DESC", [start, end]
        found: list[tuple[int, list[ZipkinSpan]]] = []
        seen: set[str] = set()
        for (trace_id,) in conn.execute(sql, args):
            if trace_id in seen:
                continue
            seen.add(trace_id)
            spans = self.get_trace(trace_id)
            if spans and matches(request, spans):
                found.append((min(s.get("timestamp", 2**63) for s in spans), spans))
                if len(found) >= request.limit:
                    break
        found.sort(key=lambda item: item[0], reverse=True)
        return [spans for _, spans in found]

    def dependencies(self, end_ts: int, lookback: int) -> list[DependencyLink]:
        """/api/v2/dependencies: calls whose callee span started in [endTs-lookback, endTs] (ms).

        Sums the per-minute links the writer maintains (`meshcore.tracer.writer.DependencyLinker`,
        the rule of `meshcore.tracer.dependencies`), so the window has one-minute resolution and
        the cost does not grow with the number of spans. Links whose caller has not arrived yet
        appear once it does (at most LINK_WAIT_US later, then by the fallback rule).
        """
        start_us, end_us = (end_ts - lookback) * 1000, end_ts * 1000
        rows = self._reader().execute(
            """SELECT parent, child, sum(calls), sum(errors) FROM links
               WHERE bucket BETWEEN ? AND ? GROUP BY parent, child ORDER BY parent, child""",
            (start_us // LINK_BUCKET_US, end_us // LINK_BUCKET_US),
        )
        return [
            {"parent": parent, "child": child, "callCount": calls, "errorCount": errors}
            for parent, child, calls, errors in rows
        ]

    def iter_all_traces(self) -> Iterator[list[ZipkinSpan]]:
        """Every stored trace, merged (for tests and tools; loads one trace at a time)."""
        ids = [row[0] for row in self._reader().execute("SELECT trace_id FROM traces ORDER BY ts")]
        for trace_id in ids:
            yield self.get_trace(trace_id)

    def database_bytes(self) -> int:
        """Size of the database plus its WAL file, in bytes."""
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(self.path + suffix)
        return total
