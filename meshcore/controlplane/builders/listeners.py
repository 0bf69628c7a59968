"""Listener builders (LDS): the sidecar's outbound and inbound listeners and the gateway's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshcore.controlplane.builders.proto import (
    FAULT_TYPE,
    HCM_TYPE,
    ROUTER_TYPE,
    UUID_REQUEST_ID_TYPE,
    ZIPKIN_TYPE,
)

TRACER_CLUSTER = "zipkin"  # static cluster in every bootstrap, pointing at the mesh's tracer
# Request headers every span records (besides those VirtualServices match on): who the user is
# and what client sent the request, so recorded traffic can be replayed through proposed routes.
TRACED_REQUEST_HEADERS: tuple[str, ...] = ("end-user", "user-agent")
# OpenTelemetry's semantic-convention name for a request header attribute.
REQUEST_HEADER_TAG = "http.request.header."


@dataclass(frozen=True)
class TracingSettings:
    """How every proxy reports spans. sampling_percent in 0..100.

    `request_headers` (lower-case names) are recorded on every span as custom tags
    ``http.request.header.<name>``; a header the request does not carry adds no tag.
    """

    enabled: bool = True
    sampling_percent: float = 100.0
    request_headers: tuple[str, ...] = TRACED_REQUEST_HEADERS


def make_request_header_tags(headers: tuple[str, ...]) -> list[dict[str, Any]]:
    """Envoy tracing custom_tags recording each request header under its OpenTelemetry name."""
    return [{"tag": REQUEST_HEADER_TAG + name, "request_header": {"name": name}} for name in headers]


def make_http_connection_manager(
    stat_prefix: str,
    route: dict[str, Any],
    tracing: TracingSettings,
    with_fault_filter: bool,
) -> dict[str, Any]:
    """An HCM whose routes come from `route` (either {"rds": ...} or {"route_config": ...})."""
    filters: list[dict[str, Any]] = []
    if with_fault_filter:
        # Empty config: faults are set per route through typed_per_filter_config.
        filters.append({"name": "envoy.filters.http.fault", "typed_config": {"@type": FAULT_TYPE}})
    filters.append({"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}})
    manager: dict[str, Any] = {
        "@type": HCM_TYPE,
        "stat_prefix": stat_prefix,
        "http_filters": filters,
        # Apps behind the gateway and sidecars are trusted to set tracing headers; keep them.
        "use_remote_address": False,
        "generate_request_id": True,
        # Keep the x-request-id exactly as the client sent it, so users can find their request's
        # trace by it; Envoy would otherwise rewrite one hex digit to carry its sampling decision.
        "request_id_extension": {"typed_config": {"@type": UUID_REQUEST_ID_TYPE, "pack_trace_reason": False}},
        **route,
    }
    if tracing.enabled:
        manager["tracing"] = {
            "random_sampling": {"value": tracing.sampling_percent},
            "provider": {
                "name": "envoy.tracers.zipkin",
                "typed_config": {
                    "@type": ZIPKIN_TYPE,
                    "collector_cluster": TRACER_CLUSTER,
                    # The tracer answers only loopback Host names (DNS-rebinding guard); Envoy
                    # would send the cluster name.
                    "collector_hostname": "localhost",
                    "collector_endpoint": "/api/v2/spans",
                    "collector_endpoint_version": "HTTP_JSON",
                    "shared_span_context": True,
                },
            },
        }
        if tracing.request_headers:
            manager["tracing"]["custom_tags"] = make_request_header_tags(tracing.request_headers)
    return manager


def make_listener(
    name: str,
    address: str,
    port: int,
    manager: dict[str, Any],
    direction: str | None,
) -> dict[str, Any]:
    """A listener with one HTTP connection manager. `direction` OUTBOUND/INBOUND makes Envoy report
    CLIENT/SERVER spans the way Istio's sidecars do."""
    listener: dict[str, Any] = {
        "name": name,
        "address": {"socket_address": {"address": address, "port_value": port}},
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]}
        ],
    }
    if direction:
        listener["traffic_direction"] = direction
    return listener
