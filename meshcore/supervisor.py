"""One process supervisor for the whole project: the mesh's children and the dashboard's stack.

What it does, in the terms Kubernetes users know:
- **start** a child (`ProcessSpec`) in its own session, output appended to its log file;
- **readiness**: an optional check (an HTTP URL, over TCP or a Unix socket; a TCP port; or any
  callable) polled after every start until it passes (bounded by `ready_timeout_s`);
- **restart** a child that exits on its own, after an exponential backoff with jitter
  (`RestartPolicy`); more than `budget` restarts within `budget_window_s` seconds and the child is
  "failed" (no more restarts until `release`). A child that stayed up `stable_after_s` starts its
  backoff over. A spawn that raises (binary gone, bad cwd) counts as a failed start: reported in
  `last_error` and retried under the same budget; it never stops the watcher;
- **hold / release** (`meshcore stop|start NAME`): a held child is stopped and not respawned; a hold
  during a backoff takes effect at once and returns promptly;
- **exit reports**: `last_exit` = exit code or signal and the wall-clock time;
- **parent-death cleanup**: every child gets PR_SET_PDEATHSIG (Linux), so a SIGKILLed launcher
  leaves no child behind; on a normal stop each child's process group is killed after it exits,
  which also takes whatever grandchildren it left;
- **state file**: on every state change `<state_dir>/supervisor.json` is replaced atomically
  (write to a temporary file, then rename) with `{"updated_at", "pid" (the supervising process),
  "parts": {name: {"state", "pid", "restarts", "since", "last_exit", "last_error"}}}` (times in
  epoch seconds). When a supervising process dies without writing it, whoever supervises *that*
  process marks the file's parts stopped (`mark_orphaned`);
- **single instance**: `InstanceLock` (an flock on `<state_dir>/<name>.pid`, released by the
  kernel whatever way the holder dies) lets a second launcher say clearly that one is running.

States: starting (spawned, readiness pending) -> running -> backoff (exited, waiting to restart) |
held (by an operator) | failed (restart budget spent) | stopped (supervisor stopping).

Pure Python with asyncio; imports nothing from the rest of the project. One event loop: every
method must be called from the loop that called `start` (not thread-safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import json
import logging
import os
import random
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
STATES = ("starting", "running", "backoff", "held", "failed", "stopped")
STATE_FILE = "supervisor.json"

ReadyCheck = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class RestartPolicy:
    """Backoff and budget. Seconds throughout.

    The n-th consecutive restart waits min(max_backoff_s, initial_backoff_s * 2**n), spread by
    +-`jitter` (a fraction) so that parts that died together do not restart in lockstep.
    """

    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0
    jitter: float = 0.2
    budget: int = 10
    budget_window_s: float = 60.0
    stable_after_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Backoff before restart number `attempt` (0-based) of a streak, jitter included."""
        base = min(self.max_backoff_s, self.initial_backoff_s * (2 ** min(attempt, 30)))
        spread = (rng or random).uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        return max(0.0, base * (1.0 + spread))


@dataclass(frozen=True)
class ProcessSpec:
    """A child to keep running.

    `kind` and `workload` are labels for callers (the mesh uses kind app | sidecar | gateway | tracer
    and links sidecars and apps to their registry workload). Readiness: `ready_check` if given, else
    `ready_url` (200 wanted; over the Unix socket `ready_socket` when set, as for an Envoy admin
    API), else `ready_port` (a TCP connect to 127.0.0.1); none of them means ready once spawned.
    `stop_signal` asks the child to stop; after `stop_timeout_s` its process group gets SIGKILL.
    `death_signal` is what the kernel sends the child when the supervising process dies.
    """

    name: str
    args: Sequence[str]
    log_path: Path
    kind: str = "process"
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    workload: str = ""
    ready_url: str = ""
    ready_socket: str = ""
    ready_port: int = 0
    ready_check: ReadyCheck | None = None
    ready_timeout_s: float = 60.0
    stop_signal: int = signal.SIGTERM
    stop_timeout_s: float = 10.0
    death_signal: int = signal.SIGTERM
    # Replaces os.environ as the base of the child's environment when set.
    base_env: dict[str, str] | None = None
    # Its name in supervisor.json when that differs from `name` (the mesh's API keeps older names).
    part_name: str = ""


