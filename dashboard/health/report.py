"""What is up and what is down: the health report's pure logic (no Django, no I/O of its own).

A `Check` is a named probe of one source (control plane, tracer, a sidecar's admin API, Redis,
the database, the poller's last run). `run_checks` runs every probe at once in threads and waits
at most `deadline` seconds in all: a probe that has not answered by then is reported down ("no
answer within 2.0 s") and its thread is left to finish on its own socket timeout (each probe has
one). `CheckMemory` remembers each check's last success and last error across reports (per
process, thread-safe). `parts_from_supervisor` reads the supervisor's state document
(`supervisor.json`: `{"updated_at", "parts": {name: {"state", "pid", "restarts", "since",
"last_exit", "last_error"}}}`). Times are UNIX epoch seconds (floats); durations are seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ALL_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any

UP = "up"
DOWN = "down"
# Supervisor states (see the supervisor's contract) that mean "serving".
PART_UP_STATES = frozenset({"running"})
PART_STATES = frozenset({"starting", "running", "backoff", "held", "failed", "stopped"})


class ProbeFailed(Exception):
    """Raised by a probe whose source answered but is not healthy; the message says why."""


@dataclass(frozen=True)
class Check:
    """One probe. `probe()` returns a short detail on success and raises on failure (any
    exception: its message becomes the error). `essential` checks decide the yes/no probe answer."""

    name: str
    kind: str
    probe: Callable[[], str]
    essential: bool = False


@dataclass
class CheckResult:
    name: str
    kind: str
    state: str
    detail: str
    error: str | None
    checked_at: float
    duration_s: float
    essential: bool = False
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None

    @property
    def up(self) -> bool:
        return self.state == UP

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CheckMemory:
    """Last success and last error of each check, as seen by this process. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, dict[str, Any]] = {}

    def record(self, result: CheckResult) -> CheckResult:
        """Fold `result` into the memory and fill its last_* fields from it."""
        with self._lock:
            seen = self._seen.setdefault(result.name, {"success": None, "error": None, "error_at": None})
            if result.up:
                seen["success"] = result.checked_at
            else:
                seen["error"], seen["error_at"] = result.error, result.checked_at
            result.last_success, result.last_error, result.last_error_at = (
                seen["success"],
                seen["error"],
                seen["error_at"],
            )
        return result


def _error_text(error: BaseException) -> str:
    text = str(error).strip()
    return text or type(error).__name__


def run_checks(
    checks: Iterable[Check],
    deadline: float,
    memory: CheckMemory | None = None,
    clock: Callable[[], float] = time.time,
    max_workers: int = 16,
) -> list[CheckResult]:
    """Run every probe concurrently; results in the order of `checks`. Never raises.

    `deadline` (seconds) bounds the whole call, whatever the probes do.
    """
    checks = list(checks)
    if not checks:
        return []
    started_at = clock()
    begun = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(checks))), thread_name_prefix="health")

    def timed(check: Check) -> tuple[str, float]:
        t0 = time.monotonic()
        detail = check.probe()
        return str(detail or ""), time.monotonic() - t0

    futures = [pool.submit(timed, check) for check in checks]
    wait(futures, timeout=deadline, return_when=ALL_COMPLETED)
    # Threads still running finish on their own socket timeouts; nobody waits for them.
    pool.shutdown(wait=False, cancel_futures=True)
    results = []
    for check, future in zip(checks, futures, strict=True):
        if not future.done():
            state, detail, error, took = DOWN, "", f"no answer within {deadline:.1f} s", deadline
        elif future.exception() is not None:
            took = time.monotonic() - begun
            state, detail, error = DOWN, "", _error_text(future.exception())
        else:
            detail, took = future.result()
            state, error = UP, None
        result = CheckResult(
            name=check.name,
            kind=check.kind,
            state=state,
            detail=detail,
            error=error,
            checked_at=started_at,
            duration_s=round(took, 4),
            essential=check.essential,
        )
        results.append(memory.record(result) if memory is not None else result)
    return results


