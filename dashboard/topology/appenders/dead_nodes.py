"""Idle edges and idle/dead nodes.

An edge is idle when it carried no more than `idle_rps` requests/s this poll (it still exists:
Envoy has counted traffic on it since the sidecar started, e.g. reviews-v2 after pinning to v1).
A node is idle when every edge touching it is idle; a workload with no edge at all is idle too.
"""

from __future__ import annotations

from dashboard.topology.appenders import AppenderContext
from dashboard.topology.trafficmap import TrafficMap


class DeadNodeAppender:
    name = "dead_nodes"

    def apply(self, traffic_map: TrafficMap, context: AppenderContext) -> None:
        limit = context.thresholds.idle_rps
        for edge in traffic_map.edges.values():
            edge.idle = edge.rps is not None and edge.rps <= limit
        busy: set[str] = set()
        for edge in traffic_map.edges.values():
            if edge.rps is None or not edge.idle:
                busy.update((edge.source, edge.target))
        for node in traffic_map.nodes.values():
            node.idle = node.id not in busy
