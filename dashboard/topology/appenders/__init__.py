"""Appenders decorate a TrafficMap after it is built, in a fixed order (Kiali's model).

Each appender is one small class in its own module with `name` and `apply(traffic_map, context)`;
it mutates the map in place and must not do I/O (everything it needs is in the context).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from dashboard.sources.registry import MeshRegistry, NodeStatus
from dashboard.topology.trafficmap import TrafficMap


@dataclass(frozen=True)
class HealthThresholds:
    """Percent of requests in the poll interval (5xx, or 4xx for `client_*`)."""

    degraded_pct: float = 1.0
    failing_pct: float = 20.0
    idle_rps: float = 0.0


@dataclass
class AppenderContext:
    registry: MeshRegistry
    status: tuple[NodeStatus, ...] = ()
    status_stale: bool = False
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    # Envoy node name -> names of its clusters that originate TLS (from its config dump).
    tls_clusters: dict[str, set[str]] = field(default_factory=dict)
    # Service -> its VirtualService's split and badges (dashboard.routes.annotations), None if unknown.
    routes: dict[str, dict] | None = None


class Appender(Protocol):
    name: str

    def apply(self, traffic_map: TrafficMap, context: AppenderContext) -> None: ...


def default_appenders() -> list[Appender]:
    """The order matters: idleness feeds health, the sidecar state can worsen health."""
    from dashboard.topology.appenders.dead_nodes import DeadNodeAppender
    from dashboard.topology.appenders.health import HealthAppender
    from dashboard.topology.appenders.routes import RouteAppender
    from dashboard.topology.appenders.security import SecurityAppender
    from dashboard.topology.appenders.sidecar_state import SidecarStateAppender

    return [DeadNodeAppender(), HealthAppender(), SidecarStateAppender(), SecurityAppender(), RouteAppender()]


def run_appenders(
    traffic_map: TrafficMap, context: AppenderContext, appenders: list[Appender] | None = None
) -> TrafficMap:
    for appender in default_appenders() if appenders is None else appenders:
        appender.apply(traffic_map, context)
    return traffic_map
