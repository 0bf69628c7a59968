"""Cluster registry: which services and versioned workloads exist and where their sidecars listen.

`ControlPlaneRegistry` reads the local control plane's resource API (`/api/v1/registry`,
`/api/v1/status`, `/api/v1/traffic`); `dashboard.sources.kubernetes.KubernetesRegistry` implements the
same Protocol from the Kubernetes API.
The dataclasses are immutable and safe to share between threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from dashboard.sources.errors import SourceError
from dashboard.sources.http import TokenSource, auth_headers, get_json

# An Envoy read through the Kubernetes API server's pod proxy: `kube:<namespace>/<pod>`.
POD_PROXY_SCHEME = "kube:"


def _admin_address(endpoint: str, address: str, port: int) -> str:
    if endpoint:
        return endpoint
    return f"{address}:{port}" if port else ""


def _inspect_address(admin_address: str, pod: str) -> str:
    return admin_address or (POD_PROXY_SCHEME + pod if pod else "")


@dataclass(frozen=True)
class ServiceInfo:
    """A service as the dashboard sees it in either mode (its short name, e.g. `reviews`)."""

    name: str
    namespace: str = "default"
    fqdn: str = ""
    ports: tuple[int, ...] = (9080,)


@dataclass(frozen=True)
class WorkloadInfo:
    """One version of a service (`reviews-v2`): its labels, identity and where its sidecar is read."""

    name: str
    service: str
    app: str
    version: str
    namespace: str = "default"
    address: str = "127.0.0.1"
    inbound_port: int = 0
    admin_port: int = 0
    node_id: str = ""
    spiffe_id: str = ""  # the workload's mTLS identity ("" when the mesh reports none)
    # The admin API as the registry names it (`unix:/path` or `host:port`); wins over admin_port.
    admin_endpoint: str = ""
    service_account: str = ""
    sidecar: bool = True  # every instance runs an Envoy sidecar
    ready: bool = True  # it has instances and every one is ready
    # `namespace/name` of one of its pods (cluster mode): where the sidecar inspector reads its Envoy
    # through the API server's pod proxy. Cluster mode gives no admin_address: nothing polls Envoys.
    pod: str = ""

    @property
    def admin_address(self) -> str:
        """Where EnvoyAdmin reads this sidecar ("" when the registry gives no admin API)."""
        return _admin_address(self.admin_endpoint, self.address, self.admin_port)

    @property
    def inspect_address(self) -> str:
        """Where the sidecar inspector reads this Envoy: the admin API, else the pod proxy."""
        return _inspect_address(self.admin_address, self.pod)


@dataclass(frozen=True)
class GatewayInfo:
    """The ingress gateway: where it serves, where its Envoy is read, and the service it fronts."""

    name: str = "istio-ingressgateway"
    namespace: str = "istio-system"
    address: str = "127.0.0.1"
    port: int = 8080
    admin_port: int = 0
    node_id: str = ""
    backend_service: str = "productpage"
    admin_endpoint: str = ""
    pod: str = ""  # as WorkloadInfo.pod

    @property
    def admin_address(self) -> str:
        return _admin_address(self.admin_endpoint, self.address, self.admin_port)

    @property
    def inspect_address(self) -> str:
        return _inspect_address(self.admin_address, self.pod)


@dataclass(frozen=True)
class MeshRegistry:
    """Everything the map is built over, source-neutral: the same shape from the local control
    plane and from Kubernetes. Lookups by name or host are cached on first use."""

    services: tuple[ServiceInfo, ...]
    workloads: tuple[WorkloadInfo, ...]
    gateway: GatewayInfo | None = None

    @cached_property
    def _services_by_name(self) -> dict[str, ServiceInfo]:
        return {s.name: s for s in self.services}

    @cached_property
    def _workloads_by_name(self) -> dict[str, WorkloadInfo]:
        return {w.name: w for w in self.workloads}

    @cached_property
    def _services_by_host(self) -> dict[str, ServiceInfo]:
        hosts: dict[str, ServiceInfo] = {}
        for service in reversed(self.services):  # the first service wins a clash, as a scan would
            for host in (service.name, f"{service.name}.{service.namespace}", service.fqdn):
                hosts[host] = service
        return hosts

    def service(self, name: str) -> ServiceInfo | None:
        return self._services_by_name.get(name)

    def workload(self, name: str) -> WorkloadInfo | None:
        return self._workloads_by_name.get(name)

    def workloads_of(self, service: str) -> tuple[WorkloadInfo, ...]:
        return tuple(w for w in self.workloads if w.service == service)

    def service_by_host(self, host: str) -> ServiceInfo | None:
        """The service an Envoy cluster host names (`reviews.default.svc.cluster.local` or short)."""
        found = self._services_by_host.get(host)
        if found is not None:
            return found
        return self.service(host.split(".", 1)[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "services": [
                {
                    "name": s.name,
                    "namespace": s.namespace,
                    "fqdn": s.fqdn,
                    "ports": [{"number": p} for p in s.ports],
                }
                for s in self.services
            ],
            "workloads": [
                {
                    "name": w.name,
                    "service": w.service,
                    "namespace": w.namespace,
                    "labels": {"app": w.app, "version": w.version},
                    "address": w.address,
                    "inbound_port": w.inbound_port,
                    "admin_address": w.admin_address,
                    "node_id": w.node_id,
                    "spiffe_id": w.spiffe_id,
                    "service_account": w.service_account,
                    "sidecar": w.sidecar,
                    "ready": w.ready,
                    "pod": w.pod,
                }
                for w in self.workloads
            ],
            "gateway": None
            if self.gateway is None
            else {
                "name": self.gateway.name,
                "namespace": self.gateway.namespace,
                "address": self.gateway.address,
                "port": self.gateway.port,
                "admin_address": self.gateway.admin_address,
                "node_id": self.gateway.node_id,
                "backend_service": self.gateway.backend_service,
                "pod": self.gateway.pod,
            },
        }


def parse_registry(document: dict[str, Any]) -> MeshRegistry:
    """Parse the control plane's `Registry.to_dict()` JSON; raises SourceError on a malformed one."""
    try:
        services = tuple(
            ServiceInfo(
                name=s["name"],
                namespace=s.get("namespace", "default"),
                fqdn=s.get("fqdn") or f"{s['name']}.{s.get('namespace', 'default')}.svc.cluster.local",
                ports=tuple(int(p["number"]) for p in s.get("ports", [])) or (9080,),
            )
            for s in document["services"]
        )
        workloads = tuple(
            WorkloadInfo(
                name=w["name"],
                service=w["service"],
                app=w.get("labels", {}).get("app", w["service"]),
                version=w.get("labels", {}).get("version", ""),
                namespace=w.get("namespace", "default"),
                address=w.get("address", "127.0.0.1"),
                inbound_port=int(w.get("inbound_port", 0)),
                admin_port=int(w.get("admin_port", 0)),
                node_id=w.get("node_id", ""),
                spiffe_id=w.get("spiffe_id", ""),
                admin_endpoint=str(w.get("admin_address") or ""),
                service_account=str(w.get("service_account") or ""),
                sidecar=bool(w.get("sidecar", True)),
                ready=bool(w.get("ready", True)),
                pod=str(w.get("pod") or ""),
            )
            for w in document["workloads"]
        )
        gw = document.get("gateway")
        gateway = (
            GatewayInfo(
                name=gw.get("name", "istio-ingressgateway"),
                namespace=gw.get("namespace", "istio-system"),
                address=gw.get("address", "127.0.0.1"),
                port=int(gw.get("port", 8080)),
                admin_port=int(gw.get("admin_port", 0)),
                node_id=gw.get("node_id", ""),
                backend_service=gw.get("backend_service", "productpage"),
                admin_endpoint=str(gw.get("admin_address") or ""),
                pod=str(gw.get("pod") or ""),
            )
            if gw
            else None
        )
    except (KeyError, TypeError, ValueError) as error:
        raise SourceError(f"malformed registry document: {error!r}") from None
    return MeshRegistry(services=services, workloads=workloads, gateway=gateway)


