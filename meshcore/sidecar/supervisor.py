"""Process supervision for the local mesh: start children, restart the ones that die, stop all.

Each child runs in its own session (Ctrl-C reaches only `meshcore up`, which then stops children in
order) and is asked to die with its parent (PR_SET_PDEATHSIG), so no process outlives the mesh.
Lives on one asyncio event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
MAX_BACKOFF_S = 5.0
# A child that stayed up this long is considered healthy again: its backoff starts over.
STABLE_AFTER_S = 30.0
PROBE_TIMEOUT_S = 60.0


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True)
class ProcessSpec:
    """A child to keep running. `kind` is app | sidecar | gateway | tracer; `workload` links a
    sidecar or app to its registry workload."""

    name: str
    kind: str
    args: Sequence[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    workload: str = ""
    # Polled after each start until it answers 200 (Kubernetes' readiness probe, run once).
    ready_url: str = ""
    # When set, ready_url is requested over this Unix socket (an Envoy admin API) instead of TCP.
    ready_socket: str = ""


@dataclass
class ManagedProcess:
    spec: ProcessSpec
    process: asyncio.subprocess.Process | None = None
    state: str = "starting"  # starting | running | restarting | stopped
    restarts: int = 0
    last_exit: int | None = None
    last_restart_at: float | None = None
    started_at: float = 0.0
    # Held by an operator (`meshcore stop NAME`): not restarted until released.
    held: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)
    ready: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "kind": self.spec.kind,
            "workload": self.spec.workload,
            "state": self.state,
            "ready": self.ready,
            "pid": self.process.pid if self.process and self.process.returncode is None else None,
            "restarts": self.restarts,
            "held": self.held,
            "last_exit": self.last_exit,
            "last_restart_at": self.last_restart_at,
            "log": str(self.spec.log_path),
        }


class Supervisor:
    def __init__(self) -> None:
        self.children: dict[str, ManagedProcess] = {}
        self.events: deque[dict[str, Any]] = deque(maxlen=200)
        self._watchers: list[asyncio.Task] = []
        self._probes: set[asyncio.Task] = set()
        self._stopping = False

    async def start(self, spec: ProcessSpec) -> ManagedProcess:
        managed = ManagedProcess(spec)
        self.children[spec.name] = managed
        await self._spawn(managed)
        self._watchers.append(asyncio.create_task(self._watch(managed)))
        return managed

    async def _spawn(self, managed: ManagedProcess) -> None:
        spec = managed.spec
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with spec.log_path.open("ab") as log_file:
            managed.process = await asyncio.create_subprocess_exec(
                *spec.args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, **spec.env},
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        managed.state = "running"
        managed.ready = not managed.spec.ready_url
        managed.started_at = time.monotonic()
        if managed.spec.ready_url:
            self._probes.add(asyncio.create_task(self._probe(managed, managed.process)))

    async def _probe(self, managed: ManagedProcess, process: asyncio.subprocess.Process) -> None:
        """Mark the child ready once its ready_url answers 200 (bounded: gives up after 60 s)."""
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        timeout = aiohttp.ClientTimeout(total=1)
        socket = managed.spec.ready_socket
        connector = aiohttp.UnixConnector(path=socket) if socket else None
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            while process.returncode is None and time.monotonic() < deadline:
                try:
                    async with session.get(managed.spec.ready_url) as response:
                        if response.status == 200:
                            managed.ready = managed.process is process
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.05)

    async def _watch(self, managed: ManagedProcess) -> None:
        backoff = 0.1
        while True:
            assert managed.process is not None
            code = await managed.process.wait()
            managed.last_exit = code
            managed.ready = False
            if self._stopping:
                managed.state = "stopped"
                return
            if managed.held:
                managed.state = "stopped"
                self._event(managed, "stopped", exit_code=code)
                await managed.released.wait()
                if self._stopping:
                    return
                await self._spawn(managed)
                self._event(managed, "started", pid=managed.process.pid if managed.process else None)
                continue
            if time.monotonic() - managed.started_at > STABLE_AFTER_S:
                backoff = 0.1
            managed.state = "restarting"
            self._event(managed, "exited", exit_code=code)
            log.warning(
                "%s %s exited with %s; restarting in %.1fs",
                managed.spec.kind,
                managed.spec.name,
                code,
                backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF_S, backoff * 2)
            if self._stopping:
                managed.state = "stopped"
                return
            await self._spawn(managed)
            managed.restarts += 1
            managed.last_restart_at = time.time()
            self._event(managed, "restarted", pid=managed.process.pid if managed.process else None)

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

    def by_workload(self, workload: str, kind: str) -> ManagedProcess | None:
        return next(
            (m for m in self.children.values() if m.spec.workload == workload and m.spec.kind == kind), None
        )

    async def hold(self, name: str, timeout: float = 5.0) -> ManagedProcess:
        """Stop one child and keep it stopped (like scaling a deployment to zero). KeyError if unknown."""
        managed = self.children[name]
        managed.held = True
        managed.released.clear()
        process = managed.process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        while managed.state != "stopped":  # the watcher records the exit on the next loop turn
            await asyncio.sleep(0.01)
        return managed

    async def release(self, name: str) -> ManagedProcess:
        """Start a held child again. KeyError if unknown."""
        managed = self.children[name]
        if managed.held:
            managed.held = False
            managed.released.set()
            while managed.state != "running":
                await asyncio.sleep(0.01)
        return managed

    async def stop_all(self, timeout: float = 5.0) -> None:
        """SIGTERM every child (apps and tracer after the proxies), SIGKILL what is left after `timeout`."""
        self._stopping = True
        for managed in self.children.values():
            managed.released.set()
        order = {"gateway": 0, "sidecar": 1, "app": 2, "tracer": 3}
        running = sorted(
            (m for m in self.children.values() if m.process and m.process.returncode is None),
            key=lambda m: order.get(m.spec.kind, 9),
        )
        for managed in running:
            with contextlib.suppress(ProcessLookupError):
                managed.process.terminate()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        for managed in running:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                await asyncio.wait_for(managed.process.wait(), remaining)  # type: ignore[union-attr]
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(managed.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
                await managed.process.wait()  # type: ignore[union-attr]
            managed.state = "stopped"
        for task in [*self._watchers, *self._probes]:
            task.cancel()