@dataclass
class ExitReport:
    """How a child ended: `code` for a normal exit, `signal` when a signal killed it; `at` epoch s."""

    code: int | None
    signal: int | None
    at: float

    @classmethod
    def from_returncode(cls, returncode: int) -> ExitReport:
        if returncode < 0:
            return cls(code=None, signal=-returncode, at=time.time())
        return cls(code=returncode, signal=None, at=time.time())

    @property
    def returncode(self) -> int:
        """subprocess's convention: negative signal number when killed by a signal."""
        return -self.signal if self.signal is not None else (self.code or 0)

    def describe(self) -> str:
        if self.signal is not None:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(self.signal).name}"
            return f"killed by signal {self.signal}"
        return f"exited with {self.code}"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "signal": self.signal, "at": self.at}


@dataclass
class ManagedProcess:
    """One supervised child and what is known about it. Read by callers; written by the supervisor."""

    spec: ProcessSpec
    process: asyncio.subprocess.Process | None = None
    state: str = "starting"
    since: float = field(default_factory=time.time)
    restarts: int = 0
    ready: bool = False
    held: bool = False
    # Gave up after its restart budget: not respawned until released.
    failed: bool = False
    # The current process's exit has been recorded (so it is reported once).
    exit_recorded: bool = False
    last_exit: ExitReport | None = None
    last_error: str | None = None
    last_restart_at: float | None = None
    started_at: float = 0.0  # monotonic
    # Set to interrupt a backoff or a held/failed wait (hold, release, stop).
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    recent_restarts: deque[float] = field(default_factory=deque)

    @property
    def pid(self) -> int | None:
        process = self.process
        return process.pid if process is not None and process.returncode is None else None

    def part(self) -> dict[str, Any]:
        """This child's entry in supervisor.json (the state-file contract)."""
        return {
            "state": self.state,
            "pid": self.pid,
            "restarts": self.restarts,
            "since": self.since,
            "last_exit": self.last_exit.to_dict() if self.last_exit else None,
            "last_error": self.last_error,
        }

    def to_dict(self) -> dict[str, Any]:
        """The mesh API's process entry (GET /api/v1/status). `state` keeps the API's older
        vocabulary (running | restarting | stopped | failed); `phase` is the supervisor's state."""
        legacy = {"starting": "running", "backoff": "restarting", "held": "stopped"}
        return {
            "name": self.spec.name,
            "kind": self.spec.kind,
            "workload": self.spec.workload,
            "state": legacy.get(self.state, self.state),
            "phase": self.state,
            "ready": self.ready,
            "pid": self.pid,
            "restarts": self.restarts,
            "held": self.held,
            "last_exit": self.last_exit.returncode if self.last_exit else None,
            "exit": self.last_exit.to_dict() if self.last_exit else None,
            "last_error": self.last_error,
            "last_restart_at": self.last_restart_at,
            "since": self.since,
            "log": str(self.spec.log_path),
        }


def die_with_parent(death_signal: int = signal.SIGTERM) -> Callable[[], None]:
    """A preexec function: the kernel sends `death_signal` to the child when its parent dies.

    Also closes the race where the parent died between fork and prctl: then the child is already
    orphaned (its parent is no longer the one that forked it) and exits at once.
    """
    parent = os.getpid()
    libc = ctypes.CDLL("libc.so.6", use_errno=True)  # loaded here: the child only calls it

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, death_signal)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the process group led by `pid` (a child started in its own session), if any is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def write_json_atomically(path: Path, payload: Any) -> None:
    """Replace `path` with `payload` as JSON: readers see the old file or the new one, never half."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle, indent=1, sort_keys=True)
    os.replace(temporary, path)


async def http_ready(url: str, socket_path: str = "", timeout_s: float = 1.0) -> bool:
    """True when GET `url` answers 200 (over the Unix socket `socket_path` when given)."""
    import aiohttp  # only where an HTTP readiness check is used

    connector = aiohttp.UnixConnector(path=socket_path) if socket_path else None
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout_s), connector=connector
            ) as session,
            session.get(url) as response,
        ):
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


async def port_ready(port: int, host: str = "127.0.0.1") -> bool:
    """True when a TCP connection to host:port is accepted."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def readiness(spec: ProcessSpec) -> ReadyCheck | None:
    """The spec's readiness check as one coroutine function, or None when it has none."""
    if spec.ready_check is not None:
        return spec.ready_check
    if spec.ready_url:
        return lambda: http_ready(spec.ready_url, spec.ready_socket)
    if spec.ready_port:
        return lambda: port_ready(spec.ready_port)
    return None


