"""mTLS per edge, from real signals: the callers' TLS clusters and what the servers received.

caller -> service     mTLS when the caller's outbound cluster(s) for that service originate TLS
                      (their transport sockets in the config dump, dashboard.topology.tls), or
                      when the caller opened TLS connections to it this poll (ssl.handshake)
service -> workload   mTLS when some requests arrived over the workload's mTLS filter chain this
                      poll (`mtls_pct` says how many, like Kiali's security badge); without that
                      counter, when every caller edge into the service with traffic is mTLS
Without any of these signals an edge reports False.
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
            edge.mtls = fqdn in tls_hosts.get(source.name, set()) or edge.tls_handshakes_per_s > 0
        for node in traffic_map.nodes.values():
            if node.kind != "service":
                continue
            callers = [e for e in into.get(node.id, ()) if not e.idle]
            secure = bool(callers) and all(e.mtls for e in callers)
            for edge in out_of.get(node.id, ()):
                target = traffic_map.nodes.get(edge.target)
                if target is None or target.kind != "workload":
                    continue
                edge.mtls = edge.mtls_pct > 0 if edge.mtls_pct is not None else secure
