"""No web page can drive the mesh: cross-site "simple" requests to every state-changing endpoint of
the resource API, the tracer and every port an Envoy listens on change nothing, as traffic and
`meshcore status` show; the same changes with the token (the CLI) work."""

from __future__ import annotations

import json
import random
import time

import psutil
import pytest
import requests

from meshcore.tracer.samples import bookinfo_trace
from tests.meshcore.e2e.gateway_watch import GatewayWatch
from tests.support.samples import reviews_weights, sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mesh

# Exactly what fetch(url, {method, body, mode: "no-cors"}) sends from any page the user opens.
CROSS_SITE = {"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://evil.example"}
ENVOY_ADMIN_WRITES = ("/healthcheck/fail", "/quitquitquit", "/runtime_modify?re2.max_program_size.error_level=1",
                      "/logging?level=trace", "/drain_listeners", "/reset_counters")  # fmt: skip


def cross_site(method: str, url: str, body: str = "") -> requests.Response | None:
    try:
        return requests.request(method, url, data=body.encode(), headers=CROSS_SITE, timeout=5)
    except requests.RequestException:
        return None  # nothing answered: nothing could be changed either


def listening_ports(mesh) -> set[int]:
    """Every TCP port a process of the running mesh (control plane, Envoys, apps, tracer) listens on."""
    root = psutil.Process(mesh.process.pid)
    ports = set()
    for process in [root, *root.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="tcp")
        except psutil.Error:
            continue
        ports |= {c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN}
    return ports


def status_summary(mesh) -> dict:
    """What `meshcore status -o json` says about config and processes."""
    result = mesh.cli("status", "-o", "json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    return {
        "generation": status["generation"],
        "revision": status["resource_revision"],
        "processes": {
            p["name"]: (p["state"], p["ready"], p["restarts"], p["pid"]) for p in status["processes"]
        },
    }


def test_cross_site_requests_change_nothing_and_the_cli_with_the_token_does(clean_mesh):
    mesh = clean_mesh
    mesh.apply_ok(sample("destination-rule-all"))
    mesh.apply_ok(reviews_weights(v1=100))
    before = status_summary(mesh)
    rate_before = mesh.traffic()["rate"]
    api = mesh.api_url
    attempts = [
        ("POST", f"{api}/api/v1/apply", sample("virtual-service-ratings-test-abort")),
        ("PUT", f"{api}/api/v1/virtualservices/reviews", reviews_weights(v3=100)),
        ("DELETE", f"{api}/api/v1/virtualservices/reviews", ""),
        ("DELETE", f"{api}/api/v1/destinationrules/reviews", ""),
        ("POST", f"{api}/api/v1/processes/ratings-v1-app/stop", ""),
        ("POST", f"{api}/api/v1/processes/istio-ingressgateway/stop", ""),
        ("PUT", f"{api}/api/v1/traffic", '{"rate": 1000}'),
    ]
    span = json.dumps(bookinfo_trace(random.Random(9), int(time.time() * 1_000_000))[:1])
    ports = listening_ports(mesh)
    assert {mesh.ports["gateway"], mesh.ports["api"], mesh.ports["tracer"]} <= ports
    with GatewayWatch(f"{mesh.gateway_url}/productpage") as watch:
        for method, url, body in attempts:
            answer = cross_site(method, url, body)
            assert answer is not None and answer.status_code in (401, 403), (url, answer and answer.text)
        spans = cross_site("POST", f"{mesh.tracer_url}/api/v2/spans", span)
        assert spans is not None and spans.status_code in (403, 415)
        otlp = cross_site("POST", f"{mesh.tracer_url}/v1/traces", "{}")
        assert otlp is not None and otlp.status_code in (403, 415)
        # No port of the mesh is an Envoy admin: their POST endpoints are out of every page's reach.
        for port in sorted(ports):
            for path in ENVOY_ADMIN_WRITES:
                cross_site("POST", f"http://127.0.0.1:{port}{path}")
        wait_until(lambda: watch.ok >= 30, timeout=60, what="traffic through the gateway during the attempts")
    assert set(watch.statuses) == {200}, watch.statuses
    assert status_summary(mesh) == before
    assert mesh.traffic()["rate"] == rate_before
    assert set(mesh.versions_seen(5)) == {"v1"}
    assert mesh.session.get(f"{api}/api/v1/virtualservices/ratings", timeout=5).status_code == 404
    # A page on another origin can read nothing from the tracer either.
    read = requests.get(
        f"{mesh.tracer_url}/api/v2/services", headers={"Origin": "https://evil.example"}, timeout=5
    )
    assert read.status_code == 200 and "Access-Control-Allow-Origin" not in read.headers
    rebound = requests.get(
        f"{mesh.tracer_url}/api/v2/services", headers={"Host": "evil.example:9411"}, timeout=5
    )
    assert rebound.status_code == 403

    # The same changes with the token, as the CLI sends it, work.
    stopped = mesh.cli("stop", "ratings-v1-app")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    assert status_summary(mesh)["processes"]["ratings-v1-app"][0] == "stopped"
    started = mesh.cli("start", "ratings-v1-app")
    assert started.returncode == 0, started.stderr
    applied = mesh.cli("apply", "-f", "-", stdin=reviews_weights(v3=100))
    assert applied.returncode == 0 and "configured" in applied.stdout, applied.stderr
    assert set(mesh.versions_seen(5)) == {"v3"}
    wait_until(
        lambda: status_summary(mesh)["processes"]["ratings-v1-app"][1], timeout=30, what="ratings ready"
    )
