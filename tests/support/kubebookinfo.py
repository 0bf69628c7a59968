"""BookInfo's Kubernetes objects on the test API server (tests/support/kubeapi.py).

What `kubectl apply -f bookinfo.yaml` plus Istio's sidecar injection give on a real cluster:
ServiceAccounts `bookinfo-<app>`, Services on port 9080, Deployments `<app>-<version>` — and, since
no controller runs here, what the controllers would have made from them: a ReplicaSet per
Deployment, its Pods (with the `istio-proxy` container and the `sidecar.istio.io/status`
annotation injection adds, status patched to Running/Ready with a pod IP, as the kubelet would) and
each Service's Endpoints. Also the ingress gateway (`istio=ingressgateway` in istio-system).

Every builder returns plain dicts in the API's JSON form (the client accepts them as bodies), so
tests can change one field before creating it. Each test should load BookInfo into its own
namespace (`fresh_namespace`): the API server is shared by a test worker's whole session.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field

from kubernetes import client

from meshcore.bookinfo.topology import BOOKINFO_WORKLOADS, SERVICE_PORT

# Every API call of the tests is bounded (seconds): a wedged API server fails the test, never hangs it.
TIMEOUT = 30
PROXY_IMAGE = "docker.io/istio/proxyv2:1.24.0"
SIDECAR_STATUS = '{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["istio-envoy"]}'
_ADDRESSES = itertools.count(1)


def next_pod_ip() -> str:
    """A pod IP unique within this test process (10.x.y.z)."""
    n = next(_ADDRESSES)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def fresh_namespace(api: client.ApiClient, prefix: str = "bookinfo", labels: dict | None = None) -> str:
    """Create a namespace with a random suffix (Istio's injection label set) and return its name."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    body = {"metadata": {"name": name, "labels": {"istio-injection": "enabled", **(labels or {})}}}
    client.CoreV1Api(api).create_namespace(body, _request_timeout=TIMEOUT)
    return name


def service_account(name: str, namespace: str) -> dict:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}


def service(app: str, namespace: str, port: int = SERVICE_PORT) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": app, "namespace": namespace, "labels": {"app": app, "service": app}},
        "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": port, "targetPort": port}]},
    }


def _pod_labels(app: str, version: str) -> dict[str, str]:
    return {"app": app, "version": version}


def pod_spec(app: str, version: str, account: str, sidecar: bool = True) -> dict:
    """The pod template's spec as injection leaves it: the app container plus `istio-proxy`."""
    containers = [
        {
            "name": app,
            "image": f"docker.io/istio/examples-bookinfo-{app}-{version}:1.20.2",
            "ports": [{"containerPort": SERVICE_PORT}],
        }
    ]
    if sidecar:
        containers.append(
            {
                "name": "istio-proxy",
                "image": PROXY_IMAGE,
                "ports": [{"containerPort": 15090, "name": "http-envoy-prom"}],
            }
        )
    # No token is mounted: no controller here makes service-account token secrets.
    return {"serviceAccountName": account, "automountServiceAccountToken": False, "containers": containers}


def deployment(app: str, version: str, namespace: str, account: str, sidecar: bool = True) -> dict:
    labels = _pod_labels(app, version)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{app}-{version}", "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec(app, version, account, sidecar)},
        },
    }


def owner(kind: str, created: dict, api_version: str = "apps/v1") -> dict:
    """An ownerReference to the created object `created` (its real uid)."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": created["metadata"]["name"],
        "uid": created["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod(
    name: str,
    namespace: str,
    labels: dict[str, str],
    spec: dict,
    owners: list[dict] | None = None,
    sidecar: bool = True,
) -> dict:
    annotations = {"sidecar.istio.io/status": SIDECAR_STATUS} if sidecar else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": owners or [],
        },
        "spec": spec,
    }


def set_pod_status(api: client.ApiClient, namespace: str, name: str, ip: str, ready: bool = True) -> dict:
    """What the kubelet reports: Running, `ip`, the Ready condition; returns the patched pod (JSON)."""
    condition = "True" if ready else "False"
    body = {
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [
                {"type": "Ready", "status": condition},
                {"type": "ContainersReady", "status": condition},
            ],
        }
    }
    client.CoreV1Api(api).patch_namespaced_pod_status(name, namespace, body, _request_timeout=TIMEOUT)
    return body


def endpoints(name: str, namespace: str, pods: list[RunningPod], port: int = SERVICE_PORT) -> dict:
    """A Service's Endpoints as the endpoints controller makes them (ready and not-ready addresses)."""

    def address(running: RunningPod) -> dict:
        return {
            "ip": running.ip,
            "targetRef": {"kind": "Pod", "name": running.name, "namespace": namespace, "uid": running.uid},
        }

    ready = [address(p) for p in pods if p.ready]
    not_ready = [address(p) for p in pods if not p.ready]
    subset: dict = {"ports": [{"name": "http", "port": port, "protocol": "TCP"}]}
    if ready:
        subset["addresses"] = ready
    if not_ready:
        subset["notReadyAddresses"] = not_ready
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": namespace},
        "subsets": [subset] if ready or not_ready else [],
    }


@dataclass
class RunningPod:
    name: str
    namespace: str
    app: str
    version: str
    ip: str
    uid: str
    ready: bool = True


@dataclass
class LoadedBookInfo:
    """What `load_bookinfo` created: pods by workload (`reviews-v2` -> its pods)."""

    namespace: str
    pods: dict[str, list[RunningPod]] = field(default_factory=dict)

    def all_pods(self) -> list[RunningPod]:
        return [p for group in self.pods.values() for p in group]

    def pods_of(self, app: str) -> list[RunningPod]:
        return [p for p in self.all_pods() if p.app == app]


