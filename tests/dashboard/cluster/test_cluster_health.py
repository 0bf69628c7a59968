"""The health page in cluster mode checks the cluster's systems — the real kube-apiserver and the
trace server (the Jaeger STAND-IN of jaeger_standin.py: Jaeger cannot run here) — instead of the
local control plane and tracer, and names the one that does not answer."""

from __future__ import annotations

import pytest

from tests.dashboard.cluster.jaeger_standin import stand_in_jaeger
from tests.support.ports import free_port
from tests.support.served_app import ServedApp


@pytest.fixture
def jaeger():
    served = ServedApp(stand_in_jaeger("v3")[0])
    yield served.url
    served.stop()


@pytest.fixture
def cluster_settings(settings, kube, jaeger, redis_layer, tmp_path):
    settings.CLUSTER_MODE = "kubernetes"
    settings.REGISTRY_SOURCE = "kubernetes"
    settings.KUBECONFIG = str(kube.kubeconfig("admin"))
    settings.TRACES_URL, settings.TRACES_KIND = jaeger, "jaeger"
    settings.PROMETHEUS_URL = ""
    settings.SUPERVISOR_FILES = [str(tmp_path / "supervisor.json")]
    settings.HEALTH_DEADLINE_SECONDS = 5.0
    return settings


def checks_of(viewer_client) -> dict[str, dict]:
    return {c["name"]: c for c in viewer_client.get("/api/health").json()["checks"]}


def test_cluster_mode_checks_the_api_server_and_the_trace_server(cluster_settings, viewer_client):
    checks = checks_of(viewer_client)
    assert "controlplane" not in checks and "tracer" not in checks
    assert checks["kubernetes"]["state"] == "up", checks["kubernetes"]
    assert "v1.20" in checks["kubernetes"]["detail"]
    assert checks["traces"]["state"] == "up", checks["traces"]
    page = viewer_client.get("/health/").content.decode()
    assert 'data-check="kubernetes"' in page and 'data-check="traces"' in page


def test_an_api_server_that_does_not_answer_is_down_by_name(cluster_settings, viewer_client, kube, tmp_path):
    dead = tmp_path / "dead-kubeconfig.yaml"
    dead.write_text(
        kube.kubeconfig("admin").read_text().replace(kube.url, f"https://127.0.0.1:{free_port()}")
    )
    cluster_settings.KUBECONFIG = str(dead)
    checks = checks_of(viewer_client)
    assert checks["kubernetes"]["state"] == "down"
    assert checks["kubernetes"]["error"]
    assert checks["traces"]["state"] == "up"
