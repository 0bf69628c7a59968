"""Service registry: the services of the mesh and the workloads (versioned instances) behind them.

This is what Kubernetes Services and Pods give Istio: every workload carries `app`/`version`
labels, an address its sidecar accepts inbound traffic on, and the ports of its sidecar.
Registry objects are immutable and safe to share between threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

CLUSTER_DOMAIN = "svc.cluster.local"
TRUST_DOMAIN = "cluster.local"  # the SPIFFE trust domain of workload identities


def spiffe_id(namespace: str, service_account: str) -> str:
    """``spiffe://cluster.local/ns/<namespace>/sa/<service account>``: a workload's identity."""
    return f"spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/{service_account}"


def admin_address(admin_socket: str) -> str:
    """How the registry API names an Envoy admin endpoint: `unix:<socket path>` ("" when none)."""
    return f"unix:{admin_socket}" if admin_socket else ""


@dataclass(frozen=True)
class ServicePort:
    number: int
    name: str = "http"
    protocol: str = "HTTP"


@dataclass(frozen=True)
class Service:
    name: str
    namespace: str = "default"
    ports: tuple[ServicePort, ...] = (ServicePort(9080),)

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.namespace}.{CLUSTER_DOMAIN}"

    def host_aliases(self) -> tuple[str, ...]:
        """Every spelling of the host a client may use (Istio accepts all three)."""
        return (self.name, f"{self.name}.{self.namespace}", f"{self.name}.{self.namespace}.svc", self.fqdn)


@dataclass(frozen=True)
class Workload:
    """One running instance of a service: an app process plus its Envoy sidecar.

    Ports (all on `address`, loopback in the local mesh):
      app_port       where the application itself listens (only its sidecar calls it)
      inbound_port   the sidecar's inbound listener; other sidecars send to it
      outbound_port  the sidecar's outbound listener; the app sends every call to it
    admin_socket is the path of the Unix socket of the sidecar's Envoy admin API (stats, clusters,
    config_dump); a socket, not a port, so that no web page can reach the admin's POST endpoints.
    `service_account` names its identity (Kubernetes' pod service account; "default" when unset).
    """

    name: str
    service: str
    labels: Mapping[str, str]
    namespace: str = "default"
    address: str = "127.0.0.1"
    app_port: int = 0
    inbound_port: int = 0
    outbound_port: int = 0
    admin_socket: str = ""
    service_account: str = "default"

    @property
    def spiffe_id(self) -> str:
        return spiffe_id(self.namespace, self.service_account)

    @property
    def app(self) -> str:
        return self.labels.get("app", self.service)

    @property
    def version(self) -> str:
        return self.labels.get("version", "")

    @property
    def node_id(self) -> str:
        """The Envoy node id, in Istio's `sidecar~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local` form."""
        return f"sidecar~{self.address}~{self.name}.{self.namespace}~{self.namespace}.{CLUSTER_DOMAIN}"

    @property
    def node_cluster(self) -> str:
        """Envoy's --service-cluster; also the service name on the spans this sidecar reports."""
        return f"{self.app}.{self.namespace}"

    def matches(self, selector: Mapping[str, str]) -> bool:
        return all(self.labels.get(key) == value for key, value in selector.items())


@dataclass(frozen=True)
class Gateway:
    """The ingress gateway: a standalone Envoy in front of the mesh (Istio's istio-ingressgateway)."""

    name: str = "istio-ingressgateway"
    namespace: str = "istio-system"
    address: str = "127.0.0.1"
    port: int = 8080
    admin_socket: str = ""  # the gateway Envoy's admin API (a Unix socket path)
    # The service that receives every request the gateway accepts (BookInfo's productpage).
    backend_service: str = "productpage"
    service_account: str = "istio-ingressgateway-service-account"

    @property
    def spiffe_id(self) -> str:
        return spiffe_id(self.namespace, self.service_account)

    @property
    def node_id(self) -> str:
        return f"router~{self.address}~{self.name}.{self.namespace}~{self.namespace}.{CLUSTER_DOMAIN}"

    @property
    def node_cluster(self) -> str:
        return f"{self.name}.{self.namespace}"


@dataclass(frozen=True)
class Registry:
    services: tuple[Service, ...]
    workloads: tuple[Workload, ...]
    gateway: Gateway = field(default_factory=Gateway)

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def resolve_host(self, host: str, namespace: str = "default") -> Service | None:
        """The service a VirtualService/DestinationRule host names: short, `name.ns` or FQDN."""
        for service in self.services:
            if host in service.host_aliases() or (host == service.name and service.namespace == namespace):
                return service
        return None

    def workloads_of(self, service: Service) -> tuple[Workload, ...]:
        return tuple(
            w for w in self.workloads if w.service == service.name and w.namespace == service.namespace
        )

    def workload(self, name: str) -> Workload | None:
        return next((w for w in self.workloads if w.name == name), None)

    def to_dict(self) -> dict:
        """JSON form served by the control plane at /api/v1/registry."""
        return {
            "services": [
                {
                    "name": s.name,
                    "namespace": s.namespace,
                    "fqdn": s.fqdn,
                    "ports": [{"number": p.number, "name": p.name, "protocol": p.protocol} for p in s.ports],
                }
                for s in self.services
            ],
            "workloads": [
                {
                    "name": w.name,
                    "namespace": w.namespace,
                    "service": w.service,
                    "labels": dict(w.labels),
                    "address": w.address,
                    "app_port": w.app_port,
                    "inbound_port": w.inbound_port,
                    "outbound_port": w.outbound_port,
                    "admin_address": admin_address(w.admin_socket),
                    "node_id": w.node_id,
                    "service_account": w.service_account,
                    "spiffe_id": w.spiffe_id,
                }
                for w in self.workloads
            ],
            "gateway": {
                "name": self.gateway.name,
                "namespace": self.gateway.namespace,
                "address": self.gateway.address,
                "port": self.gateway.port,
                "admin_address": admin_address(self.gateway.admin_socket),
                "node_id": self.gateway.node_id,
                "backend_service": self.gateway.backend_service,
                "service_account": self.gateway.service_account,
                "spiffe_id": self.gateway.spiffe_id,
            },
        }
