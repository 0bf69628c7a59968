"""`/api/registry` in cluster mode (a real kube-apiserver with BookInfo) and in local mode."""

from __future__ import annotations

import pytest
import yaml

from dashboard.sources import configured
from dashboard.sources.registry import StaticRegistry
from meshcore.bookinfo.topology import BOOKINFO_WORKLOADS
from tests.support import kubebookinfo
from tests.support.kuberoles import bind_shipped_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster_mode(settings, redis_layer, kube):
    """The dashboard's settings for a cluster: the registry from the API server, its view in Redis."""
    api = kube.client()
    loaded = kubebookinfo.load_bookinfo(api, kubebookinfo.fresh_namespace(api))
    settings.REGISTRY_SOURCE = "kubernetes"
    settings.KUBECONFIG = str(kube.kubeconfig("meshscope-dashboard"))
    settings.KUBE_NAMESPACES = [loaded.namespace]
    # Generous for a loaded 2-core machine: the events come at once, the quiet wait is the cost.
    settings.KUBE_WATCH_IDLE_SECONDS = 1.0
    settings.SOURCE_TIMEOUT_SECONDS = 20.0
    return loaded


def bind_dashboard_role(kube) -> None:
    """The shipped ClusterRole, bound to the dashboard's user (see test_rbac for its limits)."""
    bind_shipped_role(kube, "meshscope-dashboard", "meshscope-dashboard")


def test_api_registry_lists_bookinfo_from_the_cluster(viewer_client, cluster_mode, kube):
    bind_dashboard_role(kube)

    answer = viewer_client.get("/api/registry")

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert sorted(s["name"] for s in body["services"]) == ["details", "productpage", "ratings", "reviews"]
    workloads = {w["name"]: w for w in body["workloads"]}
    assert sorted(workloads) == sorted(f"{app}-{version}" for app, version in BOOKINFO_WORKLOADS)
    assert workloads["reviews-v3"] == {
        "name": "reviews-v3",
        "namespace": cluster_mode.namespace,
        "service": "reviews",
        "app": "reviews",
        "version": "v3",
        "service_account": "bookinfo-reviews",
        "spiffe_id": f"spiffe://cluster.local/ns/{cluster_mode.namespace}/sa/bookinfo-reviews",
        "sidecar": True,
        "ready": True,
    }


def test_api_registry_is_a_502_in_the_error_shape_when_the_api_server_cannot_be_reached(
    viewer_client, settings, redis_layer, kube, tmp_path
):
    document = yaml.safe_load(kube.kubeconfig("admin").read_text())
    document["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"  # nothing listens there
    unreachable = tmp_path / "kubeconfig"
    unreachable.write_text(yaml.safe_dump(document))
    settings.REGISTRY_SOURCE = "kubernetes"
    settings.KUBECONFIG = str(unreachable)
    settings.SOURCE_TIMEOUT_SECONDS = 2.0

    answer = viewer_client.get("/api/registry")

    assert answer.status_code == 502
    assert answer.json()["error"].startswith("registry unavailable: Kubernetes API unreachable")
    assert answer.json()["errors"] == []


def test_api_registry_in_local_mode_and_it_needs_a_login(
    client, viewer_client, monkeypatch, bookinfo_recording
):
    from tests.dashboard.helpers import registry_of

    registry = registry_of(bookinfo_recording)
    monkeypatch.setattr(configured, "registry_source", lambda: StaticRegistry(registry, ()))
    body = viewer_client.get("/api/registry").json()
    assert [w["name"] for w in body["workloads"]] == sorted(w.name for w in registry.workloads)
    assert body["gateway"]["name"] == registry.gateway.name

    client.logout()
    refused = client.get("/api/registry")
    assert refused.status_code == 401
    assert "error" in refused.json()
