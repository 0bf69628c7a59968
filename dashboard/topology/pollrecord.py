"""What each poll leaves behind for the health page and /metrics (pure; no Django, no I/O).

The poll records, under its lock in the shared poll state (Redis), two documents:
- `last_poll`: `{"finished_at", "duration_s", "stale_sources", "snapshot_id", "error", "error_at"}`,
  the poller's heartbeat (the health page calls the poller down when it is 3 intervals old);
- `poll_stats`: cumulative counters since the state was created (a Redis restart resets them, which
  Prometheus reads as a counter reset): polls, a histogram of poll durations, and per source
  (`registry`, `status`, `envoy:<node>`) how often it was asked and how often it failed, plus the
  seconds each phase of the last poll took.
Times are epoch seconds, durations seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Upper bounds (seconds) of the poll-duration histogram; the poll runs every second by default.
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def empty_stats() -> dict[str, Any]:
    return {
        "polls": 0,
        "failed_polls": 0,
        "duration_sum": 0.0,
        "buckets": [0] * len(DURATION_BUCKETS),
        "attempts": {},
        "errors": {},
        "phases": {},
    }


def add_poll(
    stats: Mapping[str, Any] | None,
    duration_s: float,
    sources: Iterable[str],
    failed_sources: Iterable[str],
    phases: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """`stats` with one finished poll added (a new dict; `stats` is not changed).

    `sources` are the names the poll asked, `failed_sources` those that did not answer.
    """
    result = empty_stats() if not stats else {**empty_stats(), **stats}
    buckets = list(result["buckets"])
    if len(buckets) != len(DURATION_BUCKETS):  # the buckets changed between versions: restart them
        buckets = [0] * len(DURATION_BUCKETS)
    for index, bound in enumerate(DURATION_BUCKETS):
        if duration_s <= bound:
            buckets[index] += 1
    attempts, errors = dict(result["attempts"]), dict(result["errors"])
    for name in sources:
        attempts[name] = attempts.get(name, 0) + 1
    for name in failed_sources:
        errors[name] = errors.get(name, 0) + 1
    result.update(
        polls=result["polls"] + 1,
        duration_sum=result["duration_sum"] + duration_s,
        buckets=buckets,
        attempts=attempts,
        errors=errors,
        phases={k: round(v, 6) for k, v in (phases or {}).items()},
    )
    return result


def add_failed_poll(stats: Mapping[str, Any] | None) -> dict[str, Any]:
    """`stats` with one poll that raised (nothing stored) counted."""
    result = empty_stats() if not stats else {**empty_stats(), **stats}
    result["failed_polls"] = result["failed_polls"] + 1
    return result
