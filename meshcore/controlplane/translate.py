"""translate(): the registry and the Istio resources -> the Envoy resources of every proxy.

Pure: same inputs, same outputs; no I/O. The snapshot cache versions and publishes the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from google.protobuf.message import Message

from meshcore.controlplane.builders.clusters import (
    make_hash_policy,
    make_inbound_cluster,
    make_load_assignment,
    make_outbound_cluster,
)
from meshcore.controlplane.builders.listeners import (
    TracingSettings,
    make_http_connection_manager,
    make_listener,
)
from meshcore.controlplane.builders.proto import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    to_message,
)
from meshcore.controlplane.builders.routes import RuleOrigin, make_default_route, make_routes
from meshcore.controlplane.builders.security import (
    endpoint_metadata,
    make_inbound_filter_chains,
    make_rbac_filters,
    outbound_sni,
    rate_limit_patches,
    secure_cluster,
    with_inbound_filters,
)
from meshcore.controlplane.naming import (
    gateway_route_name,
    inbound_cluster_name,
    outbound_cluster_name,
    outbound_route_name,
    virtual_host_domains,
    virtual_host_name,
)
from meshcore.model.istio import (
    ClientTLS,
    Destination,
    DestinationRuleSpec,
    VirtualServiceSpec,
    destination_rule_spec,
    virtual_service_spec,
)
from meshcore.model.registry import TRUST_DOMAIN, Registry, Service, Workload
from meshcore.model.resources import Resource
from meshcore.model.security import SecurityIndex

# type_url -> resource name -> message
NodeResources = dict[str, dict[str, Message]]
MESH_GATEWAY = "mesh"  # Istio's reserved gateway name for sidecar (east-west) traffic


@dataclass(frozen=True)
class NamedVirtualService:
    """A VirtualService's spec with the identity its routes' span tags name."""

    namespace: str
    name: str
    spec: VirtualServiceSpec

    def origin(self, rule: int) -> RuleOrigin:
        """The origin of the routes built from ``spec.http[rule]``."""
        return RuleOrigin(self.namespace, self.name, rule)


@dataclass(frozen=True)
class MeshIndex:
    """The resources looked up by the service they configure."""

    registry: Registry
    virtual_services: dict[str, NamedVirtualService]  # service name -> mesh VirtualService
    gateway_virtual_services: tuple[NamedVirtualService, ...]  # bound to an ingress Gateway
    destination_rules: dict[str, DestinationRuleSpec]  # service name -> DestinationRule
    security: SecurityIndex  # PeerAuthentications, AuthorizationPolicies, EnvoyFilters
    auto_mtls: bool = True  # Istio's enableAutoMtls: mTLS to every sidecar that accepts it

    @classmethod
    def build(cls, registry: Registry, resources: Sequence[Resource], auto_mtls: bool = True) -> MeshIndex:
        virtual_services: dict[str, NamedVirtualService] = {}
        gateway_bound: list[NamedVirtualService] = []
        rules: dict[str, DestinationRuleSpec] = {}
        for resource in sorted(resources, key=lambda r: r.key):
            if resource.kind == "VirtualService":
                spec = virtual_service_spec(resource)
                named = NamedVirtualService(resource.namespace, resource.name, spec)
                if not spec.gateways or MESH_GATEWAY in spec.gateways:
                    for host in spec.hosts:
                        service = registry.resolve_host(host, resource.namespace)
                        if service is not None:
                            virtual_services[service.name] = named
                if any(gateway != MESH_GATEWAY for gateway in spec.gateways):
                    gateway_bound.append(named)
            elif resource.kind == "DestinationRule":
                spec_dr = destination_rule_spec(resource)
                service = registry.resolve_host(spec_dr.host, resource.namespace)
                if service is not None:
                    rules[service.name] = spec_dr
        security = SecurityIndex.build(resources)
        return cls(registry, virtual_services, tuple(gateway_bound), rules, security, auto_mtls)

    def cluster_for(self, destination: Destination) -> str:
        service = self.registry.resolve_host(destination.host)
        if service is None:  # validation refuses unknown hosts before translation
            raise ValueError(f"unknown host {destination.host!r}")
        port = destination.port or service.ports[0].number
        return outbound_cluster_name(port, destination.subset, service.fqdn)

    def hash_policy_for(self, destination: Destination) -> list[dict[str, Any]] | None:
        """The consistent-hash key the destination's DestinationRule (subset first) asks for."""
        service = self.registry.resolve_host(destination.host)
        rule = self.destination_rules.get(service.name) if service is not None else None
        if rule is None:
            return None
        subset = next((s for s in rule.subsets if s.name == destination.subset), None)
        return make_hash_policy((subset.traffic_policy if subset else None) or rule.traffic_policy)

    def matched_request_headers(self) -> set[str]:
        """Every request header a VirtualService route matches on (lower-case names)."""
        specs = [named.spec for named in (*self.virtual_services.values(), *self.gateway_virtual_services)]
        return {
            name for spec in specs for http in spec.http for match in http.match for name, _ in match.headers
        }


