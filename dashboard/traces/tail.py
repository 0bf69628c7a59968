"""The live tail: find traces that completed since the last read, with a cursor in shared storage.

Plain functions, no Django: the Celery task (dashboard/traces/tasks.py) calls `tail_once` with the
trace source and the Redis state; tests and benchmarks pass their own.

The rule for "complete": a trace is complete when it looks whole — its root span has arrived (a
span is reported when it ends, so the request at the edge is over) and every server half has the
client half it shares its id with (each sidecar flushes its own spans, so a caller's sidecar may
report after its callees') — or else when its span count stayed the same for at least `quiet_s`
seconds (default 1 s) as seen by this reader, i.e. no new span arrived for that long. A span that
arrives after its trace was announced (another sidecar flushing later) announces the trace again
with its new summary: the browser replaces the row. Each read asks the source for the traces that
started in the last `window_s` seconds (default 15 s; a request whose spans arrive later than that
after its start is not tailed) and compares their span counts with the ones remembered from
earlier reads.

The state is one JSON document (`TAIL_KEY`): `cursor_ms` (the start of the last successful read's
window, epoch ms), `last_ok_s` (when that read happened), `pending` {trace id: [span count, first
seen at (s)]}, `done` {trace id: [start (ms), span count announced]} and the last error. Several
workers may run: the state is never kept in a process, and a lock lets only one read at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dashboard.sources.errors import SourceError
from dashboard.sources.traces import TraceSource
from dashboard.topology.state import try_lock
from dashboard.traces.search import TraceFacts
from dashboard.traces.service import convert_all, summary
from meshcore.tracer.model import dumps, loads

TAIL_KEY = "tail"
# After an outage the tail reads at most this far back (s): older traces are history, not a tail.
MAX_CATCH_UP_S = 300.0


class TailState(Protocol):
    def load(self, key: str) -> Any | None: ...

    def save(self, key: str, value: Any) -> None: ...

    def lock(self, timeout: float):
        """Context manager yielding True when this caller holds the tail lock, False if another does."""
        ...


@dataclass(frozen=True)
class TailConfig:
    """Seconds, except `limit` (traces per read)."""

    interval_s: float = 1.0
    quiet_s: float = 1.0
    window_s: float = 15.0
    limit: int = 500


@dataclass
class TailResult:
    """What one read found: events for completed traces and the tail's status."""

    completed: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)


def looks_whole(spans: list[dict[str, Any]]) -> bool:
    """Whether the trace's root span (no parent, not a shared server half) has been reported and
    every shared server half's client half (same span id, reported by the caller) has too."""
    own_ids = {span.get("id") for span in spans if not span.get("shared")}
    has_root = any("parentId" not in span and not span.get("shared") for span in spans)
    return has_root and all(span.get("id") in own_ids for span in spans if span.get("shared"))


def completed_event(trace: Any) -> dict[str, Any]:
    """`traces.completed` data: the Summary, and the facts the consumer filters subscriptions on."""
    return {"summary": summary(trace), "facts": TraceFacts.of(trace).to_dict()}


def tail_once(
    source: TraceSource, state: TailState, config: TailConfig, clock: Callable[[], float] = time.time
) -> TailResult:
    """One read of the tail (see the module's rules); the state is loaded and saved here.

    Never raises for a failing source: the status says `source_down` and keeps the error.
    """
    now_s = clock()
    now_ms = int(now_s * 1000)
    window_ms = int(config.window_s * 1000)
    doc = state.load(TAIL_KEY) or {}
    pending: dict[str, list] = doc.get("pending", {})
    done: dict[str, list[int]] = doc.get("done", {})
    last_ok_s: float | None = doc.get("last_ok_s")
    cursor_ms = int(doc.get("cursor_ms") or now_ms - window_ms)
    read_from_ms = max(min(cursor_ms, now_ms - window_ms), now_ms - int(MAX_CATCH_UP_S * 1000))
    result = TailResult()
    error: str | None = None
    hit_limit = False
    try:
        raw = source.search(end_ts_ms=now_ms, lookback_ms=max(1, now_ms - read_from_ms), limit=config.limit)
    except SourceError as failure:
        error = str(failure)
    else:
        hit_limit = len(raw) >= config.limit
        changed = []
        for spans in raw:
            if not spans:
                continue
            trace_id = spans[0].get("traceId")
            if not trace_id:
                continue
            count = len(spans)
            announced = done.get(trace_id)
            if announced is not None:
                if count != announced[1]:
                    changed.append(spans)  # late spans: announce the trace again
                continue
            seen = pending.get(trace_id)
            if looks_whole(spans):
                changed.append(spans)
            elif seen is not None and seen[0] == count:
                if now_s - seen[1] >= config.quiet_s:
                    changed.append(spans)
            else:
                pending[trace_id] = [count, now_s]
        counts = {spans[0]["traceId"]: len(spans) for spans in changed}
        for trace in convert_all(changed):
            pending.pop(trace.trace_id, None)
            done[trace.trace_id] = [trace.start_us // 1000, counts[trace.trace_id]]
            result.completed.append(completed_event(trace))
        result.completed.sort(key=lambda e: e["summary"]["start_us"])
        last_ok_s = now_s
        cursor_ms = now_ms - window_ms
        # Forget what fell out of the window: it will not be read again.
        pending = {k: v for k, v in pending.items() if now_s - v[1] <= config.window_s + config.quiet_s}
        done = {k: v for k, v in done.items() if v[0] >= read_from_ms - window_ms}
    saved = {
        "cursor_ms": cursor_ms,
        "last_ok_s": last_ok_s,
        "read_at_s": now_s,
        "hit_limit": hit_limit,
        "pending": pending,
        "done": done,
        "error": error,
    }
    state.save(TAIL_KEY, saved)
    result.status = tail_status(saved, now_s, config)
    return result


def tail_status(saved: dict[str, Any] | None, now_s: float, config: TailConfig) -> dict[str, Any]:
    """`traces.status` data from the saved state, as of `now_s`.

    behind: the last read hit `limit`, or the last successful read is older than three intervals
    (at least 3 s: the source is down or no worker runs the tail); source_down: the last read
    failed (`error` says why). Without any saved state the tail has never run: behind.
    """
    if not saved:
        return {
            "behind": True,
            "source_down": False,
            "error": "the live tail has not run yet",
            "cursor_age_s": 0.0,
        }
    last_ok_s = saved.get("last_ok_s")
    reference = last_ok_s if last_ok_s is not None else saved.get("read_at_s", now_s)
    cursor_age_s = round(max(0.0, now_s - reference), 3)
    stale = cursor_age_s > max(3 * config.interval_s, 3.0)
    error = saved.get("error")
    return {
        "behind": bool(saved.get("hit_limit")) or stale,
        "source_down": error is not None,
        "error": error,
        "cursor_age_s": cursor_age_s,
    }


class RedisTailState:
    """The tail's state in Redis under `prefix`; `client` is a redis.Redis."""

    def __init__(self, client, prefix: str = "meshscope:traces:") -> None:
        self.client = client
        self.prefix = prefix

    def load(self, key: str) -> Any | None:
        raw = self.client.get(self.prefix + key)
        return None if raw is None else loads(raw)

    def save(self, key: str, value: Any) -> None:
        self.client.set(self.prefix + key, dumps(value))

    def lock(self, timeout: float):
        return try_lock(self.client, self.prefix + "tail-lock", timeout)
