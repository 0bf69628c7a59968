"""Sidecar state from the control plane: process up/restarting/stopped, xDS connection, NACKs.

Sets `node.sidecar` on workloads and the gateway (with `node_id`, the Envoy node id that proxy
writes into the `node_id` tag of its spans, so the map can link a proxy to its traces). A stopped or unreachable sidecar (or a stopped
app) makes the node failing; a restarting one, a disconnected one or a NACKed config makes it at
least degraded.
"""

from __future__ import annotations

from dashboard.topology.appenders import AppenderContext
from dashboard.topology.appenders.health import SEVERITY
from dashboard.topology.trafficmap import Node, TrafficMap


def _raise_to(node: Node, health: str) -> None:
    if SEVERITY[health] > SEVERITY.get(node.health, 0):
        node.health = health


class SidecarStateAppender:
    name = "sidecar_state"

    def apply(self, traffic_map: TrafficMap, context: AppenderContext) -> None:
        by_name = {status.name: status for status in context.status}
        for node in traffic_map.nodes.values():
            if node.kind not in ("workload", "gateway"):
                continue
            status = by_name.get(node.name)
            info: dict = {"state": "unknown", "reachable": not node.stale}
            if status is not None:
                process = status.process
                info.update(
                    node_id=status.node_id,
                    state="up" if process.state == "running" else process.state,
                    connected=status.connected,
                    config_version=status.config_version,
                    acked_version=status.acked_version,
                    nack=status.nack,
                    restarts=process.restarts,
                    pid=process.pid,
                )
                # "failed": the supervisor gave up restarting it (its restart budget is spent).
                if process.state in ("stopped", "failed"):
                    _raise_to(node, "failing")
                elif process.state == "restarting" or not status.connected:
                    _raise_to(node, "degraded")
                if status.app_process is not None:
                    info["app"] = "up" if status.app_process.state == "running" else status.app_process.state
                    if status.app_process.state != "running":
                        _raise_to(
                            node,
                            "failing" if status.app_process.state in ("stopped", "failed") else "degraded",
                        )
                if status.nack:
                    node.flags.append("nack")
                    _raise_to(node, "degraded")
            if node.stale:
                info["state"] = "unreachable" if info["state"] in ("up", "unknown") else info["state"]
                _raise_to(node, "failing")
            if context.status_stale:
                info["status_stale"] = True
            node.sidecar = info
