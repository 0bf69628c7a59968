"""Health of edges and nodes from their error rates (thresholds from settings).

Edge:   failing  5xx % >= failing_pct, or connections to the upstream fail
        degraded 5xx % >= degraded_pct, or 4xx % >= failing_pct, or timeouts
        idle     no traffic this poll;  unknown: no rate yet;  healthy otherwise
Node:   the worst health of the edges that end at it (its inbound traffic); callers without
        inbound edges (gateway) take the worst of their outbound edges; idle if all are idle.
"""

from __future__ import annotations

from dashboard.topology.appenders import AppenderContext
from dashboard.topology.trafficmap import Edge, TrafficMap

SEVERITY = {"unknown": 0, "idle": 1, "healthy": 2, "degraded": 3, "failing": 4}


def worst(healths: list[str]) -> str:
    return max(healths, key=SEVERITY.__getitem__) if healths else "unknown"


def edge_health(edge: Edge, degraded_pct: float, failing_pct: float) -> str:
    if edge.rps is None:
        return "unknown"
    if edge.idle:
        return "idle"
    if edge.error_5xx_pct >= failing_pct or (edge.connect_failures_per_s > 0 and edge.error_5xx_pct > 0):
        return "failing"
    if edge.error_5xx_pct >= degraded_pct or edge.error_4xx_pct >= failing_pct or edge.timeouts_per_s > 0:
        return "degraded"
    return "healthy"


class HealthAppender:
    name = "health"

    def apply(self, traffic_map: TrafficMap, context: AppenderContext) -> None:
        thresholds = context.thresholds
        for edge in traffic_map.edges.values():
            edge.health = edge_health(edge, thresholds.degraded_pct, thresholds.failing_pct)
        into, out_of = traffic_map.adjacency()
        for node in traffic_map.nodes.values():
            incoming = [e.health for e in into.get(node.id, ())]
            if not incoming:
                incoming = [e.health for e in out_of.get(node.id, ())]
            node.health = worst(incoming)
            if node.health == "unknown" and node.idle and incoming:
                node.health = "idle"
