"""Istio objects in the test API server (tests/support/kubeapi.py), written and read with the
official client directly, as `kubectl` would: what the cluster-mode route tests check against."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.support.kubeapi import ISTIO_KINDS, KubeCluster

NETWORKING = ("networking.istio.io", "v1")


def custom_api(cluster: KubeCluster, user: str = "admin") -> client.CustomObjectsApi:
    return client.CustomObjectsApi(cluster.client(user))


def read_object(cluster: KubeCluster, plural: str, name: str, namespace: str = "default") -> dict | None:
    """The object as the API server stores it (server fields included), None when absent."""
    try:
        return custom_api(cluster).get_namespaced_custom_object(
            *NETWORKING, namespace, plural, name, _request_timeout=10
        )
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise


def delete_all_istio_objects(cluster: KubeCluster) -> None:
    """Remove every Istio object of every namespace (the API server is shared by a worker's tests)."""
    api = custom_api(cluster)
    for group, _, plural in ISTIO_KINDS:
        items = api.list_cluster_custom_object(group, "v1", plural, _request_timeout=10)["items"]
        for item in items:
            metadata = item["metadata"]
            api.delete_namespaced_custom_object(
                group, "v1", metadata["namespace"], plural, metadata["name"], _request_timeout=10
            )


def virtual_service(
    name: str, host: str, spec: dict[str, Any] | None = None, namespace: str = "default"
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec or {"hosts": [host], "http": [{"route": [{"destination": {"host": host}}]}]},
    }
