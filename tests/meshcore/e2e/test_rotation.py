"""Certificate rotation under steady traffic: 20 s certificates, one minute, no request fails.

A mesh of its own (the session's mesh keeps Istio's 24 h lifetime). Rotation happens at half the
lifetime, so every proxy gets about six new certificates during the minute while the built-in
traffic generator keeps BookInfo busy through the gateway.
"""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import pytest

from dashboard.sources.http import endpoint_json
from tests.support.mesh import start_mesh, stop_mesh
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mesh

LIFETIME_S = 20
SOAK_S = 60
RATE = 10


@pytest.fixture(scope="module")
def short_lived_mesh(tmp_path_factory):
    mesh = start_mesh(tmp_path_factory.mktemp("rotation"), extra_args=["--cert-lifetime", str(LIFETIME_S)])
    yield mesh
    stop_mesh(mesh)


def admin_ports(mesh) -> dict[str, str]:
    """Every Envoy's admin address (`unix:/path`), by workload name (and the gateway's)."""
    registry = mesh.registry()
    ports = {w["name"]: w["admin_address"] for w in registry["workloads"]}
    ports[registry["gateway"]["name"]] = registry["gateway"]["admin_address"]
    return ports


def counters(port: str, pattern: str) -> dict[str, int]:
    stats = endpoint_json(port, f"/stats?format=json&filter={quote(pattern)}", 5)["stats"]
    return {s["name"]: int(s["value"]) for s in stats if "value" in s}


def failures(port: str) -> int:
    """Failed upstream requests and connections of every outbound cluster of one Envoy."""
    found = counters(port, r"^cluster\.outbound\|.*\.(upstream_rq_5xx|upstream_cx_connect_fail)$")
    return sum(value for name, value in found.items() if ".external." not in name)


def serial(port: str) -> str:
    certificates = endpoint_json(port, "/certs", 5)["certificates"]
    chains = [c for entry in certificates for c in entry.get("cert_chain", [])]
    return next(c["serial_number"] for c in chains if c.get("subject_alt_names"))


def test_rotation_with_20s_certificates_drops_no_request_over_a_minute(short_lived_mesh):
    mesh = short_lived_mesh
    ports = admin_ports(mesh)
    updates = {name: counters(port, r"^sds\.default\.update_success$") for name, port in ports.items()}
    failed_before = {name: failures(port) for name, port in ports.items()}
    serials_before = {name: serial(port) for name, port in ports.items()}
    before = mesh.set_traffic(RATE)
    started = time.monotonic()
    wait_until(lambda: time.monotonic() - started >= SOAK_S, timeout=SOAK_S + 10, interval=1, what="a minute")
    mesh.set_traffic(0)
    wait_until(lambda: mesh.traffic()["in_flight"] == 0, timeout=15, what="the last requests complete")
    report = mesh.traffic()
    sent = report["sent"] - before["sent"]
    assert sent >= 0.8 * RATE * SOAK_S, report
    assert report["errors"] == before["errors"], report["errors_by_kind"]
    assert set(report["by_status"]) == {"200"}, report["by_status"]
    for name, port in ports.items():
        rotations = counters(port, r"^sds\.default\.update_success$")["sds.default.update_success"]
        # ~6 rotations in a minute at half of a 20 s lifetime; at least 4 on a loaded machine.
        assert rotations - updates[name]["sds.default.update_success"] >= 4, name
        assert serial(port) != serials_before[name], name
        assert failures(port) == failed_before[name], name
    assert re.search(r"reviews-v\d", mesh.page().text)
