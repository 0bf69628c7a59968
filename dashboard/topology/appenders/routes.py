"""Route annotations on edges, from the mesh's VirtualServices (dashboard.routes.annotations).

caller -> service     `routing = {"badges": [...], "rules": n}`: faults, timeouts, retries and
                      mirroring the service's VirtualService applies to its callers' requests
service -> workload   `routing = {"weight": percent | None, "matched": bool}`: the share of the
                      catch-all rule configured for the workload's version, and whether a rule with
                      match conditions sends requests to it
Edges of services without a VirtualService get no annotation (routing stays None).
"""

from __future__ import annotations

from dashboard.topology.appenders import AppenderContext
from dashboard.topology.trafficmap import TrafficMap


class RouteAppender:
    name = "routes"

    def apply(self, traffic_map: TrafficMap, context: AppenderContext) -> None:
        annotations = context.routes or {}
        for edge in traffic_map.edges.values():
            source = traffic_map.nodes.get(edge.source)
            target = traffic_map.nodes.get(edge.target)
            if source is None or target is None:
                continue
            if target.kind == "service" and source.kind in ("gateway", "workload"):
                summary = annotations.get(target.name)
                if summary is not None:
                    edge.routing = {"badges": list(summary["badges"]), "rules": summary["rules"]}
            elif source.kind == "service" and target.kind == "workload":
                summary = annotations.get(source.name)
                if summary is None:
                    continue
                weights = summary["weights"]
                weight = weights.get(target.version or "")
                if weight is None and "*" in weights:
                    members = [
                        n
                        for n in traffic_map.nodes.values()
                        if n.kind == "workload" and n.service == source.name
                    ]
                    weight = weights["*"] / max(1, len(members))
                edge.routing = {
                    "weight": None if weight is None else round(weight, 2),
                    "matched": (target.version or "") in summary["matched"],
                }
