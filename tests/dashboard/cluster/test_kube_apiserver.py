"""The test API server behaves as the cluster-mode tests rely on (a real kube-apiserver 1.20).

These are the properties a mock could not give (see tests/support/kubeapi.py): server-assigned
resourceVersions, 409 on a stale one, 410 for a watch from an expired one, RBAC for the
unprivileged users.
"""

from __future__ import annotations

import pytest
from kubernetes import client, watch

GROUP, VERSION, PLURAL = "networking.istio.io", "v1", "virtualservices"


def virtual_service(name: str, weight: int = 100) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "hosts": ["reviews"],
            "http": [{"route": [{"destination": {"host": "reviews"}, "weight": weight}]}],
        },
    }


def test_custom_objects_have_versions_and_stale_writes_conflict(kube):
    api = client.CustomObjectsApi(kube.client())
    created = api.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, virtual_service("rv-check")
    )
    assert created["metadata"]["resourceVersion"] and created["metadata"]["uid"]
    current = dict(created, spec=virtual_service("rv-check", 90)["spec"])
    replaced = api.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "rv-check", current)
    assert replaced["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    with pytest.raises(client.ApiException) as stale:
        api.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "rv-check", created)
    assert stale.value.status == 409
    api.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "rv-check")


def test_a_watch_from_an_expired_version_is_gone(kube):
    api = client.CustomObjectsApi(kube.client())
    with pytest.raises(client.ApiException) as gone:
        for _ in watch.Watch().stream(
            api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            "default",
            PLURAL,
            resource_version="1",
            timeout_seconds=5,
        ):
            pass
    assert gone.value.status == 410


def test_a_user_without_bindings_has_no_rights(kube):
    with pytest.raises(client.ApiException) as refused:
        client.CoreV1Api(kube.client("nobody")).list_namespaced_pod("default", _request_timeout=10)
    assert refused.value.status == 403
