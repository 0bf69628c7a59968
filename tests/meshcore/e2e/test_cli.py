"""The `meshcore` CLI as a user drives it: apply/get/delete, and `up` stopping every child on Ctrl-C."""

from __future__ import annotations

import signal

import psutil
import pytest
import yaml

from tests.support.mesh import start_mesh, stop_mesh
from tests.support.samples import SAMPLES, reviews_weights
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mesh


def test_apply_get_delete_round_trip(clean_mesh):
    mesh = clean_mesh
    applied = mesh.cli("apply", "-f", str(SAMPLES / "destination-rule-all.yaml"))
    assert applied.returncode == 0, applied.stderr
    assert "destinationrule.networking.istio.io/reviews created" in applied.stdout
    from_stdin = mesh.cli("apply", "-f", "-", stdin=reviews_weights(v2=100))
    assert "virtualservice.networking.istio.io/reviews created" in from_stdin.stdout
    assert set(mesh.versions_seen(5)) == {"v2"}

    listed = mesh.cli("get", "vs")
    assert "reviews" in listed.stdout
    exported = mesh.cli("get", "virtualservices", "reviews", "-o", "yaml")
    document = yaml.safe_load(exported.stdout)
    assert (
        document["kind"] == "VirtualService"
        and document["spec"]["http"][0]["route"][0]["destination"]["subset"] == "v2"
    )
    # What `get -o yaml` prints can be applied again unchanged (kubectl's edit loop).
    again = mesh.cli("apply", "-f", "-", stdin=exported.stdout)
    assert "unchanged" in again.stdout, again.stdout + again.stderr

    invalid = mesh.cli("apply", "-f", "-", stdin=reviews_weights(v1=60, v2=30))
    assert invalid.returncode == 1
    assert "spec.http[0].route" in invalid.stderr and "sum to 90" in invalid.stderr

    deleted = mesh.cli("delete", "vs", "reviews")
    assert deleted.returncode == 0 and "deleted" in deleted.stdout
    assert mesh.cli("get", "vs", "reviews").returncode == 1


def test_up_stops_every_child_on_ctrl_c_and_keeps_resources_for_the_next_start(tmp_path):
    mesh = start_mesh(tmp_path)
    mesh.apply_ok((SAMPLES / "destination-rule-all.yaml").read_text())
    mesh.apply_ok(reviews_weights(v2=100))
    children = psutil.Process(mesh.process.pid).children(recursive=True)
    assert len(children) >= 14  # 7 Envoys, 6 apps, the tracer
    mesh.process.send_signal(signal.SIGINT)
    assert mesh.process.wait(timeout=30) == 0
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, [p.pid for p in alive]
    assert "stopping every child process" in mesh.log_path.read_text()
    wait_until(
        lambda: not (mesh.state_dir / "meshcore.pid").exists(), timeout=5, what="the pid file is removed"
    )

    restarted = start_mesh(tmp_path)
    try:
        assert set(restarted.versions_seen(5)) == {"v2"}
    finally:
        stop_mesh(restarted)
