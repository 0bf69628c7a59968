"""`python -m dashboard.stack` (what `make run` runs): starts, answers, and Ctrl-C leaves nothing.

The fast variant runs without the mesh (pointed at the fake mesh); the `mesh` variant starts the
real local mesh on free ports too.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest

from meshcore.supervisor import read_state
from tests.meshcore.e2e.test_state_and_token import open_to_others
from tests.support.ports import free_port, free_port_block
from tests.support.processes import log_tail, stop_process
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


def start_stack(
    tmp_path: Path, port: int, extra_args: list[str], env: dict[str, str]
) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "stack.out"
    clean_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY")
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard.stack", "--port", str(port), *extra_args],
        cwd=REPO,
        env={**clean_env, "MESHSCOPE_STATE_DIR": str(tmp_path / "state"), **env},
        stdout=open(log, "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, log


def log_in(url: str, username: str, password: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{url}/accounts/login/", timeout=10).read()
    token = next(c.value for c in jar if c.name == "csrftoken")
    body = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    opener.open(urllib.request.Request(f"{url}/accounts/login/", data=body.encode()), timeout=10).read()
    assert any(c.name == "sessionid" for c in jar), "login failed"
    return opener


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def ctrl_c_and_check_nothing_is_left(process: subprocess.Popen, log: Path, started_pids: set[int]) -> None:
    children = {p.pid for p in descendants(process.pid)} | started_pids
    assert children, "the launcher started no children"
    process.send_signal(signal.SIGINT)
    try:
        assert process.wait(timeout=60) == 0, log_tail(log)
    finally:
        stop_process(process)
    alive = [
        pid
        for pid in children
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert alive == [], f"left behind: {alive}\n{log_tail(log)}"
    assert "all stopped" in log.read_text()


def run_smoke(tmp_path: Path, extra_args: list[str], env: dict[str, str], timeout: float) -> str:
    port = free_port()
    process, log = start_stack(tmp_path, port, extra_args, env)
    try:
        wait_until(
            lambda: "Meshscope is up" in log.read_text() or process.poll() is not None,
            timeout=timeout,
            what="the launcher",
        )
        output = log.read_text()
        assert f"Meshscope is up: http://127.0.0.1:{port}/" in output, log_tail(log)
        password = re.search(r"with password: (\S+)", output).group(1)
        assert (tmp_path / "state" / "admin-password").read_text().strip() == password
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=5) as response:
            assert response.status == 200
        started = {int(pid) for pid in re.findall(r"\(pid (\d+)\)", output)}
        ctrl_c_and_check_nothing_is_left(process, log, started)
        return output
    finally:
        stop_process(process)


def test_stack_starts_answers_and_stops_everything(tmp_path, fake_mesh):
    output = run_smoke(tmp_path, ["--no-mesh"], {"MESHCORE_API_URL": fake_mesh.api_url}, timeout=90)
    for name in ("redis", "daphne", "celery-worker", "celery-beat"):
        assert f"started {name}" in output
    # The state directory (database, secret key, password, logs) is private to this user, and the
    # password went to the terminal once, never into a file but its own.
    state = tmp_path / "state"
    assert open_to_others(state) == []
    password = (state / "admin-password").read_text().strip()
    assert (state / "secret-key").exists()
    holding = [p for p in state.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
    assert holding == [state / "admin-password"]


def test_second_run_reuses_the_admin_without_printing_the_password(tmp_path, fake_mesh):
    run_smoke(tmp_path, ["--no-mesh"], {"MESHCORE_API_URL": fake_mesh.api_url}, timeout=90)
    port = free_port()
    process, log = start_stack(tmp_path, port, ["--no-mesh"], {"MESHCORE_API_URL": fake_mesh.api_url})
    try:
        wait_until(lambda: "Meshscope is up" in log.read_text() or process.poll() is not None, timeout=90)
        output = log.read_text()
        assert "with password" not in output and "admin-password" in output
        started = {int(pid) for pid in re.findall(r"\(pid (\d+)\)", output)}
        ctrl_c_and_check_nothing_is_left(process, log, started)
    finally:
        stop_process(process)


@pytest.mark.mesh
def test_stack_with_the_real_mesh_stops_every_envoy(tmp_path):
    base = free_port_block(60)
    gateway, xds, api, tracer = (free_port() for _ in range(4))
    mesh_args = (
        f"--gateway-port {gateway} --xds-port {xds} --api-port {api} "
        f"--tracer-port {tracer} --base-port {base}"
    )
    env = {"MESHCORE_API_URL": f"http://127.0.0.1:{api}", "MESHCORE_TRACER_URL": f"http://127.0.0.1:{tracer}"}
    port = free_port()
    process, log = start_stack(tmp_path, port, ["--mesh-args", mesh_args], env)
    try:
        wait_until(lambda: "Meshscope is up" in log.read_text() or process.poll() is not None, timeout=120)
        assert "started mesh" in log.read_text(), log_tail(log)

        def productpage_ok() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{gateway}/productpage", timeout=5) as response:
                return response.status == 200

        wait_until(productpage_ok, timeout=60, what="BookInfo through the gateway")
        # The dashboard reads the mesh with the token it finds by itself in <state>/mesh.
        password = re.search(r"with password: (\S+)", log.read_text()).group(1)
        dashboard = f"http://127.0.0.1:{port}"
        opener = log_in(dashboard, "admin", password)

        def sidecars_polled() -> bool:
            with opener.open(f"{dashboard}/api/topology", timeout=5) as response:
                nodes = json.loads(response.read())["map"]["nodes"]
            return any(n["id"] == "wl:productpage-v1" and not n.get("stale") for n in nodes)

        wait_until(sidecars_polled, timeout=60, what="the dashboard polls the mesh's Envoys")
        # Every Envoy and app of the mesh is a descendant of the launcher: all must go.
        everything = {p.pid for p in descendants(process.pid)}
        assert len(everything) > 10
        started = {int(pid) for pid in re.findall(r"\(pid (\d+)\)", log.read_text())}
        ctrl_c_and_check_nothing_is_left(process, log, started | everything)
    finally:
        stop_process(process)


def supervised(state: Path) -> dict:
    """The launcher's supervisor.json parts ({} while not written yet)."""
    document = read_state(state / "supervisor.json")
    return document["parts"] if document else {}


