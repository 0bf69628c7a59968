"""Process control between the mesh's launcher and its control plane: the launcher's Unix-socket API
(`meshcore.launcher_socket`) over a real Supervisor with real child processes, its client, and the
resource API forwarding its process and traffic routes to it.

Nothing is stubbed: the children are small Python programs, the traffic generator is the mesh's own
(idle at rate 0: it sends nothing), the socket and the API's TCP server are real.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from meshcore.bookinfo.topology import bookinfo_registry
from meshcore.controlplane.api import make_api
from meshcore.controlplane.service import ControlPlane
from meshcore.controlplane.store import ResourceStore
from meshcore.launcher_socket import LauncherClient, make_launcher_api, serve_on_socket
from meshcore.processctl import (
    CONTROL_PLANE_PROCESS,
    LauncherUnavailable,
    NoTrafficGenerator,
    Refused,
    SupervisorControl,
    UnknownProcess,
    traffic_rate,
)
from meshcore.supervisor import ProcessSpec, RestartPolicy, Supervisor
from meshcore.traffic import TrafficGenerator
from tests.support.ports import free_port
from tests.support.waiting import async_wait_until

TOKEN = "launcher-test-token"
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
FAST = RestartPolicy(initial_backoff_s=0.05, max_backoff_s=0.2, jitter=0.1, budget=50)


def sleeper(tmp_path: Path, name: str, kind: str = "app", workload: str = "") -> ProcessSpec:
    return ProcessSpec(
        name=name, kind=kind, workload=workload, args=SLEEPER, log_path=tmp_path / f"{name}.log"
    )


@pytest.fixture
async def launcher(tmp_path):
    """(client, supervisor, socket path, control): a supervisor of three sleepers (one named like the control
    plane), an idle traffic generator, and the launcher's API on a socket."""
    supervisor = Supervisor(policy=FAST)
    await supervisor.start(sleeper(tmp_path, "ratings-v1-app", "app", "ratings-v1"))
    await supervisor.start(sleeper(tmp_path, "ratings-v1-proxy", "sidecar", "ratings-v1"))
    await supervisor.start(sleeper(tmp_path, CONTROL_PLANE_PROCESS, "controlplane"))
    generator = TrafficGenerator(f"http://127.0.0.1:{free_port()}", 0.0)
    await generator.start()
    path = tmp_path / "launcher.sock"
    control = SupervisorControl(supervisor, generator)
    runner = await serve_on_socket(make_launcher_api(control, TOKEN), path)
    client = LauncherClient(path, TOKEN)
    try:
        yield client, supervisor, path, control
    finally:
        await client.close()
        await runner.cleanup()
        await generator.stop()
        await supervisor.stop_all()


async def test_the_socket_is_private_and_lists_every_process(launcher):
    client, supervisor, path, _ = launcher
    assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
    report = await client.processes()
    processes = {p["name"]: p for p in report["processes"]}
    assert set(processes) == {"ratings-v1-app", "ratings-v1-proxy", CONTROL_PLANE_PROCESS}
    app = processes["ratings-v1-app"]
    assert app["pid"] == supervisor.children["ratings-v1-app"].pid and app["workload"] == "ratings-v1"
    assert [e["event"] for e in await client.events() if e["process"] == "ratings-v1-app"] == ["started"]


async def test_ready_only_once_the_launcher_started_everything_and_all_are_ready(launcher):
    client, supervisor, _, control = launcher
    await async_wait_until(lambda: _all_running(supervisor), timeout=20, what="every sleeper running")
    # Every process started so far is ready, but the launcher has more to start: not ready yet.
    assert (await client.processes())["ready"] is False
    control.starting = False
    assert (await client.processes())["ready"] is True
    await client.control("ratings-v1-app", "stop")
    assert (await client.processes())["ready"] is False


async def test_stop_holds_a_process_and_start_releases_it(launcher):
    client, supervisor, _, _ = launcher
    pid = supervisor.children["ratings-v1-app"].pid
    held = await client.control("ratings-v1-app", "stop")
    assert held["held"] and held["state"] == "stopped" and held["pid"] is None
    assert supervisor.children["ratings-v1-app"].state == "held"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the supervisor reaped it: it is gone, not a zombie
    released = await client.control("ratings-v1-app", "start")
    assert released["state"] == "running" and released["pid"] not in (None, pid)
    events = [e["event"] for e in await client.events() if e["process"] == "ratings-v1-app"]
    assert events[-3:] == ["held", "released", "started"], events


async def test_unknown_process_and_the_control_plane_itself_are_refused(launcher):
    client, supervisor, _, _ = launcher
    with pytest.raises(UnknownProcess):
        await client.control("no-such-process", "stop")
    # Stopping the control plane through the API it serves would leave nothing to start it again.
    with pytest.raises(Refused, match="cannot be stopped"):
        await client.control(CONTROL_PLANE_PROCESS, "stop")
    assert supervisor.children[CONTROL_PLANE_PROCESS].state == "running"
    with pytest.raises(ValueError, match="action"):
        await client.control("ratings-v1-app", "restart")


async def test_traffic_rate_is_set_through_the_socket_and_checked(launcher):
    client, _, _, _ = launcher
    assert (await client.traffic())["rate"] == 0
    assert (await client.set_traffic(2.5))["rate"] == 2.5
    assert (await client.set_traffic(0))["rate"] == 0
    with pytest.raises(ValueError, match=r"^rate: must be a number from 0 to 1000"):
        await client.set_traffic(5000)


