"""The fault suite: under steady gateway traffic, kill -9 one part of `make run` at a time.

For each part: gateway requests that do not depend on it keep succeeding (counted), the part is
back within 30 s (its supervisor.json entry, or the tracer's /health for its writer), the map is
fresh again, and nothing stored is lost (mesh resources, audit revisions, users). The control plane
is one of those parts: a child of the mesh's launcher like the Envoys, so while it is down they
keep serving with their last config (no gateway request fails), and once it is back they have
reconnected and a route applied then takes effect. Last, a SIGKILL of the launcher leaves no
process behind.

One stack for the module (starting it costs about a minute); slow, so marked `mesh` and bounded.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.support.faults import (
    CONTROL_PLANE,
    LAUNCHER,
    MESH_PARTS,
    REVIEWS_V3,
    STACK_PARTS,
    WRITER,
    FaultStack,
    GatewayTraffic,
    alive,
    launcher_descendants,
    no_process_left,
    recover,
)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.mesh, pytest.mark.timeout(1200)]

RATINGS_V1 = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
spec:
  host: ratings
  subsets:
  - name: v1
    labels: {version: v1}
"""
STORED = (
    "from django.contrib.auth import get_user_model; from dashboard.routes.models import Revision; "
    "print(get_user_model().objects.count(), Revision.objects.count())"
)
# Parts whose death the gateway's requests must not notice (the mesh serves without them; the
# Envoys keep their last config while the control plane is away).
GATEWAY_INDEPENDENT = (*STACK_PARTS, "tracer", WRITER, "sidecar-ratings-v1", "app-ratings-v1", CONTROL_PLANE)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = FaultStack(tmp_path_factory.mktemp("faults"))
    try:
        yield running.wait_up()
    finally:
        running.stop()


@pytest.fixture(scope="module")
def traffic(stack):
    generator = GatewayTraffic(stack.gateway_url + "/productpage").start()
    yield generator
    generator.stop()


@pytest.fixture(scope="module")
def stored(stack):
    """What is stored before the kills: a mesh resource, the users and the audit revisions."""
    reply = stack.api("POST", "/api/v1/apply", data=RATINGS_V1, headers={"Content-Type": "application/yaml"})
    assert reply.status_code == 200, reply.text
    users, revisions = counts(stack.manage(STORED))
    resource = stack.api("GET", "/api/v1/destinationrules/ratings").json()
    return {"resource": resource, "users": users, "revisions": revisions}


def counts(output: str) -> tuple[int, int]:
    """(users, audit revisions) from the last line STORED printed (Django's shell may print more)."""
    users, revisions = output.splitlines()[-1].split()
    return int(users), int(revisions)


def health_names_the_kill(stack, opener, part: str, restarts_before: int) -> bool:
    """/api/health shows `part` restarted once more after a SIGKILL (from the supervisors' files;
    the span writer through the tracer check's detail)."""
    with opener.open(f"{stack.dashboard_url}/api/health", timeout=15) as response:
        report = json.loads(response.read())
    if part == WRITER:
        tracer = next(c for c in report["checks"] if c["name"] == "tracer")
        return tracer["state"] == "up" and f"writer restarts {restarts_before + 1}" in tracer["detail"]
    parts = {p["name"]: p for p in report["supervisor"]["parts"]}
    entry = parts.get(part)
    return (
        entry is not None
        and entry["restarts"] == restarts_before + 1
        and (entry.get("last_exit") or {}).get("signal") == signal.SIGKILL
    )


@pytest.mark.parametrize("part", GATEWAY_INDEPENDENT)
def test_a_killed_part_comes_back_alone_and_nothing_is_lost(stack, traffic, stored, part):
    restarts = stack.restarts(part)
    others = {p: stack.pid(p) for p in (*STACK_PARTS, LAUNCHER, CONTROL_PLANE, *MESH_PARTS) if p != part}
    result = recover(stack, traffic, part, timeout=30)
    print(
        f"{part}: back in {result['seconds']:.1f} s; gateway {result['succeeded']} ok, {result['failed']} failed"
    )
    assert stack.restarts(part) == restarts + 1
    if part != WRITER:
        assert stack.parts()[part]["last_exit"]["signal"] == signal.SIGKILL
    # Nothing else was restarted: a dashboard part dying never stops the mesh, nor the reverse, and
    # the control plane's death takes neither its launcher nor a single Envoy or app with it.
    assert {p: stack.pid(p) for p in others} == others
    assert result["succeeded"] > 0 and result["failed"] == 0, result
    # The map is fresh again (the poller, Redis and the mesh all answer once more).
    opener = wait_until(stack.login, timeout=60, what="a login")
    wait_until(lambda: stack.map_fresh(opener), timeout=90, what="a fresh map")
    # The health page names what died: its restart and its SIGKILL (the writer: the tracer's count).
    wait_until(
        lambda: health_names_the_kill(stack, opener, part, restarts), timeout=30, what="health names it"
    )
    # Nothing stored is lost.
    assert stack.api("GET", "/api/v1/destinationrules/ratings").json() == stored["resource"]
    users, revisions = counts(stack.manage(STORED))
    # The audit may have recorded the apply above since (an external change): more, never fewer.
    assert users == stored["users"] and revisions >= stored["revisions"]


