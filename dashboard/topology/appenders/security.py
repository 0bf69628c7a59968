"""mTLS per edge, from the TLS transport sockets of the callers' clusters (dashboard.topology.tls).

caller -> service     mTLS when the caller's outbound cluster(s) for that service originate TLS
service -> workload   mTLS when every caller edge into the service with traffic is mTLS
Without config data (context.tls_clusters has no entry for a caller), the edge reports False:
the local mesh has no mTLS yet.
"""

from __future__ import annotations

from dashboard.topology.appenders import AppenderContext
from dashboard.topology.envoystats import ClusterName
from dashboard.topology.trafficmap import TrafficMap


class SecurityAppender:
    name = "security"

    def apply(self, traffic_map: TrafficMap, context: AppenderContext) -> None:
        tls_hosts = {
            node: {parsed.host for name in clusters if (parsed := ClusterName.parse(name)) is not None}
            for node, clusters in context.tls_clusters.items()
        }
        into, out_of = traffic_map.adjacency()
        for edge in traffic_map.edges.values():
            edge.mtls = False
            source = traffic_map.nodes.get(edge.source)
            target = traffic_map.nodes.get(edge.target)
            if (
                source is None
                or target is None
                or source.kind not in ("gateway", "workload")
                or target.kind != "service"
            ):
                continue
            service = context.registry.service(target.name)
            fqdn = service.fqdn if service is not None else target.name
            edge.mtls = fqdn in tls_hosts.get(source.name, set())
        for node in traffic_map.nodes.values():
            if node.kind != "service":
                continue
            callers = [e for e in into.get(node.id, ()) if not e.idle]
            secure = bool(callers) and all(e.mtls for e in callers)
            for edge in out_of.get(node.id, ()):
                if (
                    traffic_map.nodes.get(edge.target) is not None
                    and traffic_map.nodes[edge.target].kind == "workload"
                ):
                    edge.mtls = secure
