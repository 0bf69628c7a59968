"""Cluster and ClusterLoadAssignment builders (CDS/EDS)."""

from __future__ import annotations

from typing import Any

from meshcore.controlplane.builders.proto import duration
from meshcore.controlplane.naming import inbound_cluster_name
from meshcore.model.istio import ConnectionPool, OutlierDetection, TrafficPolicy
from meshcore.model.registry import Workload

# Istio's defaults: 10 s connect timeout and circuit breakers that never trip unless configured.
DEFAULT_CONNECT_TIMEOUT_S = 10.0
UNLIMITED = 4294967295
LB_POLICIES = {
    "ROUND_ROBIN": "ROUND_ROBIN",
    "LEAST_REQUEST": "LEAST_REQUEST",
    "RANDOM": "RANDOM",
    # PASSTHROUGH has no Envoy LB policy on an EDS cluster; round robin is the closest behaviour.
    "PASSTHROUGH": "ROUND_ROBIN",
}


def make_outbound_cluster(name: str, policy: TrafficPolicy | None) -> dict[str, Any]:
    """An EDS cluster for a service or one of its subsets, shaped by a DestinationRule policy."""
    pool = policy.connection_pool if policy else None
    cluster: dict[str, Any] = {
        "name": name,
        "type": "EDS",
        "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}, "service_name": name},
        "connect_timeout": duration(
            pool.connect_timeout_s if pool and pool.connect_timeout_s else DEFAULT_CONNECT_TIMEOUT_S
        ),
        "lb_policy": lb_policy(policy),
        "circuit_breakers": {"thresholds": [make_circuit_breaker(pool)]},
    }
    if pool and pool.max_requests_per_connection:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "common_http_protocol_options": {
                    "max_requests_per_connection": pool.max_requests_per_connection
                },
                "explicit_http_config": {"http_protocol_options": {}},
            }
        }
    if policy and policy.outlier_detection:
        cluster["outlier_detection"] = make_outlier_detection(policy.outlier_detection)
    hashing = policy.load_balancer.consistent_hash if policy and policy.load_balancer else None
    if hashing is not None and hashing.minimum_ring_size:
        cluster["ring_hash_lb_config"] = {"minimum_ring_size": hashing.minimum_ring_size}
    return cluster


def lb_policy(policy: TrafficPolicy | None) -> str:
    """Envoy's lb_policy; a consistent hash is a ring hash whose key the routes' hash_policy names."""
    balancer = policy.load_balancer if policy else None
    if balancer is None:
        return "ROUND_ROBIN"
    if balancer.consistent_hash is not None:
        return "RING_HASH"
    return LB_POLICIES.get(balancer.simple or "", "ROUND_ROBIN")


def make_hash_policy(policy: TrafficPolicy | None) -> list[dict[str, Any]] | None:
    """The route hash_policy for a destination whose DestinationRule asks for a consistent hash."""
    balancer = policy.load_balancer if policy else None
    hashing = balancer.consistent_hash if balancer else None
    if hashing is None:
        return None
    if hashing.http_header_name:
        return [{"header": {"header_name": hashing.http_header_name}}]
    if hashing.http_cookie_name:
        cookie: dict[str, Any] = {"name": hashing.http_cookie_name}
        if hashing.http_cookie_path:
            cookie["path"] = hashing.http_cookie_path
        if hashing.http_cookie_ttl_s is not None:
            cookie["ttl"] = duration(hashing.http_cookie_ttl_s)
        return [{"cookie": cookie}]
    if hashing.http_query_parameter_name:
        return [{"query_parameter": {"name": hashing.http_query_parameter_name}}]
    return [{"connection_properties": {"source_ip": True}}]


def make_circuit_breaker(pool: ConnectionPool | None) -> dict[str, Any]:
    """Envoy thresholds from Istio's connectionPool (tcp.maxConnections, http.*)."""
    pool = pool or ConnectionPool()
    return {
        "max_connections": pool.max_connections or UNLIMITED,
        "max_pending_requests": pool.http1_max_pending_requests or UNLIMITED,
        "max_requests": pool.http2_max_requests or UNLIMITED,
        "max_retries": pool.max_retries or UNLIMITED,
    }


def make_outlier_detection(outlier: OutlierDetection) -> dict[str, Any]:
    """Istio's outlierDetection; like Istio, gateway errors are only counted when asked for."""
    result: dict[str, Any] = {}
    if outlier.consecutive_5xx_errors is not None:
        result["consecutive_5xx"] = outlier.consecutive_5xx_errors
    else:
        # Istio disables the 5xx detector unless consecutive5xxErrors is set.
        result["enforcing_consecutive_5xx"] = 0
    if outlier.consecutive_gateway_errors is not None:
        result["consecutive_gateway_failure"] = outlier.consecutive_gateway_errors
        result["enforcing_consecutive_gateway_failure"] = 100
    if outlier.interval_s is not None:
        result["interval"] = duration(outlier.interval_s)
    if outlier.base_ejection_time_s is not None:
        result["base_ejection_time"] = duration(outlier.base_ejection_time_s)
    if outlier.max_ejection_percent is not None:
        result["max_ejection_percent"] = outlier.max_ejection_percent
    return result


def make_inbound_cluster(workload: Workload, port: int) -> dict[str, Any]:
    """The static cluster a sidecar forwards inbound traffic through to its own app."""
    name = inbound_cluster_name(port)
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": duration(DEFAULT_CONNECT_TIMEOUT_S),
        "load_assignment": make_load_assignment(name, [(workload.address, workload.app_port)]),
    }


def make_load_assignment(cluster_name: str, addresses: list[tuple[str, int]]) -> dict[str, Any]:
    """A ClusterLoadAssignment listing `addresses` as healthy endpoints of one locality."""
    return {
        "cluster_name": cluster_name,
        "endpoints": [
            {
                "lb_endpoints": [
                    {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}
                    for host, port in addresses
                ]
            }
        ],
    }