@dataclass(frozen=True)
class ProcessState:
    state: str = "running"  # running | restarting | stopped | failed (restart budget spent)
    pid: int | None = None
    restarts: int = 0
    last_exit: Any = None
    last_restart_at: Any = None


@dataclass(frozen=True)
class NodeStatus:
    """What the control plane knows about one Envoy: xDS connection/ACK state and its process."""

    node_id: str
    name: str
    kind: str  # sidecar | gateway
    connected: bool = True
    config_version: str = ""
    acked_version: str = ""
    nack: dict[str, Any] | None = None  # the rejection in force now
    last_nack: dict[str, Any] | None = None  # the latest rejection, kept after a later ACK
    process: ProcessState = field(default_factory=ProcessState)
    # The workload's application process, when the control plane supervises it (local mesh).
    app_process: ProcessState | None = None


def _process(raw: dict[str, Any] | None) -> ProcessState | None:
    if not raw:
        return None
    return ProcessState(
        state=raw.get("state", "running"),
        pid=raw.get("pid"),
        restarts=int(raw.get("restarts") or 0),
        last_exit=raw.get("last_exit"),
        last_restart_at=raw.get("last_restart_at"),
    )


def parse_status(document: dict[str, Any]) -> tuple[NodeStatus, ...]:
    try:
        nodes = []
        for node in document.get("nodes", []):
            nodes.append(
                NodeStatus(
                    node_id=node.get("node_id", ""),
                    name=node["name"],
                    kind=node.get("kind", "sidecar"),
                    connected=bool(node.get("connected", False)),
                    config_version=str(node.get("config_version") or ""),
                    acked_version=str(node.get("acked_version") or ""),
                    nack=node.get("nack"),
                    last_nack=node.get("last_nack") or node.get("nack"),
                    process=_process(node.get("process")) or ProcessState(),
                    app_process=_process(node.get("app_process")),
                )
            )
        return tuple(nodes)
    except (KeyError, TypeError, ValueError) as error:
        raise SourceError(f"malformed status document: {error!r}") from None