async def test_without_the_token_or_from_a_foreign_host_the_socket_refuses(launcher):
    _, _, path, _ = launcher
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path))) as session:
        async with session.get("http://localhost/v1/processes") as response:
            assert response.status == 401 and "token" in (await response.json())["error"]
        wrong = {"Authorization": "Bearer not-the-token"}
        async with session.get("http://localhost/v1/processes", headers=wrong) as response:
            assert response.status == 401
        rebound = {"Authorization": f"Bearer {TOKEN}", "Host": "evil.example"}
        async with session.get("http://localhost/v1/processes", headers=rebound) as response:
            assert response.status == 403
        plain = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"}
        async with session.put("http://localhost/v1/traffic", data=b'{"rate": 1}', headers=plain) as response:
            assert response.status == 415


async def test_a_launcher_that_does_not_answer_is_reported_unavailable(tmp_path):
    client = LauncherClient(tmp_path / "gone.sock", TOKEN)
    try:
        with pytest.raises(LauncherUnavailable, match="does not answer"):
            await client.processes()
    finally:
        await client.close()


async def test_a_supervisor_without_traffic_generator_says_so(tmp_path):
    control = SupervisorControl(Supervisor(policy=FAST))
    with pytest.raises(NoTrafficGenerator):
        await control.traffic()
    assert await control.processes() == {"ready": False, "processes": []}


@pytest.mark.parametrize("body", [None, [], {}, {"rate": "5"}, {"rate": True}, {"rate": -1}, {"rate": 1001}])
def test_traffic_rate_refuses_what_is_not_a_rate(body):
    with pytest.raises(ValueError, match=r"^rate: "):
        traffic_rate(body)


def test_traffic_rate_accepts_the_bounds():
    assert traffic_rate({"rate": 0}) == 0.0 and traffic_rate({"rate": 1000}) == 1000.0


@pytest.fixture
async def forwarding_api(tmp_path, launcher):
    """The resource API whose process routes go to the launcher's socket (as in the running mesh)."""
    client, supervisor, _, _ = launcher
    control_plane = ControlPlane(bookinfo_registry(), ResourceStore(tmp_path / "resources.json"))
    server = TestServer(make_api(control_plane, client, token=TOKEN), host="127.0.0.1")
    async with TestClient(server, headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        yield api, supervisor


async def test_the_resource_api_shows_the_launchers_processes(forwarding_api):
    api, supervisor = forwarding_api
    await async_wait_until(lambda: _all_running(supervisor), timeout=20, what="every sleeper running")
    body = await (await api.get("/api/v1/status")).json()
    assert {p["name"] for p in body["processes"]} == set(supervisor.children)
    ratings = next(n for n in body["nodes"] if n["name"] == "ratings-v1")
    assert ratings["process"]["name"] == "ratings-v1-proxy"
    assert ratings["app_process"]["pid"] == supervisor.children["ratings-v1-app"].pid
    # No process of the gateway is supervised here: its entry says so rather than inventing one.
    gateway = next(n for n in body["nodes"] if n["kind"] == "gateway")
    assert gateway["process"] is None
    events = await (await api.get("/api/v1/events")).json()
    assert {e["process"] for e in events["events"]} == set(supervisor.children)


async def _all_running(supervisor: Supervisor) -> bool:
    return all(m.state == "running" for m in supervisor.children.values())


async def test_the_resource_api_forwards_process_control_with_its_statuses(forwarding_api):
    api, supervisor = forwarding_api
    held = await api.post("/api/v1/processes/ratings-v1-app/stop")
    assert held.status == 200 and (await held.json())["held"]
    assert supervisor.children["ratings-v1-app"].state == "held"
    started = await api.post("/api/v1/processes/ratings-v1-app/start")
    assert started.status == 200 and (await started.json())["state"] == "running"
    unknown = await api.post("/api/v1/processes/nope/stop")
    assert unknown.status == 404 and "nope" in (await unknown.json())["error"]
    itself = await api.post(f"/api/v1/processes/{CONTROL_PLANE_PROCESS}/stop")
    assert itself.status == 409 and "cannot be stopped" in (await itself.json())["error"]
    action = await api.post("/api/v1/processes/ratings-v1-app/restart")
    assert action.status == 404
    rate = await api.put("/api/v1/traffic", json={"rate": 3})
    assert rate.status == 200 and (await rate.json())["rate"] == 3
    bad = await api.put("/api/v1/traffic", json={"rate": 3000})
    assert bad.status == 400 and (await bad.json())["errors"][0]["path"] == "rate"


async def test_the_resource_api_answers_503_while_the_launcher_is_gone(tmp_path):
    control_plane = ControlPlane(bookinfo_registry(), ResourceStore(tmp_path / "resources.json"))
    client = LauncherClient(tmp_path / "gone.sock", TOKEN)
    server = TestServer(make_api(control_plane, client, token=TOKEN), host="127.0.0.1")
    async with TestClient(server, headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        for method, path in (
            ("GET", "/api/v1/status"),
            ("GET", "/api/v1/events"),
            ("GET", "/api/v1/traffic"),
            ("POST", "/api/v1/processes/ratings-v1-app/stop"),
        ):
            response = await api.request(method, path)
            assert response.status == 503, (method, path)
            assert "launcher does not answer" in (await response.json())["error"]
        # What the control plane serves by itself still answers.
        assert (await api.get("/api/v1/virtualservices")).status == 200
    await client.close()
