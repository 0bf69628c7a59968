"""`kill -9` of the control plane leaves the data plane serving, as killing istiod does in Istio.

`meshcore up` is the launcher: the control plane is one of its supervised children, like every
Envoy and app. Killed, it is restarted on the same ports with the same token, from the resources and
the CA in the state directory; the Envoys keep their last config meanwhile (no gateway request
fails, nor any call behind the gateway) and reconnect to the same ADS port; process control keeps
working through the new one. Last, a SIGKILL of the launcher leaves no process behind, and the next
`meshcore up` on the same state directory starts cleanly (while it runs, a third one says that one
is running).

A mesh of its own (these tests kill its parts), in this order; waits are bounded polls.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from meshcore.supervisor import read_state
from tests.support.faults import REVIEWS_V3, GatewayTraffic, alive, no_process_left
from tests.support.mesh import (
    DETAILS_UNAVAILABLE,
    RATINGS_UNAVAILABLE,
    REVIEWS_UNAVAILABLE,
    start_mesh,
    stop_mesh,
)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.mesh, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("cp-restart")


@pytest.fixture(scope="module")
def own_mesh(root):
    running = start_mesh(root)
    yield running
    stop_mesh(running)


def parts(mesh) -> dict[str, dict]:
    return (read_state(mesh.state_dir / "supervisor.json") or {})["parts"]


def pids(mesh) -> dict[str, int]:
    return {name: part["pid"] for name, part in parts(mesh).items()}


def in_control(mesh) -> bool:
    """The resource API answers and every proxy has an ADS stream to it again."""
    try:
        nodes = mesh.status()["nodes"]
    except (OSError, ValueError, KeyError):
        return False
    return all(node["connected"] for node in nodes)


def whole_page(response) -> bool:
    """A 200 product page with details, reviews and ratings: every call behind the gateway worked."""
    text = response.text
    return response.status_code == 200 and not any(
        marker in text for marker in (DETAILS_UNAVAILABLE, REVIEWS_UNAVAILABLE, RATINGS_UNAVAILABLE)
    )


def test_the_control_plane_is_a_child_of_the_launcher(own_mesh):
    launcher = psutil.Process(own_mesh.process.pid)
    children = {child.pid for child in launcher.children()}
    before = pids(own_mesh)
    assert before["controlplane"] in children
    # The Envoys and apps are the launcher's children too, not the control plane's.
    assert before["sidecar-istio-ingressgateway"] in children and before["app-ratings-v1"] in children
    assert read_state(own_mesh.state_dir / "supervisor.json")["pid"] == own_mesh.process.pid


def test_a_killed_control_plane_comes_back_and_no_gateway_request_fails(own_mesh):
    mesh = own_mesh
    before = pids(mesh)
    traffic = GatewayTraffic(mesh.gateway_url + "/productpage", accept=whole_page).start()
    try:
        wait_until(lambda: traffic.counts(0)[0] >= 5, timeout=30, what="traffic flows")
        started = time.monotonic()
        os.kill(before["controlplane"], signal.SIGKILL)
        wait_until(
            lambda: parts(mesh)["controlplane"]["pid"] not in (None, before["controlplane"]),
            timeout=30,
            what="a new control plane",
        )
        # Same port, same token (the session sends the one read at start): it answers again and
        # every Envoy reconnected to the same ADS port, within 30 s.
        wait_until(lambda: in_control(mesh), timeout=30, interval=0.2, what="every proxy reconnected")
        # A few more requests after it is back, then count.
        time.sleep(1.0)
        succeeded, failed = traffic.counts(started)
    finally:
        traffic.stop()
    assert failed == 0 and succeeded > 0, (succeeded, failed)
    part = parts(mesh)["controlplane"]
    assert part["restarts"] == 1 and part["last_exit"]["signal"] == signal.SIGKILL
    # Nothing else restarted: the data plane did not notice.
    after = pids(mesh)
    assert {n: p for n, p in after.items() if n != "controlplane"} == {
        n: p for n, p in before.items() if n != "controlplane"
    }
    assert alive(mesh.process.pid)


def test_a_route_applied_after_the_restart_reaches_every_proxy(own_mesh):
    mesh = own_mesh
    assert parts(mesh)["controlplane"]["restarts"] >= 1  # after the kill above (tests run in order)
    body = mesh.apply_ok(REVIEWS_V3)
    assert len(body["sync"]["acked"]) == 7 and not body["sync"]["rejected"], body["sync"]
    wait_until(
        lambda: all(mesh.reviews_version() == "v3" for _ in range(10)), timeout=30, what="reviews v3 only"
    )


def test_process_control_works_through_the_new_control_plane(own_mesh):
    mesh = own_mesh
    status = mesh.cli("status")
    assert status.returncode == 0 and "ratings-v1" in status.stdout, status.stderr
    assert f"control plane: ready, pid {parts(mesh)['controlplane']['pid']}, restarts 1" in status.stdout
    stopped = mesh.cli("stop", "ratings-v1-app")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    assert parts(mesh)["app-ratings-v1"]["state"] == "held"
    started = mesh.cli("start", "ratings-v1-app")
    assert started.returncode == 0 and "running" in started.stdout, started.stderr
    # Stopping the control plane through the API it serves is refused (nothing could start it again).
    itself = mesh.cli("stop", "controlplane")
    assert itself.returncode == 1 and "409" in itself.stderr, itself.stderr
    traffic = mesh.session.put(f"{mesh.api_url}/api/v1/traffic", json={"rate": 0.5}, timeout=10)
    assert traffic.status_code == 200 and traffic.json()["rate"] == 0.5


def test_sigkill_of_the_launcher_leaves_no_process_and_the_next_up_starts_cleanly(own_mesh, root):
    mesh = own_mesh
    everything = {p.pid for p in psutil.Process(mesh.process.pid).children(recursive=True)}
    assert len(everything) >= 15  # control plane (and its checker), tracer, 6 apps, 7 Envoys
    mesh.process.send_signal(signal.SIGKILL)
    mesh.process.wait(timeout=10)
    wait_until(no_process_left(everything), timeout=30, what="every process of the mesh gone")
    # The lock died with its holder: a new launcher on the same state directory starts cleanly,
    # and finds the resources applied before.
    again = start_mesh(root)
    try:
        kept = again.session.get(f"{again.api_url}/api/v1/virtualservices/reviews", timeout=10)
        assert kept.status_code == 200, kept.text
        third = subprocess.run(
            [sys.executable, "-m", "meshcore.cli", "up", "--state-dir", str(again.state_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert third.returncode == 1 and "already running" in third.stderr, third.stderr
    finally:
        stop_mesh(again)
