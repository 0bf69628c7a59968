"""The shipped ClusterRoles (deploy/kubernetes) bound to the test API server's token users.

`bind_shipped_role(kube, "meshscope-dashboard", "meshscope-dashboard")` gives that user exactly
the role the deployment ships, so a test can show what the dashboard can and cannot do with it.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from kubernetes import client

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
TIMEOUT = 30


def shipped_documents() -> list[dict]:
    documents = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        documents.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return documents


def shipped_cluster_roles() -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in shipped_documents() if d["kind"] == "ClusterRole"}


def bind_shipped_role(kube, role: str, user: str) -> None:
    """Create (or refresh) the shipped ClusterRole `role` and bind it to token user `user`."""
    rbac = client.RbacAuthorizationV1Api(kube.client())
    body = shipped_cluster_roles()[role]
    try:
        rbac.create_cluster_role(body, _request_timeout=TIMEOUT)
    except client.ApiException as error:
        if error.status != 409:
            raise
        rbac.replace_cluster_role(role, body, _request_timeout=TIMEOUT)
    binding = {
        "metadata": {"name": f"test-{user}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    try:
        rbac.create_cluster_role_binding(binding, _request_timeout=TIMEOUT)
    except client.ApiException as error:
        if error.status != 409:
            raise