def run_pods(
    api: client.ApiClient,
    namespace: str,
    app: str,
    version: str,
    replicas: int = 1,
    sidecar: bool = True,
    ready: bool = True,
) -> list[RunningPod]:
    """Create Deployment `<app>-<version>`, its ReplicaSet and `replicas` Pods, as the controllers
    would, and mark the pods Running (Ready when `ready`). The ServiceAccount must exist."""
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    account = f"bookinfo-{app}"
    made = deployment(app, version, namespace, account, sidecar)
    created = api.sanitize_for_serialization(
        apps.create_namespaced_deployment(namespace, made, _request_timeout=TIMEOUT)
    )
    template_hash = secrets.token_hex(5)
    labels = {**_pod_labels(app, version), "pod-template-hash": template_hash}
    replica_set = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{app}-{version}-{template_hash}",
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [owner("Deployment", created)],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": made["spec"]["template"]["spec"]},
        },
    }
    rs = api.sanitize_for_serialization(
        apps.create_namespaced_replica_set(namespace, replica_set, _request_timeout=TIMEOUT)
    )
    running = []
    for _ in range(replicas):
        name = f"{rs['metadata']['name']}-{secrets.token_hex(3)[:5]}"
        body = pod(
            name, namespace, labels, made["spec"]["template"]["spec"], [owner("ReplicaSet", rs)], sidecar
        )
        made_pod = core.create_namespaced_pod(namespace, body, _request_timeout=TIMEOUT)
        ip = next_pod_ip()
        set_pod_status(api, namespace, name, ip, ready)
        running.append(RunningPod(name, namespace, app, version, ip, made_pod.metadata.uid, ready))
    return running


def write_endpoints(api: client.ApiClient, namespace: str, name: str, pods: list[RunningPod]) -> None:
    """Create or replace Service `name`'s Endpoints so they list exactly `pods`."""
    core = client.CoreV1Api(api)
    body = endpoints(name, namespace, pods)
    try:
        core.replace_namespaced_endpoints(name, namespace, body, _request_timeout=TIMEOUT)
    except client.ApiException as error:
        if error.status != 404:
            raise
        core.create_namespaced_endpoints(namespace, body, _request_timeout=TIMEOUT)


def load_bookinfo(api: client.ApiClient, namespace: str, replicas: int = 1) -> LoadedBookInfo:
    """BookInfo in `namespace` (which must exist): accounts, Services, Deployments, Pods, Endpoints."""
    core = client.CoreV1Api(api)
    apps_in_order = list(dict.fromkeys(app for app, _ in BOOKINFO_WORKLOADS))
    for app in apps_in_order:
        core.create_namespaced_service_account(
            namespace, service_account(f"bookinfo-{app}", namespace), _request_timeout=TIMEOUT
        )
        core.create_namespaced_service(namespace, service(app, namespace), _request_timeout=TIMEOUT)
    loaded = LoadedBookInfo(namespace)
    for app, version in BOOKINFO_WORKLOADS:
        loaded.pods[f"{app}-{version}"] = run_pods(api, namespace, app, version, replicas)
    for app in apps_in_order:
        write_endpoints(api, namespace, app, loaded.pods_of(app))
    return loaded


def delete_pod(api: client.ApiClient, loaded: LoadedBookInfo, running: RunningPod) -> None:
    """Delete `running` as `kubectl delete pod` would (immediately: no kubelet drains it) and drop it
    from its Service's Endpoints, as the endpoints controller would."""
    client.CoreV1Api(api).delete_namespaced_pod(
        running.name, running.namespace, grace_period_seconds=0, _request_timeout=TIMEOUT
    )
    group = loaded.pods[f"{running.app}-{running.version}"]
    group.remove(running)
    write_endpoints(api, running.namespace, running.app, loaded.pods_of(running.app))


def load_ingress_gateway(api: client.ApiClient, namespace: str = "istio-system") -> RunningPod:
    """Istio's ingress gateway: a pod labelled istio=ingressgateway (its Envoy is the container
    `istio-proxy`), its account and Service; `namespace` is created when missing."""
    core = client.CoreV1Api(api)
    try:
        core.create_namespace({"metadata": {"name": namespace}}, _request_timeout=TIMEOUT)
    except client.ApiException as error:
        if error.status != 409:
            raise
    account = "istio-ingressgateway-service-account"
    try:
        core.create_namespaced_service_account(
            namespace, service_account(account, namespace), _request_timeout=TIMEOUT
        )
    except client.ApiException as error:
        if error.status != 409:
            raise
    labels = {"app": "istio-ingressgateway", "istio": "ingressgateway"}
    name = f"istio-ingressgateway-{secrets.token_hex(3)}"
    spec = {
        "serviceAccountName": account,
        "automountServiceAccountToken": False,
        "containers": [
            {
                "name": "istio-proxy",
                "image": PROXY_IMAGE,
                "ports": [
                    {"containerPort": 8080, "name": "http2"},
                    {"containerPort": 15000, "name": "admin"},
                ],
            }
        ],
    }
    made = core.create_namespaced_pod(
        namespace, pod(name, namespace, labels, spec, sidecar=False), _request_timeout=TIMEOUT
    )
    ip = next_pod_ip()
    set_pod_status(api, namespace, name, ip)
    return RunningPod(name, namespace, "istio-ingressgateway", "", ip, made.metadata.uid)
