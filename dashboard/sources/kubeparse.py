"""Kubernetes API objects -> the mesh registry model. Pure functions, no I/O, no Django.

Objects are the API's JSON form (camelCase, as `kubectl get -o json` prints them). Each `parse_*`
keeps only what the registry needs, as a small JSON-able record (so the synced view can live in
shared storage), or None for an object the registry ignores. `build_registry` turns the records of
one consistent view into a `MeshRegistry`:

- a workload is the Deployment/StatefulSet/DaemonSet (else the bare pod) owning pods that carry an
  app label (`app`, else `app.kubernetes.io/name`; version from `version`, else
  `app.kubernetes.io/version`), Istio's conventions, as Kiali groups them;
- its service is the Service whose Endpoints list its pods (else one whose selector matches them,
  else its app label); its identity is `spiffe://cluster.local/ns/<ns>/sa/<service account>`;
- `sidecar` means every pod has the `istio-proxy` container or the `sidecar.istio.io/status`
  annotation; `ready` means it has pods and every one is Ready;
- the ingress gateway is a pod labelled `istio=ingressgateway` (in any namespace).

Pods that finished (Succeeded/Failed) or are being deleted are left out: the map shows what serves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from dashboard.sources.registry import GatewayInfo, MeshRegistry, ServiceInfo, WorkloadInfo
from meshcore.model.registry import CLUSTER_DOMAIN, spiffe_id

SIDECAR_CONTAINER = "istio-proxy"
SIDECAR_STATUS_ANNOTATION = "sidecar.istio.io/status"
GATEWAY_LABEL = ("istio", "ingressgateway")
# Namespaces that hold the cluster's own machinery, never mesh services (Kiali hides them too).
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
# The suffix a ReplicaSet's name gets from its Deployment (`-<pod-template-hash>`).
_TEMPLATE_HASH = re.compile(r"-[0-9a-z]{1,10}$")
_WORKLOAD_OWNERS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")

Record = dict[str, Any]


def object_key(obj: Mapping[str, Any]) -> str:
    """`namespace/name` (`name` for cluster-scoped objects): the key of a record in a view."""
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata.get('name', '')}" if namespace else str(metadata.get("name", ""))


def parse_namespace(obj: Mapping[str, Any]) -> Record:
    metadata = obj.get("metadata") or {}
    phase = (obj.get("status") or {}).get("phase", "Active")
    return {"name": metadata.get("name", ""), "terminating": phase == "Terminating"}


def parse_service(obj: Mapping[str, Any]) -> Record:
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ports = [int(p["port"]) for p in spec.get("ports") or [] if p.get("port")]
    return {
        "name": metadata.get("name", ""),
        "namespace": metadata.get("namespace", "default"),
        "ports": ports,
        "selector": dict(spec.get("selector") or {}),
    }


def _workload_name(metadata: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """The controller a pod belongs to: a ReplicaSet's Deployment (its name less the template hash),
    another workload controller by name, else the pod itself."""
    for ref in metadata.get("ownerReferences") or []:
        kind, name = ref.get("kind"), ref.get("name", "")
        if kind == "ReplicaSet" and name:
            template_hash = labels.get("pod-template-hash")
            if template_hash and name.endswith("-" + template_hash):
                return name[: -len(template_hash) - 1]
            return _TEMPLATE_HASH.sub("", name)
        if kind in _WORKLOAD_OWNERS and name:
            return name
    return str(metadata.get("name", ""))


def _pod_ready(status: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def parse_pod(obj: Mapping[str, Any]) -> Record | None:
    """A pod's record, or None when it is not serving (finished, or being deleted)."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if metadata.get("deletionTimestamp") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    containers = spec.get("containers") or []
    namespace = metadata.get("namespace", "default")
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    return {
        "name": metadata.get("name", ""),
        "namespace": namespace,
        "workload": _workload_name(metadata, labels),
        "app": labels.get("app") or labels.get("app.kubernetes.io/name") or "",
        "version": labels.get("version") or labels.get("app.kubernetes.io/version") or "",
        "labels": dict(labels),
        "service_account": account,
        "ip": status.get("podIP") or "",
        "ready": _pod_ready(status),
        "sidecar": SIDECAR_STATUS_ANNOTATION in annotations
        or any(c.get("name") == SIDECAR_CONTAINER for c in containers),
        "gateway": labels.get(GATEWAY_LABEL[0]) == GATEWAY_LABEL[1],
        "ports": [
            int(p["containerPort"])
            for c in containers
            if c.get("name") != SIDECAR_CONTAINER
            for p in c.get("ports") or []
            if p.get("containerPort")
        ],
    }