@dataclass(frozen=True)
class PartStatus:
    """One supervised process, as its supervisor last wrote it."""

    name: str
    state: str
    pid: int | None
    restarts: int
    since: float | None
    last_exit: dict[str, Any] | None
    last_error: str | None
    source: str

    @property
    def up(self) -> bool:
        return self.state in PART_UP_STATES

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "up": self.up}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parts_from_supervisor(document: Any, source: str) -> list[PartStatus]:
    """The parts of one `supervisor.json` document (`source` names the file), sorted by name.

    Tolerant of what it does not know: an unknown state is kept as written, missing numbers are
    None (restarts 0); raises ValueError only when the document is not a supervisor state at all.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("parts"), Mapping):
        raise ValueError("not a supervisor state document (no 'parts' object)")
    parts = []
    for name, raw in document["parts"].items():
        raw = raw if isinstance(raw, Mapping) else {}
        pid = raw.get("pid")
        last_exit = raw.get("last_exit")
        parts.append(
            PartStatus(
                name=str(name),
                state=str(raw.get("state") or "unknown"),
                pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
                restarts=int(_number(raw.get("restarts")) or 0),
                since=_number(raw.get("since")),
                last_exit=dict(last_exit) if isinstance(last_exit, Mapping) else None,
                last_error=str(raw["last_error"]) if raw.get("last_error") else None,
                source=source,
            )
        )
    return sorted(parts, key=lambda p: p.name)


@dataclass
class Supervision:
    """The parts of every supervisor file found, or why there are none ("not supervised")."""

    parts: list[PartStatus] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def supervised(self) -> bool:
        return bool(self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "supervised": self.supervised,
            "files": self.files,
            "problems": self.problems,
            "parts": [p.to_dict() for p in self.parts],
        }


def merge_supervision(documents: Iterable[tuple[str, Any]]) -> Supervision:
    """`documents` are (file name, parsed JSON or None when absent, or an Exception when unreadable),
    first one wins on a part name found in several."""
    result = Supervision()
    seen: set[str] = set()
    for source, document in documents:
        if document is None:
            continue
        if isinstance(document, Exception):
            result.problems.append(f"{source}: {_error_text(document)}")
            continue
        try:
            parts = parts_from_supervisor(document, source)
        except ValueError as error:
            result.problems.append(f"{source}: {error}")
            continue
        result.files.append(source)
        for part in parts:
            if part.name not in seen:
                seen.add(part.name)
                result.parts.append(part)
    return result


@dataclass
class HealthReport:
    generated_at: float
    checks: list[CheckResult]
    supervision: Supervision
    # The PromQL the telemetry source ran last, with its last duration and error (see
    # dashboard.sources.prometheus.QueryRecord); empty when the map is not read from Prometheus.
    telemetry_queries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def down(self) -> list[str]:
        """Names of everything that is not up: parts first, then checks."""
        return [p.name for p in self.supervision.parts if not p.up] + [
            c.name for c in self.checks if not c.up
        ]

    @property
    def status(self) -> str:
        """ "ok" when everything is up, else "degraded"."""
        return "ok" if not self.down else "degraded"

    @property
    def essential_ok(self) -> bool:
        """Every essential check is up (what the unauthenticated yes/no probe answers)."""
        return all(c.up for c in self.checks if c.essential)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "generated_at": self.generated_at,
            "down": self.down,
            "supervisor": self.supervision.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
            "telemetry_queries": [dict(q) for q in self.telemetry_queries],
        }


def poll_freshness(
    last_poll: Mapping[str, Any] | None, interval_s: float, now: float, stale_after_intervals: float = 3
) -> str:
    """The poller check: a detail when the last poll finished within `stale_after_intervals`
    poll intervals of `now`, ProbeFailed otherwise. `last_poll` is what the poll records:
    `{"finished_at", "duration_s", "stale_sources": [...], "error": str|None, "error_at"}`."""
    if not last_poll or _number(last_poll.get("finished_at")) is None:
        error = (last_poll or {}).get("error")
        raise ProbeFailed(f"no poll recorded yet{f' (last error: {error})' if error else ''}")
    age = now - float(last_poll["finished_at"])
    error_at = _number(last_poll.get("error_at"))
    if error_at is not None and error_at > float(last_poll["finished_at"]):
        raise ProbeFailed(f"last poll failed: {last_poll.get('error')}; last good poll {age:.1f} s ago")
    if age > stale_after_intervals * interval_s:
        raise ProbeFailed(f"last poll {age:.1f} s ago (polls every {interval_s:g} s)")
    stale = list(last_poll.get("stale_sources") or [])
    took = _number(last_poll.get("duration_s"))
    detail = f"last poll {max(age, 0):.1f} s ago" + (
        f", took {took * 1000:.0f} ms" if took is not None else ""
    )
    if stale:
        detail += f"; unreachable: {', '.join(stale)}"
    return detail
