"""Workload security in cluster mode: Istio's PeerAuthentication and AuthorizationPolicy objects in a
real kube-apiserver, decided by the control plane's own lookups. The registry is given as data."""

from __future__ import annotations

import pytest

from dashboard.sources.errors import SourceError
from dashboard.sources.kuberoutes import KubernetesRouteStore
from dashboard.sources.kubesecurity import KubernetesSecurity
from dashboard.sources.registry import MeshRegistry, ServiceInfo, WorkloadInfo
from tests.support.kubeistio import custom_api, delete_all_istio_objects

SECURITY = ("security.istio.io", "v1")
REGISTRY = MeshRegistry(
    services=(ServiceInfo("reviews"), ServiceInfo("ratings")),
    workloads=(
        WorkloadInfo(
            "reviews-v1",
            "reviews",
            "reviews",
            "v1",
            spiffe_id="spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
        ),
        WorkloadInfo("ratings-v1", "ratings", "ratings", "v1"),
    ),
)


def security_object(kind: str, plural: str, name: str, spec: dict) -> tuple[str, dict]:
    return plural, {
        "apiVersion": "security.istio.io/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


@pytest.fixture
def cluster(kube):
    delete_all_istio_objects(kube)
    yield kube
    delete_all_istio_objects(kube)


def test_modes_and_policies_come_from_the_clusters_objects(cluster):
    api = custom_api(cluster)
    for plural, body in (
        security_object(
            "PeerAuthentication",
            "peerauthentications",
            "reviews-strict",
            {"selector": {"matchLabels": {"app": "reviews"}}, "mtls": {"mode": "STRICT"}},
        ),
        security_object(
            "AuthorizationPolicy",
            "authorizationpolicies",
            "ratings-deny",
            {"selector": {"matchLabels": {"app": "ratings"}}, "action": "DENY", "rules": [{}]},
        ),
        # Stored by kubectl with a malformed spec: decides nothing, breaks nothing.
        security_object("PeerAuthentication", "peerauthentications", "broken", {"mtls": {"mode": 7}}),
    ):
        api.create_namespaced_custom_object(*SECURITY, "default", plural, body)
    store = KubernetesRouteStore(cluster.client(), 10.0)
    workloads = KubernetesSecurity(store, lambda: REGISTRY).workloads()
    reviews, ratings = workloads["reviews-v1"], workloads["ratings-v1"]
    assert reviews["mtls"]["mode"] == "STRICT" and "reviews-strict" in reviews["mtls"]["source"]
    assert (reviews["service_account"], reviews["spiffe_id"]) == (
        "bookinfo-reviews",
        "spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
    )
    assert reviews["certificate"] is None and reviews["authorization_policies"] == []
    assert ratings["mtls"]["mode"] != "STRICT" and ratings["service_account"] == "default"
    assert [(p["name"], p["action"]) for p in ratings["authorization_policies"]] == [("ratings-deny", "DENY")]


def test_without_a_registry_there_are_no_identities(cluster):
    store = KubernetesRouteStore(cluster.client(), 10.0)
    with pytest.raises(SourceError):
        KubernetesSecurity(store, lambda: None).workloads()