def test_every_dashboard_part_heals_alone_and_a_killed_launcher_leaves_nothing(tmp_path, fake_mesh):
    """kill -9 of Redis, Daphne, the Celery worker and beat, one at a time: each is back (restart
    counted, exit reported) while the others keep their pids; a second launcher is refused; logins
    and users survive; SIGKILL of the launcher takes every part with it."""
    port = free_port()
    env = {"MESHCORE_API_URL": fake_mesh.api_url}
    process, log = start_stack(tmp_path, port, ["--no-mesh"], env)
    state = tmp_path / "state"
    try:
        wait_until(lambda: "Meshscope is up" in log.read_text() or process.poll() is not None, timeout=90)
        password = re.search(r"with password: (\S+)", log.read_text()).group(1)
        names = ("redis", "daphne", "celery-worker", "celery-beat")
        wait_until(
            lambda: all(supervised(state).get(n, {}).get("state") == "running" for n in names), timeout=30
        )

        second = subprocess.run(
            [sys.executable, "-m", "dashboard.stack", "--no-mesh", "--port", str(free_port())],
            cwd=REPO,
            env={**os.environ, "MESHSCOPE_STATE_DIR": str(state), **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1 and "already running" in second.stdout, second.stdout + second.stderr
        assert str(process.pid) in second.stdout

        for name in names:
            before = supervised(state)
            victim = before[name]["pid"]
            os.kill(victim, signal.SIGKILL)

            def back(name=name, victim=victim, restarts=before[name]["restarts"]):
                part = supervised(state).get(name, {})
                return part if part.get("state") == "running" and part["pid"] not in (None, victim) else None

            part = wait_until(back, timeout=30, what=f"{name} restarted")
            assert part["restarts"] == before[name]["restarts"] + 1
            assert part["last_exit"]["signal"] == signal.SIGKILL
            others = {n: p["pid"] for n, p in supervised(state).items() if n != name}
            assert others == {n: p["pid"] for n, p in before.items() if n != name}, f"{name} took others down"
            assert f"restarted {name}" in log.read_text()
        # Daphne answers again and the admin (in the database) is still there.
        dashboard = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: log_in(dashboard, "admin", password), timeout=30, what="a login after the restarts"
        )

        pids = {p["pid"] for p in supervised(state).values()} | {p.pid for p in descendants(process.pid)}
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        wait_until(
            lambda: not [pid for pid in pids if alive(pid)],
            timeout=15,
            what="every part dies with the launcher",
        )
    finally:
        stop_process(process)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
