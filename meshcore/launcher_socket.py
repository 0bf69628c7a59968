"""The launcher's process-control API on a Unix socket, and its client (`LauncherClient`).

The launcher (`meshcore up`) serves a `meshcore.processctl.ProcessControl` on a socket in the mesh's
state directory (see `MeshSettings.launcher_socket`), mode 0600 in a 0700 directory, behind the
same guard as the resource API (`api_guard`: bearer token, loopback Host, no cross-site Origin,
JSON bodies only). The control plane, a child of the launcher, forwards the resource API's process
routes to it, so a restarted control plane finds every process as the launcher kept it.

Routes (JSON; errors in the project's error body, statuses as in `processctl`):
  GET  /v1/processes                      {"ready": bool, "processes": [ManagedProcess.to_dict(), ...]}
  GET  /v1/events                         {"events": [...]}
  POST /v1/processes/{name}/{stop|start}  the process's entry once held / released
  GET  /v1/traffic                        the traffic generator's report
  PUT  /v1/traffic                        {"rate": requests/s} sets its rate
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from meshcore.controlplane.auth import api_guard
from meshcore.httperrors import error_response, json_errors
from meshcore.processctl import (
    LauncherUnavailable,
    NoTrafficGenerator,
    ProcessControl,
    Refused,
    UnknownProcess,
    traffic_rate,
)

CONTROL = web.AppKey("control", object)
# What each failure of a ProcessControl answers, and what the client raises again for it.
ERROR_STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (UnknownProcess, 404),
    (NoTrafficGenerator, 404),
    (Refused, 409),
    (ValueError, 400),
)
# Holding a process waits for it to stop (its stop timeout, 10 s by default, then SIGKILL).
CONTROL_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 10.0


async def _answer(action: Callable[[], Awaitable[Any]]) -> web.Response:
    try:
        return web.json_response(await action())
    except tuple(kind for kind, _ in ERROR_STATUSES) as error:
        status = next(code for kind, code in ERROR_STATUSES if isinstance(error, kind))
        return error_response(status, str(error))


async def _processes(request: web.Request) -> web.Response:
    return await _answer(request.app[CONTROL].processes)


async def _events(request: web.Request) -> web.Response:
    control: ProcessControl = request.app[CONTROL]

    async def run() -> dict[str, Any]:
        return {"events": await control.events()}

    return await _answer(run)


async def _control(request: web.Request) -> web.Response:
    control: ProcessControl = request.app[CONTROL]
    return await _answer(lambda: control.control(request.match_info["name"], request.match_info["action"]))


async def _traffic(request: web.Request) -> web.Response:
    return await _answer(request.app[CONTROL].traffic)


async def _set_traffic(request: web.Request) -> web.Response:
    control: ProcessControl = request.app[CONTROL]
    try:
        body = await request.json()
    except ValueError:
        body = None

    async def run() -> dict[str, Any]:
        return await control.set_traffic(traffic_rate(body))

    return await _answer(run)


def make_launcher_api(control: ProcessControl, token: str) -> web.Application:
    """The launcher's API over `control`; every route needs `token` (see the module docstring)."""
    app = web.Application(middlewares=[json_errors, api_guard(token, open_paths=())])
    app[CONTROL] = control
    app.router.add_get("/v1/processes", _processes)
    app.router.add_get("/v1/events", _events)
    app.router.add_post("/v1/processes/{name}/{action}", _control)
    app.router.add_get("/v1/traffic", _traffic)
    app.router.add_put("/v1/traffic", _set_traffic)
    return app


async def serve_on_socket(app: web.Application, path: Path) -> web.AppRunner:
    """Serve `app` on the Unix socket `path` (a stale socket file is replaced), mode 0600.
    Stop with `await runner.cleanup()`."""
    path.unlink(missing_ok=True)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.UnixSite(runner, str(path)).start()
    os.chmod(path, 0o600)
    return runner


class LauncherClient:
    """`ProcessControl` over the launcher's socket at `path`, sending `token`.

    Raises what the launcher's control raised (`UnknownProcess`, `NoTrafficGenerator`, `Refused`,
    `ValueError`), or `LauncherUnavailable` when the launcher does not answer or answers otherwise.
    One event loop; `close()` when done.
    """

    def __init__(self, path: Path, token: str) -> None:
        self.path = path
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=str(self.path)),
                headers={"Authorization": f"Bearer {self.token}"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self, method: str, path: str, body: Any = None, timeout_s: float = READ_TIMEOUT_S, name: str = ""
    ) -> Any:
        try:
            async with self._client().request(
                method,
                f"http://localhost{path}",
                json=body,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as response:
                status = response.status
                try:
                    payload = await response.json(content_type=None)
                except ValueError:
                    payload = None
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise LauncherUnavailable(
                f"the mesh's launcher does not answer on {self.path}: {error or type(error).__name__}"
            ) from None
        if status == 200:
            return payload
        message = payload.get("error", "") if isinstance(payload, dict) else ""
        if status == 404 and name:
            raise UnknownProcess(name)
        if status == 404:
            raise NoTrafficGenerator(message)
        if status == 409:
            raise Refused(message)
        if status == 400:
            raise ValueError(message)
        raise LauncherUnavailable(f"the mesh's launcher answered {status}: {message}")

    async def processes(self) -> dict[str, Any]:
        return await self._call("GET", "/v1/processes")

    async def events(self) -> list[dict[str, Any]]:
        return (await self._call("GET", "/v1/events"))["events"]

    async def control(self, name: str, action: str) -> dict[str, Any]:
        return await self._call(
            "POST",
            f"/v1/processes/{quote(name, safe='')}/{quote(action, safe='')}",
            timeout_s=CONTROL_TIMEOUT_S,
            name=name,
        )

    async def traffic(self) -> dict[str, Any]:
        return await self._call("GET", "/v1/traffic")

    async def set_traffic(self, rate: float) -> dict[str, Any]:
        return await self._call("PUT", "/v1/traffic", {"rate": rate})