class RegistrySource(Protocol):
    """Where the mesh's inventory comes from. Every method raises SourceError on failure."""

    def registry(self) -> MeshRegistry: ...

    def status(self) -> tuple[NodeStatus, ...]: ...

    def traffic(self) -> dict[str, Any] | None:
        """The traffic generator's report, or None when no generator runs."""
        ...


class ControlPlaneRegistry:
    """The local control plane's resource API at `base_url`; each call bounded by `timeout` seconds.

    `token` is the API's bearer token, or a callable returning it (read at each call, so a token
    file written after the dashboard started is picked up); None sends no credential.
    """

    def __init__(self, base_url: str, timeout: float, token: TokenSource = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token

    def _get(self, path: str) -> Any:
        return get_json(f"{self.base_url}{path}", self.timeout, headers=auth_headers(self.token))

    def registry(self) -> MeshRegistry:
        return parse_registry(self._get("/api/v1/registry"))

    def status(self) -> tuple[NodeStatus, ...]:
        return parse_status(self._get("/api/v1/status"))

    def traffic(self) -> dict[str, Any] | None:
        try:
            return self._get("/api/v1/traffic")
        except SourceError as error:
            if error.status == 404:
                return None
            raise


class StaticRegistry:
    """A fixed registry (tests, benchmarks, a mesh without a control plane)."""

    def __init__(self, registry: MeshRegistry, status: tuple[NodeStatus, ...] = ()) -> None:
        self._registry = registry
        self._status = status

    def registry(self) -> MeshRegistry:
        return self._registry

    def status(self) -> tuple[NodeStatus, ...]:
        return self._status

    def traffic(self) -> dict[str, Any] | None:
        return None