def translate(
    registry: Registry, resources: Sequence[Resource], tracing: TracingSettings, auto_mtls: bool = True
) -> dict[str, NodeResources]:
    """Envoy resources for every sidecar and the gateway, keyed by node id (SDS secrets excepted:
    they are per proxy and come from the control plane's identities)."""
    index = MeshIndex.build(registry, resources, auto_mtls)
    if tracing.enabled:
        # Spans record the headers routes match on, so recorded traffic can be replayed (what-if).
        headers = tuple(sorted(set(tracing.request_headers) | index.matched_request_headers()))
        tracing = replace(tracing, request_headers=headers)
    clusters, endpoints = outbound_clusters(index)
    outbound_routes = {
        outbound_route_name(port): to_message(ROUTE_TYPE, route)
        for port, route in outbound_route_configs(index, tracing).items()
    }
    nodes: dict[str, NodeResources] = {}
    for workload in registry.workloads:
        nodes[workload.node_id] = sidecar_resources(
            index, workload, clusters, endpoints, outbound_routes, tracing
        )
    nodes[registry.gateway.node_id] = gateway_resources(index, clusters, endpoints, tracing)
    return nodes


def rds_over_ads(route_name: str) -> dict[str, Any]:
    """The HCM routes part: fetch RouteConfiguration `route_name` over the ADS stream."""
    return {
        "rds": {"route_config_name": route_name, "config_source": {"ads": {}, "resource_api_version": "V3"}}
    }


def outbound_clusters(index: MeshIndex) -> tuple[dict[str, Message], dict[str, Message]]:
    """A cluster per service port and per DestinationRule subset, with their endpoints."""
    clusters: dict[str, Message] = {}
    endpoints: dict[str, Message] = {}
    for service in index.registry.services:
        rule = index.destination_rules.get(service.name)
        workloads = index.registry.workloads_of(service)
        top_policy = rule.traffic_policy if rule else None
        variants: list[tuple[str | None, Any, ClientTLS | None, tuple[Workload, ...]]] = [
            (None, top_policy, top_policy.tls if top_policy else None, workloads)
        ]
        for subset in rule.subsets if rule else ():
            selector = dict(subset.labels)
            members = tuple(w for w in workloads if w.matches(selector))
            policy = subset.traffic_policy or top_policy
            # Istio merges a subset's policy over the rule's field by field: tls is inherited.
            tls = (subset.traffic_policy.tls if subset.traffic_policy else None) or (
                top_policy.tls if top_policy else None
            )
            variants.append((subset.name, policy, tls, members))
        for port in service.ports:
            for subset_name, policy, tls, members in variants:
                name = outbound_cluster_name(port.number, subset_name, service.fqdn)
                cluster, assignment = _cluster_and_endpoints(
                    index, service, port.number, name, subset_name, policy, tls, members
                )
                clusters[name] = to_message(CLUSTER_TYPE, cluster)
                endpoints[name] = to_message(ENDPOINT_TYPE, assignment)
    return clusters, endpoints