def parse_endpoints(obj: Mapping[str, Any]) -> Record:
    """Which pods back the Service of the same name (ready or not)."""
    metadata = obj.get("metadata") or {}
    pods: list[str] = []
    for subset in obj.get("subsets") or []:
        for address in [*(subset.get("addresses") or []), *(subset.get("notReadyAddresses") or [])]:
            ref = address.get("targetRef") or {}
            if ref.get("kind") == "Pod" and ref.get("name"):
                pods.append(ref["name"])
    return {"name": metadata.get("name", ""), "namespace": metadata.get("namespace", "default"), "pods": pods}


PARSERS = {
    "namespaces": parse_namespace,
    "services": parse_service,
    "pods": parse_pod,
    "endpoints": parse_endpoints,
}


def parse_object(kind: str, obj: Mapping[str, Any]) -> Record | None:
    """The record of an object of `kind` (one of PARSERS), None when the registry ignores it."""
    return PARSERS[kind](obj)


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _in_scope(namespace: str, namespaces: frozenset[str] | None, terminating: set[str]) -> bool:
    if namespace in terminating:
        return False
    return namespace in namespaces if namespaces else namespace not in SYSTEM_NAMESPACES


def _service_of(pod: Record, services: list[Record], backing: dict[tuple[str, str], list[str]]) -> str:
    ns = pod["namespace"]
    candidates = sorted(backing.get((ns, pod["name"]), ()))
    if not candidates:
        candidates = sorted(
            s["name"] for s in services if s["namespace"] == ns and _selects(s["selector"], pod["labels"])
        )
    if pod["app"] in candidates or not candidates:
        return pod["app"]
    return candidates[0]


def build_registry(
    view: Mapping[str, Mapping[str, Record]],
    namespaces: Iterable[str] | None = None,
    gateway_port: int = 8080,
) -> MeshRegistry:
    """The registry of one view: `view[kind][key]` holds the records of PARSERS' kinds.

    `namespaces` limits services and workloads to those namespaces (None or empty: every namespace
    but the system ones); the ingress gateway is found in any namespace. Services and workloads are
    sorted by namespace then name; names are the map's node names, so the first of two same-named
    objects in different namespaces wins (the map has no namespace in its node ids).
    """
    scope = frozenset(namespaces or ()) or None
    terminating = {n["name"] for n in view.get("namespaces", {}).values() if n["terminating"]}
    services = sorted(
        (s for s in view.get("services", {}).values() if _in_scope(s["namespace"], scope, terminating)),
        key=lambda s: (s["namespace"], s["name"]),
    )
    backing: dict[tuple[str, str], list[str]] = {}
    for ep in view.get("endpoints", {}).values():
        for pod_name in ep["pods"]:
            backing.setdefault((ep["namespace"], pod_name), []).append(ep["name"])
    pods = sorted(
        (p for p in view.get("pods", {}).values() if p is not None),
        key=lambda p: (p["namespace"], p["workload"], p["name"]),
    )
    gateway_pods = [p for p in pods if p["gateway"]]
    groups: dict[tuple[str, str], list[Record]] = {}
    for pod in pods:
        if pod["gateway"] or not pod["app"] or not _in_scope(pod["namespace"], scope, terminating):
            continue
        groups.setdefault((pod["namespace"], pod["workload"]), []).append(pod)

    service_infos: dict[str, ServiceInfo] = {}
    for s in services:
        service_infos.setdefault(
            s["name"],
            ServiceInfo(
                name=s["name"],
                namespace=s["namespace"],
                fqdn=f"{s['name']}.{s['namespace']}.{CLUSTER_DOMAIN}",
                ports=tuple(s["ports"]) or (9080,),
            ),
        )
    workloads: dict[str, WorkloadInfo] = {}
    for (namespace, name), members in groups.items():
        first = next((p for p in members if p["ready"] and p["ip"]), members[0])
        workloads.setdefault(
            name,
            WorkloadInfo(
                name=name,
                service=_service_of(first, services, backing),
                app=first["app"],
                version=first["version"],
                namespace=namespace,
                address=first["ip"],
                inbound_port=first["ports"][0] if first["ports"] else 0,
                spiffe_id=spiffe_id(namespace, first["service_account"]),
                service_account=first["service_account"],
                sidecar=all(p["sidecar"] for p in members),
                ready=all(p["ready"] for p in members),
                pod=f"{namespace}/{first['name']}",
            ),
        )
    gateway = None
    if gateway_pods:
        chosen = next((p for p in gateway_pods if p["ready"] and p["ip"]), gateway_pods[0])
        gateway = GatewayInfo(
            name=chosen["workload"] if chosen["workload"] != chosen["name"] else "istio-ingressgateway",
            namespace=chosen["namespace"],
            address=chosen["ip"],
            port=gateway_port,
            # Which service the gateway fronts is route configuration (Gateway + VirtualService),
            # not cluster state: the route store says it.
            backend_service="",
            pod=f"{chosen['namespace']}/{chosen['name']}",
        )
    return MeshRegistry(
        services=tuple(service_infos.values()), workloads=tuple(workloads.values()), gateway=gateway
    )
