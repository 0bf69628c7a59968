"""Process supervision: a sidecar that dies is restarted and reported; an operator can hold an app down."""

from __future__ import annotations

import os
import signal

import pytest

from tests.support.mesh import RATINGS_UNAVAILABLE, star_colors
from tests.support.samples import reviews_weights, sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mesh


def node(mesh, name: str) -> dict:
    return next(n for n in mesh.status()["nodes"] if n["name"] == name)


def test_killed_sidecar_is_restarted_and_traffic_recovers(clean_mesh):
    mesh = clean_mesh
    before = node(mesh, "productpage-v1")["process"]
    os.kill(before["pid"], signal.SIGKILL)

    def restarted() -> dict | None:
        process = node(mesh, "productpage-v1")["process"]
        return process if process["restarts"] == before["restarts"] + 1 and process["pid"] else None

    after = wait_until(restarted, timeout=20, what="the productpage sidecar restarts")
    assert after["pid"] != before["pid"] and after["last_exit"] == -signal.SIGKILL
    events = mesh.session.get(f"{mesh.api_url}/api/v1/events", timeout=5).json()["events"]
    assert any(e["process"] == "productpage-v1-proxy" and e["event"] == "restarted" for e in events)
    wait_until(lambda: mesh.page().status_code == 200, timeout=20, what="the page answers again")
    wait_until(mesh.all_in_sync, timeout=20, what="the new sidecar ACKs its config")
    assert all(mesh.page().status_code == 200 for _ in range(10))


def test_a_stopped_app_stays_down_until_started_again(clean_mesh):
    mesh = clean_mesh
    mesh.apply_ok(sample("destination-rule-all"))
    mesh.apply_ok(reviews_weights(v2=100))
    stopped = mesh.cli("stop", "ratings-v1-app")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    try:
        assert node(mesh, "ratings-v1")["app_process"]["held"]
        for _ in range(5):
            assert RATINGS_UNAVAILABLE in mesh.page().text
    finally:
        started = mesh.cli("start", "ratings-v1-app")
    assert started.returncode == 0 and "running" in started.stdout
    wait_until(lambda: star_colors(mesh.page().text) == {"black"}, timeout=15, what="ratings come back")
    assert mesh.cli("stop", "no-such-process").returncode == 1
