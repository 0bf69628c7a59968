"""Process control of the local mesh: what the resource API asks of the process that supervises it.

The mesh's launcher (`meshcore up`) supervises every process, the control plane included, and runs
the traffic generator; the control plane serves the resource API. `ProcessControl` is what that API
needs from the launcher: the supervised processes, their events, holding and releasing one, and the
traffic generator. `SupervisorControl` is the launcher's own implementation (over its `Supervisor`);
`meshcore.launcher_socket.LauncherClient` is the same interface over the launcher's Unix socket.

Failures, the same on both sides: `UnknownProcess` (404), `Refused` (409: an operation that would
cut the caller off, such as stopping the control plane through its own API), `ValueError` (400:
bad input, its message names the field), `LauncherUnavailable` (503: the launcher did not answer).
"""

from __future__ import annotations

from typing import Any, Protocol

from meshcore.supervisor import Supervisor

ACTIONS = ("stop", "start")
MAX_TRAFFIC_RPS = 1000
# The part that serves the resource API: holding it through that API would leave nothing to
# release it with.
CONTROL_PLANE_PROCESS = "controlplane"


class UnknownProcess(KeyError):
    """No supervised process has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"no process named {self.name!r} (see /api/v1/status)"


class Refused(RuntimeError):
    """The operation is understood and refused (HTTP 409)."""


class LauncherUnavailable(RuntimeError):
    """The launcher did not answer (HTTP 503): it is stopping, or gone."""


class NoTrafficGenerator(LookupError):
    """This launcher runs no traffic generator (HTTP 404)."""


def traffic_rate(body: Any) -> float:
    """The rate of a `{"rate": requests per second}` body, 0 to MAX_TRAFFIC_RPS; ValueError otherwise."""
    rate = body.get("rate") if isinstance(body, dict) else None
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= MAX_TRAFFIC_RPS:
        raise ValueError(f"rate: must be a number from 0 to {MAX_TRAFFIC_RPS} requests/s")
    return float(rate)


class ProcessControl(Protocol):
    """What the resource API asks of the mesh's supervising process (see the module docstring).
    Process entries are `ManagedProcess.to_dict()` documents."""

    async def processes(self) -> dict[str, Any]:
        """`{"ready": every process started and ready, "processes": [entry, ...]}`."""
        ...

    async def events(self) -> list[dict[str, Any]]: ...

    async def control(self, name: str, action: str) -> dict[str, Any]: ...

    async def traffic(self) -> dict[str, Any]: ...

    async def set_traffic(self, rate: float) -> dict[str, Any]: ...


class SupervisorControl:
    """`ProcessControl` over a Supervisor in this process (and its traffic generator, if any: an
    object with `report()` and `set_rate(rps)`). `protected` names the processes that may not be
    stopped through it. `starting` stays True (so nothing is "ready") until the launcher set it
    False once it started every process. Call from the supervisor's event loop."""

    def __init__(
        self,
        supervisor: Supervisor,
        traffic_generator: Any = None,
        protected: frozenset[str] = frozenset({CONTROL_PLANE_PROCESS}),
    ) -> None:
        self.supervisor = supervisor
        self.traffic_generator = traffic_generator
        self.protected = protected
        self.starting = True

    async def processes(self) -> dict[str, Any]:
        children = self.supervisor.children.values()
        return {
            # Until every process is started, all those started so far being ready says nothing.
            "ready": not self.starting and all(managed.ready for managed in children),
            "processes": [managed.to_dict() for managed in children],
        }

    async def events(self) -> list[dict[str, Any]]:
        return list(self.supervisor.events)

    async def control(self, name: str, action: str) -> dict[str, Any]:
        """Hold (`stop`) or release (`start`) one process; its entry once done."""
        if action not in ACTIONS:
            raise ValueError(f"action: unknown action {action!r}; use stop or start")
        if name not in self.supervisor.children:
            raise UnknownProcess(name)
        if action == "stop":
            if name in self.protected:
                raise Refused(f"{name} serves this API and cannot be stopped through it; use `meshcore down`")
            managed = await self.supervisor.hold(name)
        else:
            managed = await self.supervisor.release(name)
        return managed.to_dict()

    def _generator(self) -> Any:
        if self.traffic_generator is None:
            raise NoTrafficGenerator("this mesh runs no traffic generator")
        return self.traffic_generator

    async def traffic(self) -> dict[str, Any]:
        return self._generator().report()

    async def set_traffic(self, rate: float) -> dict[str, Any]:
        generator = self._generator()
        generator.set_rate(traffic_rate({"rate": rate}))
        return generator.report()
