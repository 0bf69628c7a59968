"""The whole `make run` stack with the real mesh, for fault tests and the reliability benchmark.

`FaultStack` starts `python -m dashboard.stack` on free ports in a temp state directory, finds every
part's pid in the two supervisor.json files (the stack's, where the mesh's launcher is part "mesh",
and the mesh's, where the control plane is one child among the others) or, for the tracer's
writer process, in the tracer's /health; `kill(part)` sends SIGKILL to one, `back(part, victim)`
says when it runs again with another pid. `GatewayTraffic` keeps steady BookInfo requests going
through the gateway and counts what succeeded and failed.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

from meshcore.supervisor import read_state
from tests.support.ports import free_port, free_port_block
from tests.support.processes import log_tail, stop_process
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
# Where each part's pid is read: the stack's supervisor.json, the mesh's, or the tracer's /health.
STACK_PARTS = ("celery-worker", "celery-beat", "daphne", "redis")
MESH_PARTS = ("tracer", "sidecar-ratings-v1", "app-ratings-v1")
LAUNCHER = "mesh"  # `meshcore up`, the parent of every process of the mesh
CONTROL_PLANE = "controlplane"  # xDS + resource API: a child of the launcher
WRITER = "tracer-writer"
ALL_PARTS = (*STACK_PARTS, CONTROL_PLANE, *MESH_PARTS, WRITER)
# A route to apply once the control plane came back: every page then shows reviews v3.
REVIEWS_V3 = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - name: v3
    labels: {version: v3}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v3}
"""


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass
class GatewayTraffic:
    """Requests to the gateway's /productpage every `interval_s` from a thread; outcomes with times."""

    url: str
    interval_s: float = 0.1
    # What counts as a success (default: a 200; BookInfo's page is a 200 even when a service failed).
    accept: Callable[[requests.Response], bool] = lambda response: response.status_code == 200
    outcomes: list[tuple[float, bool]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> GatewayTraffic:
        self._thread = threading.Thread(target=self._run, daemon=True, name="gateway-traffic")
        self._thread.start()
        return self

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                ok = self.accept(session.get(self.url, timeout=5))
            except requests.RequestException:
                ok = False
            self.outcomes.append((started, ok))
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def counts(self, since: float, until: float | None = None) -> tuple[int, int]:
        """(succeeded, failed) among requests started in [since, until]."""
        until = until if until is not None else float("inf")
        window = [ok for at, ok in list(self.outcomes) if since <= at <= until]
        return sum(window), len(window) - sum(window)


class FaultStack:
    """`python -m dashboard.stack` with the real mesh on free ports; stop with `stop()`."""

    def __init__(self, root: Path, traffic_rps: float = 0.0) -> None:
        self.root = root
        self.state = root / "state"
        self.port = free_port()
        base = free_port_block(60)
        self.gateway, xds, self.api_port, self.tracer_port = (free_port() for _ in range(4))
        mesh_args = (
            f"--gateway-port {self.gateway} --xds-port {xds} --api-port {self.api_port} "
            f"--tracer-port {self.tracer_port} --base-port {base}"
        )
        env = {
            k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "CELERY_BROKER_URL")
        }
        env.update(
            MESHSCOPE_STATE_DIR=str(self.state),
            MESHCORE_API_URL=self.api_url,
            MESHCORE_TRACER_URL=self.tracer_url,
        )
        self.env = env
        self.log = root / "stack.out"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dashboard.stack", "--port", str(self.port), "--traffic", f"{traffic_rps:g}",
             "--mesh-args", mesh_args],
            cwd=REPO, env=env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
            start_new_session=True,
        )  # fmt: skip
        self.password = ""

    # addresses ---------------------------------------------------------------------------------
    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def tracer_url(self) -> str:
        return f"http://127.0.0.1:{self.tracer_port}"

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The mesh's resource API with its token."""
        token = (self.state / "mesh" / "api-token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return requests.request(method, self.api_url + path, headers=headers, timeout=10, **kwargs)

    # lifecycle ---------------------------------------------------------------------------------
    def wait_up(self, timeout: float = 180.0) -> FaultStack:
        wait_until(
            lambda: "Meshscope is up" in self.log.read_text() or self.process.poll() is not None,
            timeout=timeout,
            what="the launcher",
        )
        output = self.log.read_text()
        assert "Meshscope is up" in output, log_tail(self.log)
        found = re.search(r"with password: (\S+)", output)
        self.password = found.group(1) if found else (self.state / "admin-password").read_text().strip()
        wait_until(self.gateway_ok, timeout=timeout, what="BookInfo through the gateway")
        wait_until(lambda: all(self.pid(p) for p in ALL_PARTS), timeout=timeout, what="every part running")
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=90)
        stop_process(self.process)

    # parts ---------------------------------------------------------------------------------------
    def parts(self) -> dict[str, dict]:
        """Every part's supervisor.json entry: the stack's, then the mesh's (controlplane included)."""
        stack = (read_state(self.state / "supervisor.json") or {}).get("parts", {})
        mesh = (read_state(self.state / "mesh" / "supervisor.json") or {}).get("parts", {})
        return {**stack, **mesh}

    def writer(self) -> dict:
        reply = requests.get(self.tracer_url + "/health", timeout=5)
        return reply.json()["zipkin"]["details"]["writer"]

    def pid(self, part: str) -> int | None:
        """The part's pid when it is running, else None."""
        try:
            if part == WRITER:
                writer = self.writer()
                return writer["pid"] if writer["status"] == "UP" else None
            entry = self.parts().get(part, {})
            return entry.get("pid") if entry.get("state") == "running" else None
        except (requests.RequestException, ValueError, KeyError):
            return None

    def restarts(self, part: str) -> int:
        if part == WRITER:
            return self.writer()["restarts"]
        return self.parts().get(part, {}).get("restarts", 0)

    def kill(self, part: str) -> int:
        """SIGKILL the part's process; returns the pid killed."""
        pid = wait_until(lambda: self.pid(part), timeout=60, what=f"{part} running")
        os.kill(pid, signal.SIGKILL)
        return pid

    def back(self, part: str, victim: int) -> bool:
        """True once `part` runs again with a pid other than `victim` (and answers, where it can)."""
        pid = self.pid(part)
        if pid in (None, victim):
            return False
        if part == "daphne":
            return self.answers(self.dashboard_url + "/accounts/login/")
        if part == CONTROL_PLANE:
            # Back means in control again: the API answers and every Envoy has reconnected to xDS.
            return self.answers(self.api_url + "/healthz") and self.proxies_connected()
        return True

    def proxies_connected(self) -> bool:
        """Every proxy has an ADS stream to the control plane (as its status says)."""
        try:
            nodes = self.api("GET", "/api/v1/status").json()["nodes"]
        except (requests.RequestException, ValueError, KeyError):
            return False
        return bool(nodes) and all(node["connected"] for node in nodes)

    # checks --------------------------------------------------------------------------------------
    @staticmethod
    def answers(url: str) -> bool:
        try:
            return requests.get(url, timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def gateway_ok(self) -> bool:
        return self.answers(self.gateway_url + "/productpage")

    def login(self) -> urllib.request.OpenerDirector:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(f"{self.dashboard_url}/accounts/login/", timeout=10).read()
        token = next(c.value for c in jar if c.name == "csrftoken")
        body = urllib.parse.urlencode(
            {"username": "admin", "password": self.password, "csrfmiddlewaretoken": token}
        )
        opener.open(
            urllib.request.Request(f"{self.dashboard_url}/accounts/login/", data=body.encode()), timeout=10
        )
        assert any(c.name == "sessionid" for c in jar), "login failed"
        return opener

    def map_fresh(self, opener: urllib.request.OpenerDirector) -> bool:
        """The dashboard's map shows productpage-v1 polled (not stale)."""
        with opener.open(f"{self.dashboard_url}/api/topology", timeout=5) as response:
            nodes = json.loads(response.read())["map"]["nodes"]
        return any(n["id"] == "wl:productpage-v1" and not n.get("stale") for n in nodes)

    def manage(self, code: str) -> str:
        """Run Python in the dashboard's Django (its database) and return what it printed."""
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=REPO, env=self.env, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return result.stdout.strip()


def recover(stack: FaultStack, traffic: GatewayTraffic, part: str, timeout: float = 30.0) -> dict[str, Any]:
    """Kill `part`, wait until it is back; seconds to recover and gateway outcomes meanwhile."""
    started = time.monotonic()
    victim = stack.kill(part)
    wait_until(lambda: stack.back(part, victim), timeout=timeout, interval=0.1, what=f"{part} back")
    seconds = time.monotonic() - started
    succeeded, failed = traffic.counts(started, time.monotonic())
    return {"part": part, "victim": victim, "seconds": seconds, "succeeded": succeeded, "failed": failed}


def launcher_descendants(stack: FaultStack) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(stack.process.pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def no_process_left(pids: set[int]) -> Callable[[], bool]:
    return lambda: not [pid for pid in pids if alive(pid)]