def _cluster_and_endpoints(
    index: MeshIndex,
    service: Service,
    port: int,
    name: str,
    subset: str | None,
    policy: Any,
    tls: ClientTLS | None,
    members: Sequence[Workload],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One outbound cluster (shaped by ``policy``, mTLS as ``tls`` or auto mTLS decide) and its
    endpoints (``members``' inbound listeners)."""
    accepts = [_sends_mtls(index, tls, w, port) for w in members]
    # A cluster without endpoints (a subset no workload has) follows the rule or auto mTLS.
    flags = accepts or [tls.mode == "ISTIO_MUTUAL" if tls else index.auto_mtls]
    sans = tls.subject_alt_names if tls and tls.subject_alt_names else _identities(index, service, members)
    sni = tls.sni if tls and tls.sni else outbound_sni(port, subset, service.fqdn)
    cluster = secure_cluster(make_outbound_cluster(name, policy), flags, sni, sans)
    assignment = make_load_assignment(name, [(w.address, w.inbound_port) for w in members])
    if tls is None and index.auto_mtls:
        for endpoint, accepted in zip(assignment["endpoints"][0]["lb_endpoints"], accepts, strict=True):
            endpoint["metadata"] = endpoint_metadata(accepted)
    return cluster, assignment


def _sends_mtls(index: MeshIndex, tls: ClientTLS | None, workload: Workload, port: int) -> bool:
    """Istio's client-side decision: the DestinationRule's tls mode, else auto mTLS (mTLS to every
    sidecar whose PeerAuthentication accepts it), else plaintext."""
    if tls is not None:
        return tls.mode == "ISTIO_MUTUAL"
    return index.auto_mtls and index.security.mtls_mode(workload, port).mode != "DISABLE"


def _identities(index: MeshIndex, service: Service, members: Sequence[Workload]) -> list[str]:
    """The SPIFFE ids a client accepts from a cluster's servers (the service's when it has none)."""
    return [w.spiffe_id for w in (members or index.registry.workloads_of(service))]


def virtual_service_routes(
    index: MeshIndex, named: NamedVirtualService, name_prefix: str, tracing: TracingSettings
) -> list[dict[str, Any]]:
    """The Envoy routes of every http rule of `named`, each tagging its spans with its rule."""
    sampling = tracing.sampling_percent if tracing.enabled else None
    routes: list[dict[str, Any]] = []
    for rule, http in enumerate(named.spec.http):
        routes.extend(
            make_routes(
                http, index.cluster_for, name_prefix, index.hash_policy_for, named.origin(rule), sampling
            )
        )
    return routes


def service_routes(
    index: MeshIndex, service: Service, port: int, tracing: TracingSettings
) -> list[dict[str, Any]]:
    """The routes of one service: its VirtualService's, or everything to the whole service (a
    default route that names no rule in its spans)."""
    named = index.virtual_services.get(service.name)
    name_prefix = virtual_host_name(service, port)
    if named is None:
        hashing = index.hash_policy_for(Destination(service.name))
        cluster = outbound_cluster_name(port, None, service.fqdn)
        return [make_default_route(cluster, f"{name_prefix}.default", hashing)]
    return virtual_service_routes(index, named, name_prefix, tracing)


def outbound_route_configs(index: MeshIndex, tracing: TracingSettings) -> dict[int, dict[str, Any]]:
    """One RouteConfiguration per service port, with a virtual host per service on that port."""
    by_port: dict[int, list[dict[str, Any]]] = {}
    for service in index.registry.services:
        for port in service.ports:
            by_port.setdefault(port.number, []).append(
                {
                    "name": virtual_host_name(service, port.number),
                    "domains": virtual_host_domains(service, port.number),
                    "routes": service_routes(index, service, port.number, tracing),
                }
            )
    return {
        port: {"name": outbound_route_name(port), "virtual_hosts": hosts, "validate_clusters": False}
        for port, hosts in by_port.items()
    }


def sidecar_resources(
    index: MeshIndex,
    workload: Workload,
    clusters: dict[str, Message],
    endpoints: dict[str, Message],
    outbound_routes: dict[str, Message],
    tracing: TracingSettings,
) -> NodeResources:
    service = index.registry.service(workload.service)
    port = service.ports[0].number if service else 9080
    inbound_name = inbound_cluster_name(port)
    inbound_routes = {
        "route_config": {
            "name": f"inbound|{port}||",
            "virtual_hosts": [
                {
                    "name": f"inbound|http|{port}",
                    "domains": ["*"],
                    "routes": [
                        {
                            "name": "default",
                            "match": {"prefix": "/"},
                            "route": {"cluster": inbound_name, "timeout": "0s"},
                        }
                    ],
                }
            ],
        }
    }
    outbound_rds = rds_over_ads(outbound_route_name(port))
    inbound_prefix = f"inbound_0.0.0.0_{port}"
    rbac_filters = make_rbac_filters(index.security.policies_for(workload), port, workload.inbound_port)
    rate_limits = rate_limit_patches(index.security.rate_limits_for(workload), port)

    def inbound_manager(stat_prefix: str) -> dict[str, Any]:
        manager = make_http_connection_manager(stat_prefix, inbound_routes, tracing, with_fault_filter=False)
        return with_inbound_filters(manager, rbac_filters, rate_limits)

    inbound = make_listener(
        "virtualInbound", workload.address, workload.inbound_port, inbound_manager(inbound_prefix), "INBOUND"
    )
    listener_filters, inbound["filter_chains"] = make_inbound_filter_chains(
        index.security.mtls_mode(workload, port).mode, inbound_manager, inbound_prefix, TRUST_DOMAIN
    )
    if listener_filters:
        inbound["listener_filters"] = listener_filters
    listeners = {
        f"outbound_0.0.0.0_{port}": make_listener(
            f"outbound_0.0.0.0_{port}",
            workload.address,
            workload.outbound_port,
            make_http_connection_manager(
                f"outbound_0.0.0.0_{port}", outbound_rds, tracing, with_fault_filter=True
            ),
            "OUTBOUND",
        ),
        "virtualInbound": inbound,
    }
    return {
        CLUSTER_TYPE: {
            **clusters,
            inbound_name: to_message(CLUSTER_TYPE, make_inbound_cluster(workload, port)),
        },
        ENDPOINT_TYPE: dict(endpoints),
        LISTENER_TYPE: {name: to_message(LISTENER_TYPE, listener) for name, listener in listeners.items()},
        ROUTE_TYPE: dict(outbound_routes),
    }


def gateway_routes(index: MeshIndex, tracing: TracingSettings) -> list[dict[str, Any]]:
    """Gateway-bound VirtualServices if any; otherwise everything to the backend service's routes."""
    if index.gateway_virtual_services:
        routes: list[dict[str, Any]] = []
        for named in index.gateway_virtual_services:
            routes.extend(virtual_service_routes(index, named, "gateway", tracing))
        return routes
    backend = index.registry.service(index.registry.gateway.backend_service)
    if backend is None:
        return []
    return service_routes(index, backend, backend.ports[0].number, tracing)


def gateway_resources(
    index: MeshIndex,
    clusters: dict[str, Message],
    endpoints: dict[str, Message],
    tracing: TracingSettings,
) -> NodeResources:
    gateway = index.registry.gateway
    route_name = gateway_route_name(gateway.port)
    route = {
        "name": route_name,
        "virtual_hosts": [{"name": "*", "domains": ["*"], "routes": gateway_routes(index, tracing)}],
        "validate_clusters": False,
    }
    rds = rds_over_ads(route_name)
    listener_name = f"0.0.0.0_{gateway.port}"
    listener = make_listener(
        listener_name,
        gateway.address,
        gateway.port,
        make_http_connection_manager(
            f"outbound_0.0.0.0_{gateway.port}", rds, tracing, with_fault_filter=True
        ),
        # Like Istio's ingress gateway, the gateway starts traces and reports them as OUTBOUND.
        "OUTBOUND",
    )
    return {
        CLUSTER_TYPE: dict(clusters),
        ENDPOINT_TYPE: dict(endpoints),
        LISTENER_TYPE: {listener_name: to_message(LISTENER_TYPE, listener)},
        ROUTE_TYPE: {route_name: to_message(ROUTE_TYPE, route)},
    }
