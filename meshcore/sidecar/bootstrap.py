"""Envoy bootstrap for a sidecar or the gateway: identity, admin, ADS, tracer, runtime.

Everything else (listeners, clusters, routes, endpoints) arrives over ADS from the control plane.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshcore.controlplane.builders.listeners import TRACER_CLUSTER

XDS_CLUSTER = "xds-grpc"
HTTP2_OPTIONS = {
    # The ADS cluster must speak HTTP/2: without it Envoy never connects and logs nothing.
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {}},
    }
}


# The longest path a Unix socket address can hold (sockaddr_un.sun_path, less the final NUL).
MAX_SOCKET_PATH = 107


@dataclass(frozen=True)
class ProxyIdentity:
    node_id: str
    node_cluster: str  # also the service name on the spans this proxy reports
    # Envoy's admin API listens on this Unix socket (mode 0600), never on a TCP port: a web page
    # can send POSTs to any loopback port (/quitquitquit, /healthcheck/fail), but not to a socket.
    admin_socket: str
    metadata: dict[str, str]

    def __post_init__(self) -> None:
        if len(self.admin_socket.encode()) > MAX_SOCKET_PATH:
            raise ValueError(
                f"admin socket path {self.admin_socket!r} is longer than {MAX_SOCKET_PATH} bytes, "
                "the limit of a Unix socket address: use a shorter state directory"
            )


@dataclass(frozen=True)
class MeshEndpoints:
    xds_host: str
    xds_port: int
    tracer_host: str
    tracer_port: int
    # Envoy buffers spans and flushes every 5 s by default; a live dashboard wants them sooner.
    tracer_flush_interval_ms: int = 250
    tracer_min_flush_spans: int = 50
    stats_flush_interval_s: int = 1


def static_cluster(name: str, host: str, port: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}
                    ]
                }
            ],
        },
        **(extra or {}),
    }


def make_bootstrap(identity: ProxyIdentity, mesh: MeshEndpoints) -> dict[str, Any]:
    """The bootstrap document (JSON-serializable) for one proxy."""
    ads_source = {"ads": {}, "resource_api_version": "V3"}
    return {
        "node": {"id": identity.node_id, "cluster": identity.node_cluster, "metadata": identity.metadata},
        "admin": {"address": {"pipe": {"path": identity.admin_socket, "mode": 0o600}}},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}],
                "set_node_on_first_message_only": True,
            },
            "cds_config": ads_source,
            "lds_config": ads_source,
        },
        "static_resources": {
            "clusters": [
                static_cluster(
                    XDS_CLUSTER,
                    mesh.xds_host,
                    mesh.xds_port,
                    {"typed_extension_protocol_options": HTTP2_OPTIONS},
                ),
                static_cluster(TRACER_CLUSTER, mesh.tracer_host, mesh.tracer_port),
            ]
        },
        "stats_flush_interval": f"{mesh.stats_flush_interval_s}s",
        "layered_runtime": {
            "layers": [
                {
                    "name": "static",
                    "static_layer": {
                        "tracing.zipkin.flush_interval_ms": mesh.tracer_flush_interval_ms,
                        "tracing.zipkin.min_flush_spans": mesh.tracer_min_flush_spans,
                        # Envoy warns about and rejects overly complex regexes above this size.
                        "re2.max_program_size.error_level": 100,
                    },
                },
                {"name": "admin", "admin_layer": {}},
            ]
        },
    }