def test_a_route_applied_after_the_control_plane_came_back_takes_effect(stack, traffic):
    """The restarted control plane pushes: every Envoy reconnected, so a new route reaches them."""
    assert stack.restarts(CONTROL_PLANE) >= 1  # the kill above ran (tests of a file run in order)
    reply = stack.api(
        "POST", "/api/v1/apply?wait=10", data=REVIEWS_V3, headers={"Content-Type": "application/yaml"}
    )
    assert reply.status_code == 200, reply.text
    sync = reply.json()["sync"]
    assert not sync["pending"] and not sync["rejected"] and len(sync["acked"]) == 7, sync
    try:
        # The page is assembled by productpage calling reviews: ten in a row from v3 (red stars).
        wait_until(
            lambda: all("reviews-v3" in page_text(stack) for _ in range(10)), timeout=30, what="reviews v3"
        )
    finally:
        for plural in ("virtualservices", "destinationrules"):
            deleted = stack.api("DELETE", f"/api/v1/{plural}/reviews?wait=10")
            assert deleted.status_code == 200, deleted.text
    assert traffic.counts(time.monotonic() - 60)[1] == 0  # nor did the route change fail a request


def page_text(stack) -> str:
    return requests.get(stack.gateway_url + "/productpage", timeout=10).text


def test_meshcore_stop_during_a_backoff_holds_the_process_and_returns_promptly(stack):
    """Kill the ratings app again and again until its backoff is seconds long, then `meshcore stop`
    it while it waits: the command returns at once and nothing respawns it until `start`."""

    def app() -> dict:
        return stack.parts().get("app-ratings-v1", {})

    while True:
        victim = stack.kill("app-ratings-v1")
        state = wait_until(
            lambda victim=victim: (
                app() if app()["state"] == "backoff" or app()["pid"] not in (None, victim) else None
            ),
            timeout=30,
        )
        events = stack.api("GET", "/api/v1/events").json()["events"]
        delay = next(
            e["delay_s"]
            for e in reversed(events)
            if e["event"] == "restarting" and e["process"] == "ratings-v1-app"
        )
        if state["state"] == "backoff" and delay >= 3.0:
            break
    cli = [sys.executable, "-m", "meshcore.cli", "--api", stack.api_url, "stop", "ratings-v1-app"]
    env = {**stack.env, "MESHCORE_STATE_DIR": str(stack.state / "mesh")}
    # Bounded: the old supervisor never returned here (it respawned and spun during the backoff).
    stopped = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    assert app()["state"] == "held" and app()["pid"] is None
    # It was held out of the backoff: no respawn came between the backoff and the hold.
    events = [
        e["event"]
        for e in stack.api("GET", "/api/v1/events").json()["events"]
        if e["process"] == "ratings-v1-app"
    ]
    assert events[events.index("restarting", len(events) - 3) :] == ["restarting", "held"], events[-6:]
    restarts = app()["restarts"]
    wait_until(lambda: stack.gateway_ok(), timeout=30)  # the page still answers (ratings unavailable)
    time.sleep(delay)  # past the end of the backoff it was in: still held, not respawned
    assert app()["state"] == "held" and app()["restarts"] == restarts
    started = subprocess.run([*cli[:-2], "start", "ratings-v1-app"], env=env, capture_output=True, text=True,
                             timeout=60, check=False)  # fmt: skip
    assert started.returncode == 0, started.stderr
    wait_until(lambda: app()["state"] == "running" and app()["pid"], timeout=30, what="started again")


def test_sigkill_of_the_launcher_leaves_no_process(stack, traffic):
    traffic.stop()
    pids = launcher_descendants(stack) | {stack.pid(p) for p in (*STACK_PARTS, LAUNCHER, CONTROL_PLANE)}
    pids.discard(None)
    assert len(pids) > 10
    stack.process.send_signal(signal.SIGKILL)
    stack.process.wait(timeout=10)
    wait_until(no_process_left(pids), timeout=30, what="every process gone")
    assert not alive(stack.process.pid)
