"""Kubernetes objects -> registry records -> MeshRegistry (pure; no API server needed)."""

from __future__ import annotations

import pytest

from dashboard.sources.errors import SourceError
from dashboard.sources.kubeparse import build_registry, object_key, parse_endpoints, parse_pod, parse_service
from dashboard.sources.kubernetes import Gone, apply_event
from dashboard.sources.registry import parse_registry


def pod_json(
    name="reviews-v2-5d8f-abcde",
    labels=None,
    annotations=None,
    containers=("reviews", "istio-proxy"),
    **extra,
):
    labels = {"app": "reviews", "version": "v2", "pod-template-hash": "5d8f"} if labels is None else labels
    obj = {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": labels,
            "annotations": annotations or {},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "reviews-v2-5d8f"}],
            **extra.pop("metadata", {}),
        },
        "spec": {
            "serviceAccountName": "bookinfo-reviews",
            "containers": [{"name": c, "ports": [{"containerPort": 9080}]} for c in containers],
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.7",
            "conditions": [{"type": "Ready", "status": "True"}],
            **extra.pop("status", {}),
        },
    }
    return obj


def view_of(pods, services=(), endpoints=()):
    return {
        "namespaces": {},
        "services": {object_key(s): parse_service(s) for s in services},
        "pods": {object_key(p): parse_pod(p) for p in pods},
        "endpoints": {object_key(e): parse_endpoints(e) for e in endpoints},
    }


def test_a_pod_becomes_a_versioned_workload_of_its_deployment_with_its_identity():
    record = parse_pod(pod_json())
    assert record["workload"] == "reviews-v2"
    assert (record["app"], record["version"], record["sidecar"], record["ready"]) == (
        "reviews",
        "v2",
        True,
        True,
    )
    registry = build_registry(view_of([pod_json()]))
    (workload,) = registry.workloads
    assert workload.spiffe_id == "spiffe://cluster.local/ns/shop/sa/bookinfo-reviews"
    assert (workload.address, workload.inbound_port, workload.pod) == (
        "10.0.0.7",
        9080,
        "shop/reviews-v2-5d8f-abcde",
    )


def test_kubernetes_recommended_labels_and_the_injection_annotation_count_too():
    obj = pod_json(
        labels={"app.kubernetes.io/name": "ratings", "app.kubernetes.io/version": "v1"},
        annotations={"sidecar.istio.io/status": "{}"},
        containers=("ratings",),
    )
    record = parse_pod(obj)
    assert (record["app"], record["version"], record["sidecar"]) == ("ratings", "v1", True)
    assert parse_pod(pod_json(containers=("reviews",)))["sidecar"] is False


@pytest.mark.parametrize(
    "extra",
    [{"metadata": {"deletionTimestamp": "2026-12-01T10:00:00Z"}}, {"status": {"phase": "Succeeded"}}],
)
def test_pods_being_deleted_or_finished_are_left_out(extra):
    assert parse_pod(pod_json(**extra)) is None


def test_a_workload_is_ready_only_when_every_pod_is():
    not_ready = pod_json(
        name="reviews-v2-5d8f-zzzzz", status={"conditions": [{"type": "Ready", "status": "False"}]}
    )
    (workload,) = build_registry(view_of([pod_json(), not_ready])).workloads
    assert workload.ready is False
    assert workload.address == "10.0.0.7"  # the ready pod is the one shown


def test_endpoints_name_the_service_of_pods_whose_app_label_differs():
    service = {
        "metadata": {"name": "reviews-canary", "namespace": "shop"},
        "spec": {"ports": [{"port": 9080}]},
    }
    endpoints = {
        "metadata": {"name": "reviews-canary", "namespace": "shop"},
        "subsets": [
            {"addresses": [{"ip": "10.0.0.7", "targetRef": {"kind": "Pod", "name": "reviews-v2-5d8f-abcde"}}]}
        ],
    }
    registry = build_registry(view_of([pod_json()], [service], [endpoints]))
    assert registry.workload("reviews-v2").service == "reviews-canary"
    assert registry.service("reviews-canary").fqdn == "reviews-canary.shop.svc.cluster.local"


def test_namespaces_limit_the_registry_and_system_ones_are_hidden_by_default():
    system = pod_json(name="coredns-1", metadata={"namespace": "kube-system"}, labels={"app": "coredns"})
    view = view_of([pod_json(), system])
    assert [w.name for w in build_registry(view).workloads] == ["reviews-v2"]
    assert build_registry(view, namespaces=["other"]).workloads == ()


def test_the_ingress_gateway_is_the_pod_labelled_istio_ingressgateway():
    gateway = pod_json(
        name="istio-ingressgateway-7f-abcde",
        labels={"istio": "ingressgateway", "app": "istio-ingressgateway"},
    )
    gateway["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "istio-ingressgateway-7f"}]
    registry = build_registry(view_of([gateway, pod_json()]))
    assert registry.gateway.name == "istio-ingressgateway"
    assert registry.gateway.pod == "shop/istio-ingressgateway-7f-abcde"
    assert [w.name for w in registry.workloads] == ["reviews-v2"]


def test_watch_events_update_the_records_and_410_means_list_again():
    records = {}
    assert (
        apply_event(
            records,
            "pods",
            {
                "type": "ADDED",
                "object": {**pod_json(), "metadata": {**pod_json()["metadata"], "resourceVersion": "7"}},
            },
        )
        == "7"
    )
    assert list(records) == ["shop/reviews-v2-5d8f-abcde"]
    apply_event(records, "pods", {"type": "DELETED", "object": pod_json()})
    assert records == {}
    assert (
        apply_event(records, "pods", {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}})
        == "9"
    )
    with pytest.raises(Gone):
        apply_event(records, "pods", {"type": "ERROR", "object": {"kind": "Status", "code": 410}})
    with pytest.raises(SourceError):
        apply_event(
            records, "pods", {"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "boom"}}
        )


def test_the_new_workload_fields_survive_the_poll_states_round_trip():
    registry = build_registry(view_of([pod_json(containers=("reviews",))]))
    again = parse_registry(registry.to_dict())
    assert again.workloads == registry.workloads
    assert again.workloads[0].sidecar is False and again.workloads[0].service_account == "bookinfo-reviews"
