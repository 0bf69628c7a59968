"""Dependency links kept incrementally by the writer (the rule of `meshcore.tracer.dependencies`).

Runs inside the writer's transaction; holds the spans still waiting for their counterpart in
memory (bounded). Units: µs.
"""

from __future__ import annotations

import sqlite3
from collections import deque

from meshcore.tracer.rows import PreparedBatch, SpanRow

# Dependency links are aggregated per minute of callee start time (the /dependencies resolution).
LINK_BUCKET_US = 60_000_000
# A callee whose caller has not arrived yet waits this long (writer clock) before its fallback applies.
LINK_WAIT_US = 60_000_000
# At most this many spans wait for their counterpart (bounded memory; the oldest give up first).
MAX_WAITING_LINKS = 200_000


_CALLEE_KINDS = ("SERVER", "CONSUMER")
_CALLER_KINDS = ("CLIENT", "PRODUCER")


class _Waiting:
    """A span whose dependency link needs a span that has not arrived yet."""

    __slots__ = ("arrived", "done", "row")

    def __init__(self, row: SpanRow, arrived: int) -> None:
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
                key = (row.trace_id, row.id)
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
                kind = row.kind
                if kind in _CALLEE_KINDS:
                    for client_key in (key, (row.trace_id, row.parent_id)):
                        client = self._clients.pop(client_key, None)
                        if client is not None:
                            client.done = True  # answered by an instrumented server
                    caller = self._find_caller(conn, row)
                    if caller is not None:
                        self._count_callee(counts, row, caller)
                    else:
                        item = _Waiting(row, arrived)
                        self._callees.setdefault(key, []).append(item)
                        if row.parent_id:
                            self._callees.setdefault((row.trace_id, row.parent_id), []).append(item)
                        self._order.append(item)
                elif (
                    kind in _CALLER_KINDS
                    and row.remote_service
                    and row.remote_service != row.service
                    and row.service
                ):
                    answered = conn.execute(
                        "SELECT 1 FROM spans WHERE trace_id = ? AND kind IN ('SERVER', 'CONSUMER')"
                        " AND (id = ? OR parent_id = ?) LIMIT 1",
                        (row.trace_id, row.id, row.id),
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
            if row.kind in _CALLEE_KINDS:
                for key in ((row.trace_id, row.id), (row.trace_id, row.parent_id)):
                    waiting = self._callees.get(key)
                    if waiting is not None:
                        waiting[:] = [other for other in waiting if other is not item]
                        if not waiting:
                            del self._callees[key]
                if row.remote_service:
                    self._count(counts, row.ts, row.remote_service, row.service, bool(row.error))
            else:
                self._clients.pop((row.trace_id, row.id), None)
                self._count(counts, row.ts, row.service, row.remote_service, bool(row.error))

    @staticmethod
    def _completes(callee: SpanRow, row: SpanRow) -> bool:
        """Is `row` the caller `callee` waits for? Same id: only a client half; else the parent."""
        if row.service is None:
            return False
        if row.id == callee.id:
            return row.kind in _CALLER_KINDS and not row.shared
        return True

    @staticmethod
    def _find_caller(conn: sqlite3.Connection, callee: SpanRow) -> SpanRow | None:
        """The client half with the callee's id, else the parent (its server half first)."""
        rows = conn.execute(
            "SELECT trace_id, id, parent_id, kind, NULL, service, remote_service, ts, NULL, shared, error, NULL"
            " FROM spans WHERE trace_id = ? AND id = ? AND shared = 0 AND kind IN ('CLIENT', 'PRODUCER')"
            " AND service IS NOT NULL LIMIT 1",
            (callee.trace_id, callee.id),
        ).fetchone()
        if rows is None and callee.parent_id:
            rows = conn.execute(
                "SELECT trace_id, id, parent_id, kind, NULL, service, remote_service, ts, NULL, shared, error, NULL"
                " FROM spans WHERE trace_id = ? AND id = ? AND service IS NOT NULL ORDER BY shared DESC LIMIT 1",
                (callee.trace_id, callee.parent_id),
            ).fetchone()
        return SpanRow(*rows) if rows is not None else None

    def _count_callee(
        self, counts: dict[tuple[int, str, str], list[int]], callee: SpanRow, caller: SpanRow
    ) -> None:
        if caller.service is None:
            return
        is_client = caller.kind in _CALLER_KINDS and not caller.shared
        error = bool(callee.error) or (is_client and bool(caller.error))
        self._count(counts, callee.ts, caller.service, callee.service, error)

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
