"""The shipped ClusterRoles (deploy/kubernetes) on a real kube-apiserver with RBAC: the dashboard
works with exactly its role and gets 403 beyond it; the view-only role cannot write.

The roles are loaded from the manifests as they ship (yaml.safe_load_all) and bound to the test
server's token users `meshscope-dashboard` and `meshscope-viewer`, which have no rights otherwise.
"""

from __future__ import annotations

import pytest
import yaml
from kubernetes import client

from dashboard.sources.kubernetes import KubernetesRegistry
from dashboard.topology.state import MemoryPollState
from tests.support import kubebookinfo
from tests.support.kuberoles import DEPLOY, bind_shipped_role, shipped_cluster_roles, shipped_documents

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*"}
TIMEOUT = 30
ISTIO_GROUP, ISTIO_VERSION = "networking.istio.io", "v1"


def allowed(kube, user: str, verb: str, resource: str, group: str = "", subresource: str = "") -> bool:
    """What the API server's authorizer answers `user` (a SelfSubjectAccessReview in its name)."""
    review = {
        "spec": {
            "resourceAttributes": {
                "verb": verb,
                "group": group,
                "resource": resource,
                "subresource": subresource,
                "namespace": "default",
            }
        }
    }
    answer = client.AuthorizationV1Api(kube.client(user)).create_self_subject_access_review(
        review, _request_timeout=TIMEOUT
    )
    return answer.status.allowed


@pytest.fixture
def bookinfo(kube):
    api = kube.client()
    return kubebookinfo.load_bookinfo(api, kubebookinfo.fresh_namespace(api))


def create_virtual_service(kube, user: str, namespace: str, name: str = "reviews") -> dict:
    """Create a VirtualService as `user` (raises ApiException when refused)."""
    body = {
        "apiVersion": f"{ISTIO_GROUP}/{ISTIO_VERSION}",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews"}}]}]},
    }
    return client.CustomObjectsApi(kube.client(user)).create_namespaced_custom_object(
        ISTIO_GROUP, ISTIO_VERSION, namespace, "virtualservices", body, _request_timeout=TIMEOUT
    )


def test_the_view_only_role_has_no_write_verb_and_the_same_reads():
    roles = shipped_cluster_roles()
    viewer, dashboard = roles["meshscope-viewer"], roles["meshscope-dashboard"]
    assert not any(WRITE_VERBS & set(rule["verbs"]) for rule in viewer["rules"])
    reads = {"get", "list", "watch"}
    assert [(r["apiGroups"], r["resources"], reads & set(r["verbs"])) for r in dashboard["rules"]] == [
        (r["apiGroups"], r["resources"], set(r["verbs"])) for r in viewer["rules"]
    ]


def test_the_dashboard_works_with_exactly_its_role_and_nothing_more(kube, bookinfo):
    bind_shipped_role(kube, "meshscope-dashboard", "meshscope-dashboard")
    user = "meshscope-dashboard"
    source = KubernetesRegistry(
        kube.client(user), MemoryPollState(), timeout=20, watch_idle=1.0, namespaces=[bookinfo.namespace]
    )

    registry = source.registry()
    registry = source.registry()  # the watch step is allowed too

    assert registry.workload("reviews-v2") is not None and registry.service("ratings") is not None
    core = client.CoreV1Api(kube.client(user))
    with pytest.raises(client.ApiException) as secrets:
        core.list_namespaced_secret(bookinfo.namespace, _request_timeout=TIMEOUT)
    assert secrets.value.status == 403
    with pytest.raises(client.ApiException) as config_maps:
        core.read_namespaced_config_map("anything", bookinfo.namespace, _request_timeout=TIMEOUT)
    assert config_maps.value.status == 403
    with pytest.raises(client.ApiException) as pod_write:
        core.delete_namespaced_pod(
            bookinfo.pods["ratings-v1"][0].name, bookinfo.namespace, _request_timeout=TIMEOUT
        )
    assert pod_write.value.status == 403
    # Route editing: Istio objects may be written ...
    create_virtual_service(kube, user, bookinfo.namespace)
    client.CustomObjectsApi(kube.client(user)).delete_namespaced_custom_object(
        ISTIO_GROUP, ISTIO_VERSION, bookinfo.namespace, "virtualservices", "reviews", _request_timeout=TIMEOUT
    )
    # ... and the sidecar inspector's pod proxy may be read (no kubelet here to answer it).
    assert allowed(kube, user, "get", "pods", subresource="proxy")
    assert not allowed(kube, user, "create", "pods", subresource="proxy")
    assert not allowed(kube, user, "get", "nodes")


def test_the_viewer_role_reads_the_registry_but_cannot_create_a_virtual_service(kube, bookinfo):
    bind_shipped_role(kube, "meshscope-viewer", "meshscope-viewer")
    user = "meshscope-viewer"
    source = KubernetesRegistry(
        kube.client(user), MemoryPollState(), timeout=20, watch_idle=1.0, namespaces=[bookinfo.namespace]
    )
    assert source.registry().workload("productpage-v1") is not None
    custom = client.CustomObjectsApi(kube.client(user))
    assert (
        custom.list_namespaced_custom_object(
            ISTIO_GROUP, ISTIO_VERSION, bookinfo.namespace, "virtualservices", _request_timeout=TIMEOUT
        )["items"]
        == []
    )

    with pytest.raises(client.ApiException) as refused:
        create_virtual_service(kube, user, bookinfo.namespace)

    assert refused.value.status == 403
    with pytest.raises(client.ApiException) as secrets:
        client.CoreV1Api(kube.client(user)).list_namespaced_secret(
            bookinfo.namespace, _request_timeout=TIMEOUT
        )
    assert secrets.value.status == 403


def test_every_manifest_the_kustomization_names_ships_and_parses():
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (DEPLOY / resource).is_file(), resource
    kinds = {d["kind"] for d in shipped_documents()}
    assert {
        "Deployment",
        "StatefulSet",
        "Service",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
    } <= kinds
    overlay = yaml.safe_load((DEPLOY / "view-only" / "kustomization.yaml").read_text())
    assert overlay["resources"] == [".."]
