"""Istio's names for Envoy resources, so that the dashboard reads the same names on any mesh."""

from __future__ import annotations

from meshcore.model.registry import Service


def outbound_cluster_name(port: int, subset: str | None, fqdn: str) -> str:
    """`outbound|9080|v2|reviews.default.svc.cluster.local` (subset empty for the whole service)."""
    return f"outbound|{port}|{subset or ''}|{fqdn}"


def parse_outbound_cluster_name(name: str) -> tuple[int, str, str] | None:
    """(port, subset, fqdn) of an outbound cluster name, None for any other cluster."""
    parts = name.split("|")
    if len(parts) != 4 or parts[0] != "outbound" or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2], parts[3]


def inbound_cluster_name(port: int) -> str:
    """The cluster a sidecar uses to reach its own application: `inbound|9080||`."""
    return f"inbound|{port}||"


def outbound_route_name(port: int) -> str:
    """Istio names the outbound RouteConfiguration of a port by the port number alone."""
    return str(port)


def gateway_route_name(port: int) -> str:
    return f"http.{port}"


def virtual_host_name(service: Service, port: int) -> str:
    return f"{service.fqdn}:{port}"


def virtual_host_domains(service: Service, port: int) -> list[str]:
    """Every Host header a client may send for the service, with and without the port."""
    aliases = service.host_aliases()
    return [*aliases, *(f"{alias}:{port}" for alias in aliases)]