class Supervisor:
    """Starts, watches, restarts and stops children (see the module docstring).

    `state_file`: where supervisor.json is written on every change (None: not written).
    `on_change(managed, event)`: called after every state change, events being started, ready,
    restarted, exited, spawn_failed, restarting, held, released, failed, not_ready, stopped.
    """

    def __init__(
        self,
        *,
        policy: RestartPolicy | None = None,
        state_file: Path | None = None,
        on_change: Callable[[ManagedProcess, str], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self.state_file = state_file
        self.on_change = on_change
        self.children: dict[str, ManagedProcess] = {}
        self.events: deque[dict[str, Any]] = deque(maxlen=200)
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self._rng = rng or random.Random()

    # ------------------------------------------------------------------------------- lifecycle
    async def start(self, spec: ProcessSpec, policy: RestartPolicy | None = None) -> ManagedProcess:
        """Spawn `spec` and watch it from now on. Returns once spawned (not once ready); a spawn
        that raises is reported and retried by the watcher like an exit."""
        if spec.name in self.children:
            raise ValueError(f"a process named {spec.name!r} is already supervised")
        managed = ManagedProcess(spec)
        self.children[spec.name] = managed
        with contextlib.suppress(Exception):
            await self._spawn(managed)  # failure already recorded; the watcher retries
        self._tasks.append(asyncio.create_task(self._watch(managed, policy or self.policy)))
        return managed

    async def _spawn(self, managed: ManagedProcess, event: str = "started") -> None:
        """Start the child's process; `event` names it in the events (started | restarted)."""
        spec = managed.spec
        try:
            spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            with spec.log_path.open("ab") as log_file:
                managed.process = await asyncio.create_subprocess_exec(
                    *spec.args,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=asyncio.subprocess.STDOUT,
                    env={**(os.environ if spec.base_env is None else spec.base_env), **spec.env},
                    cwd=spec.cwd,
                    start_new_session=True,
                    preexec_fn=die_with_parent(spec.death_signal),
                )
        except Exception as error:
            managed.process = None
            managed.last_error = f"could not start: {error}"
            log.error("%s: %s", spec.name, managed.last_error)
            self._change(managed, "backoff", "spawn_failed", error=str(error))
            raise
        managed.started_at = time.monotonic()
        managed.exit_recorded = False
        managed.last_error = None
        check = readiness(spec)
        managed.ready = check is None
        self._change(managed, "running" if check is None else "starting", event, pid=managed.process.pid)
        if check is not None:
            self._tasks.append(asyncio.create_task(self._probe(managed, managed.process, check)))

    async def _probe(
        self, managed: ManagedProcess, process: asyncio.subprocess.Process, check: ReadyCheck
    ) -> None:
        """Poll `check` until it passes, the process exits, or ready_timeout_s passes."""
        deadline = time.monotonic() + managed.spec.ready_timeout_s
        while process.returncode is None and time.monotonic() < deadline:
            try:
                ok = await check()
            except Exception:
                ok = False
            if ok and managed.process is process and process.returncode is None:
                managed.ready = True
                self._change(managed, "running", "ready")
                return
            await asyncio.sleep(0.05)
        if process.returncode is None and managed.process is process:
            managed.last_error = f"not ready after {managed.spec.ready_timeout_s:g} s"
            self._change(managed, managed.state, "not_ready")

    async def _watch(self, managed: ManagedProcess, policy: RestartPolicy) -> None:
        """Keep one child running until the supervisor stops. Never raises (but for cancellation)."""
        streak = 0
        while not self._stopping:
            try:
                if managed.process is not None and managed.process.returncode is None:
                    await managed.process.wait()
                if managed.process is not None and managed.process.returncode is not None:
                    self._record_exit(managed)
                if self._stopping:
                    break
                if managed.held:
                    await self._wait_released(managed)
                    streak = 0
                    continue
                if time.monotonic() - managed.started_at > policy.stable_after_s:
                    streak = 0
                now = time.monotonic()
                recent = managed.recent_restarts
                while recent and recent[0] < now - policy.budget_window_s:
                    recent.popleft()
                if len(recent) >= policy.budget:
                    managed.last_error = (
                        f"gave up: {len(recent)} restarts within {policy.budget_window_s:g} s"
                        + (f" (last: {managed.last_error})" if managed.last_error else "")
                    )
                    log.error("%s: %s", managed.spec.name, managed.last_error)
                    managed.failed = True
                    await self._wait_released(managed)
                    streak = 0
                    continue
                delay = policy.delay(streak, self._rng)
                streak += 1
                self._change(managed, "backoff", "restarting", delay_s=round(delay, 3))
                log.warning("%s: restarting in %.2f s", managed.spec.name, delay)
                await self._sleep_or_wake(managed, delay)
                if self._stopping:
                    break
                if managed.held:
                    continue  # a hold during the backoff: no respawn
                recent.append(time.monotonic())
                managed.restarts += 1
                managed.last_restart_at = time.time()
                with contextlib.suppress(Exception):
                    await self._spawn(managed, "restarted")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug here must not end supervision of this child
                managed.last_error = f"supervisor error: {error!r}"
                log.exception("%s: supervisor error", managed.spec.name)
                await asyncio.sleep(policy.max_backoff_s)
        self._change(managed, "stopped", "stopped")

    def _record_exit(self, managed: ManagedProcess) -> None:
        process = managed.process
        assert process is not None and process.returncode is not None
        if managed.exit_recorded:
            return
        managed.exit_recorded = True
        managed.ready = False
        managed.last_exit = ExitReport.from_returncode(process.returncode)
        kill_group(process.pid)  # grandchildren left in its session go with it
        level = logging.INFO if managed.held or self._stopping else logging.WARNING
        log.log(level, "%s (pid %s) %s", managed.spec.name, process.pid, managed.last_exit.describe())
        self._change(managed, managed.state, "exited", **managed.last_exit.to_dict())

    async def _sleep_or_wake(self, managed: ManagedProcess, delay: float) -> None:
        managed.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(managed.wake.wait(), delay)

    async def _wait_released(self, managed: ManagedProcess) -> None:
        """Stay held or failed until released (or stopping), then spawn again."""
        while not self._stopping and (managed.held or managed.failed):
            wanted = "held" if managed.held else "failed"
            if managed.state != wanted:
                self._change(managed, wanted, wanted)
            managed.wake.clear()
            await managed.wake.wait()
        if self._stopping:
            return
        managed.recent_restarts.clear()
        with contextlib.suppress(Exception):
            await self._spawn(managed)

    # ----------------------------------------------------------------------------- operations
    def by_workload(self, workload: str, kind: str) -> ManagedProcess | None:
        return next(
            (m for m in self.children.values() if m.spec.workload == workload and m.spec.kind == kind), None
        )

    async def hold(self, name: str, timeout: float | None = None) -> ManagedProcess:
        """Stop one child and keep it stopped (scale to zero). Returns once it is "held": at once
        when it was waiting to restart. KeyError if unknown."""
        managed = self.children[name]
        managed.held = True
        managed.wake.set()
        process = managed.process
        if process is not None and process.returncode is None:
            await self._terminate(
                managed, process, managed.spec.stop_timeout_s if timeout is None else timeout
            )
        while managed.state not in ("held", "stopped") and not self._stopping:
            await asyncio.sleep(0.01)  # the watcher records the exit on its next turn
        return managed

    async def release(self, name: str) -> ManagedProcess:
        """Start a held (or failed) child again; returns once it is spawned. KeyError if unknown."""
        managed = self.children[name]
        if managed.held or managed.failed:
            managed.held = False
            managed.failed = False
            managed.wake.set()
            self._event(managed, "released")
            while managed.state in ("held", "failed") and not self._stopping:
                await asyncio.sleep(0.01)
        return managed

    async def _terminate(
        self, managed: ManagedProcess, process: asyncio.subprocess.Process, timeout: float
    ) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(managed.spec.stop_signal)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            log.warning("%s did not stop in %.0f s: killing its process group", managed.spec.name, timeout)
            kill_group(process.pid)
            await process.wait()
        kill_group(process.pid)

    async def stop_all(self, groups: Sequence[Sequence[str]] = (), timeout: float | None = None) -> None:
        """Stop every child: the named `groups` first, one group after the other (each group's
        members together), then the rest together. Whatever has not exited after its stop timeout
        gets SIGKILL on its process group."""
        self._stopping = True
        for managed in self.children.values():
            managed.wake.set()

        async def stop(managed: ManagedProcess) -> None:
            process = managed.process
            if process is not None and process.returncode is None:
                await self._terminate(
                    managed, process, managed.spec.stop_timeout_s if timeout is None else timeout
                )
            elif process is not None:
                kill_group(process.pid)

        named = {name for group in groups for name in group}
        ordered = [[self.children[n] for n in group if n in self.children] for group in groups]
        ordered.append([m for n, m in self.children.items() if n not in named])
        for group in ordered:
            await asyncio.gather(*(stop(m) for m in group))
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        for task in self._tasks:
            task.cancel()
        for managed in self.children.values():
            if managed.state != "stopped":
                self._change(managed, "stopped", "stopped")
        self.write_state()

    # --------------------------------------------------------------------------------- reports
    def _change(self, managed: ManagedProcess, state: str, event: str, **details: Any) -> None:
        if state != managed.state:
            managed.state = state
            managed.since = time.time()
        self._event(managed, event, **details)
        if self.on_change is not None:
            try:
                self.on_change(managed, event)
            except Exception:
                log.exception("supervisor: on_change failed")
        self.write_state()

    def _event(self, managed: ManagedProcess, event: str, **details: Any) -> None:
        self.events.append(
            {
                "at": time.time(),
                "process": managed.spec.name,
                "kind": managed.spec.kind,
                "event": event,
                **details,
            }
        )

    def snapshot(self) -> dict[str, Any]:
        """The supervisor.json document (see the module docstring). Parts are named by their
        spec's `part_name` (default: `name`); "pid" is the supervising process's."""
        parts = {m.spec.part_name or n: m.part() for n, m in self.children.items()}
        return {"updated_at": time.time(), "pid": os.getpid(), "parts": parts}

    def write_state(self) -> None:
        """Write supervisor.json now (atomically); a failure is logged, never raised."""
        if self.state_file is None:
            return
        try:
            write_json_atomically(self.state_file, self.snapshot())
        except OSError as error:
            log.warning("supervisor: cannot write %s: %s", self.state_file, error)


class AlreadyRunning(RuntimeError):
    """Another live process holds the instance lock; `pid` is what its pid file says (or None)."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        who = f"process {pid}" if pid else "another process"
        super().__init__(f"already running: {who} holds {path}")


class InstanceLock:
    """An exclusive flock on a pid file: at most one holder per state directory.

    The kernel drops the lock when the holder dies, whatever the cause (SIGKILL included), so a pid
    file left by a dead launcher is stale by construction and is simply taken over. The pid file
    stays on disk after release (harmless: it is unlocked); `acquire` rewrites it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> InstanceLock:
        """Take the lock and write our pid, or raise AlreadyRunning naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            raise AlreadyRunning(self.path, read_pid(self.path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_pid(path: Path) -> int | None:
    """The pid written in a pid file, or None when absent or empty."""
    try:
        return int(path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def mark_orphaned(path: Path, reason: str) -> bool:
    """Mark every part of a supervisor.json whose supervisor died "stopped" (pid null, `reason` as
    last_error), so that readers do not take its last word for the truth. False if no file."""
    document = read_state(path)
    if not document or not isinstance(document.get("parts"), dict):
        return False
    now = time.time()
    for part in document["parts"].values():
        if isinstance(part, dict) and part.get("state") != "stopped":
            part.update(state="stopped", pid=None, since=now, last_error=reason)
    document["updated_at"] = now
    write_json_atomically(path, document)
    return True


def read_state(path: Path) -> dict[str, Any] | None:
    """A supervisor.json document, or None when absent or unreadable (never half-written)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
