"""A sidecar that dies is restarted, reported, and traffic recovers."""

from __future__ import annotations

import os
import signal

import pytest

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
