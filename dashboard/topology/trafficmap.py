"""The TrafficMap: a UI-independent graph of the mesh built from deltas of real Envoy counters.

Nodes (ids are stable strings, used by the layout and the browser):
  gw:<name>    the ingress gateway            svc:<name>   a service
  wl:<name>    a versioned workload           unknown      callers the mesh cannot see
Edges:
  caller (gateway or workload) -> service  from the caller's outbound clusters of that service,
                                           summed over subsets;
  service -> workload                      from the workload's own inbound cluster (its total load);
  unknown -> service                       the part of a service's inbound load no known caller sent.
Rates are increments divided by the time between two reads of the same Envoy. Everything here is
pure (no I/O, no Django) and deterministic for given inputs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from dashboard.sources.registry import MeshRegistry
from dashboard.topology.envoystats import ClusterName, NodeSample, counter_deltas, node_was_reset

UNKNOWN_ID = "unknown"
# Inbound load not explained by known callers must exceed both of these, in this poll and in the
# one before, to show an unknown caller. One poll alone is not enough: reads of different Envoys
# are taken up to ~100 ms apart, so a request crossing the window's edge counts at the server in
# one window and at its caller in the next (1 rps of "missing" load at 5 rps in 1 s windows), and
# the next window then shows the opposite. Real callers from outside the mesh persist.
UNKNOWN_MIN_RPS = 1.0
UNKNOWN_MIN_SHARE = 0.15


def service_id(name: str) -> str:
    """The node id of service `name` (its registry name, e.g. `reviews`)."""
    return f"svc:{name}"


def workload_id(name: str) -> str:
    """The node id of workload `name` (e.g. `reviews-v2`)."""
    return f"wl:{name}"


def gateway_id(name: str) -> str:
    """The node id of gateway `name`."""
    return f"gw:{name}"


@dataclass
class Node:
    """One box of the map. Built by `build_traffic_map`; appenders set health, flags and sidecar;
    the layout sets x and y (layout units, not pixels)."""

    id: str
    kind: str  # gateway | service | workload | unknown
    name: str
    service: str | None = None
    version: str | None = None
    namespace: str = "default"
    health: str = "unknown"  # healthy | degraded | failing | idle | unknown (set by appenders)
    idle: bool = False
    stale: bool = False  # its Envoy could not be read this poll
    sidecar: dict[str, Any] | None = None  # state, restarts, xDS versions, NACK (sidecar appender)
    flags: list[str] = field(default_factory=list)
    x: float | None = None
    y: float | None = None

    @property
    def label(self) -> str:
        if self.kind == "workload" and self.version:
            return f"{self.service or self.name} {self.version}"
        return self.name


@dataclass
class Edge:
    """Traffic from `source` to `target` (node ids) over the poll interval. Rates are per second,
    percentages 0-100 of `rps`, latencies ms; a None rate or latency means not measured yet."""

    source: str
    target: str
    rps: float | None = None  # None: no rate yet (first poll of the caller)
    rps_2xx: float = 0.0
    rps_3xx: float = 0.0
    rps_4xx: float = 0.0
    rps_5xx: float = 0.0
    error_4xx_pct: float = 0.0
    error_5xx_pct: float = 0.0
    timeouts_per_s: float = 0.0
    retries_per_s: float = 0.0
    connect_failures_per_s: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    denied_per_s: float = 0.0  # 403: RBAC denied (caller edges: answers seen; into workloads: denials)
    rate_limited_per_s: float = 0.0  # 429: the local rate limit
    tls_handshakes_per_s: float = 0.0
    mtls_pct: float | None = None  # service -> workload: share of requests that arrived over mTLS
    mtls: bool = False
    health: str = "unknown"
    idle: bool = False
    stale: bool = False
    subsets: list[str] = field(default_factory=list)
    # Configured routing (weights, fault/timeout/retry/mirror badges); see appenders/routes.py.
    routing: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return f"{self.source}->{self.target}"


@dataclass
class TrafficMap:
    """The whole map of one poll: nodes and edges by id, and which sources could not be read
    (`stale_sources`). Not thread-safe: a poll builds one and then only reads it."""

    taken_at: float  # epoch seconds
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[str, Edge] = field(default_factory=dict)
    stale_sources: list[str] = field(default_factory=list)
    interval_s: float | None = None
    # Service id -> inbound requests/s no known caller sent, this poll (see UNKNOWN_MIN_RPS).
    unexplained_rps: dict[str, float] = field(default_factory=dict)

    def add_node(self, node: Node) -> Node:
        return self.nodes.setdefault(node.id, node)

    def edges_into(self, node_id: str) -> list[Edge]:
        """O(edges); loops over many nodes should use `adjacency()` instead."""
        return [e for e in self.edges.values() if e.target == node_id]

    def edges_out_of(self, node_id: str) -> list[Edge]:
        """O(edges), as `edges_into`."""
        return [e for e in self.edges.values() if e.source == node_id]

    def adjacency(self) -> tuple[dict[str, list[Edge]], dict[str, list[Edge]]]:
        """(edges into each node, edges out of each node), built in one pass over the edges."""
        into: dict[str, list[Edge]] = defaultdict(list)
        out_of: dict[str, list[Edge]] = defaultdict(list)
        for edge in self.edges.values():
            into[edge.target].append(edge)
            out_of[edge.source].append(edge)
        return into, out_of

    def to_dict(self) -> dict[str, Any]:
        # Field by field rather than dataclasses.asdict: asdict deep-copies and is 10x slower,
        # which matters at thousands of edges per poll.
        nodes = []
        for n in self.nodes.values():
            node = {name: getattr(n, name) for name in _NODE_FIELDS}
            node["flags"] = list(n.flags)
            node["sidecar"] = None if n.sidecar is None else dict(n.sidecar)
            node["label"] = n.label
            nodes.append(node)
        edges = []
        for e in self.edges.values():
            edge = {name: getattr(e, name) for name in _EDGE_FIELDS}
            edge["subsets"] = list(e.subsets)
            edge["routing"] = None if e.routing is None else dict(e.routing)
            edge["id"] = e.id
            edges.append(edge)
        return {
            "taken_at": self.taken_at,
            "interval_s": self.interval_s,
            "stale_sources": list(self.stale_sources),
            "unexplained_rps": dict(self.unexplained_rps),
            "nodes": nodes,
            "edges": edges,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrafficMap:
        node_fields = set(Node.__dataclass_fields__)
        edge_fields = set(Edge.__dataclass_fields__)
        traffic_map = cls(
            taken_at=float(data.get("taken_at", 0.0)),
            stale_sources=list(data.get("stale_sources", [])),
            interval_s=data.get("interval_s"),
            unexplained_rps=dict(data.get("unexplained_rps") or {}),
        )
        for node in data.get("nodes", []):
            traffic_map.add_node(Node(**{k: v for k, v in node.items() if k in node_fields}))
        for edge in data.get("edges", []):
            built = Edge(**{k: v for k, v in edge.items() if k in edge_fields})
            traffic_map.edges[built.id] = built
        return traffic_map


_NODE_FIELDS = tuple(Node.__dataclass_fields__)
_EDGE_FIELDS = tuple(Edge.__dataclass_fields__)


@dataclass
class _Accumulator:
    """Summed increments and request-weighted quantiles of one edge within one poll."""

    deltas: dict[str, int] = field(default_factory=dict)
    seconds: float | None = None
    weighted: dict[str, float] = field(default_factory=dict)
    weight: dict[str, float] = field(default_factory=dict)
    subsets: set[str] = field(default_factory=set)

    def add(
        self, deltas: dict[str, int], seconds: float | None, quantiles: Mapping[str, float | None]
    ) -> None:
        for key, value in deltas.items():
            self.deltas[key] = self.deltas.get(key, 0) + value
        if seconds is not None:
            self.seconds = seconds if self.seconds is None else max(self.seconds, seconds)
        # Quantiles of several clusters cannot be merged exactly without buckets; weigh each
        # cluster's quantile by its requests (an approximation that is exact for one subset).
        weight = max(deltas.get("total", 0), 0) or 0
        for key, value in quantiles.items():
            if value is None:
                continue
            w = weight or 1e-9
            self.weighted[key] = self.weighted.get(key, 0.0) + value * w
            self.weight[key] = self.weight.get(key, 0.0) + w

    def to_edge(self, source: str, target: str) -> Edge:
        edge = Edge(source=source, target=target, subsets=sorted(self.subsets) if self.subsets else [])
        weight = self.weight
        if weight:
            for key in ("p50", "p95", "p99"):
                if weight.get(key):
                    setattr(edge, f"{key}_ms", round(self.weighted[key] / weight[key], 3))
        seconds = self.seconds
        if seconds is None or seconds <= 0:
            return edge
        set_rates(edge, self.deltas, seconds)
        return edge


def set_rates(edge: Edge, counts: Mapping[str, float], seconds: float = 1.0) -> None:
    """Set the edge's per-second rates and error percentages from `counts` over `seconds`.

    `counts` is keyed by the short counter names of `envoystats.COUNTERS` ("total", "2xx", ...,
    "denied", "rate_limited"); pass rates with `seconds=1.0`. The edge's rps becomes 0.0 when
    "total" and every answer class are missing or zero (traffic was measured: none flowed). The
    rps is the larger of "total" and the answered requests: a request whose upstream connection
    failed gets a local 503 (counted in "5xx") without ever counting in upstream_rq_total, so a
    workload whose app is down has answers but no "requests". Error percentages are of that rps.
    """
    # Zero counters are the common case (2xx-only edges): skip the division and rounding.
    for field_name, key in _RATE_FIELDS:
        value = counts.get(key)
        if value:
            setattr(edge, field_name, round(value / seconds, 4))
    completed = edge.rps_2xx + edge.rps_3xx + edge.rps_4xx + edge.rps_5xx
    edge.rps = max(edge.rps or 0.0, round(completed, 4))
    if edge.rps > 0 and (edge.rps_4xx or edge.rps_5xx):
        edge.error_4xx_pct = round(100.0 * edge.rps_4xx / edge.rps, 3)
        edge.error_5xx_pct = round(100.0 * edge.rps_5xx / edge.rps, 3)


_RATE_FIELDS = (
    ("rps", "total"),
    ("rps_2xx", "2xx"),
    ("rps_3xx", "3xx"),
    ("rps_4xx", "4xx"),
    ("rps_5xx", "5xx"),
    ("timeouts_per_s", "timeout"),
    ("retries_per_s", "retry"),
    ("connect_failures_per_s", "connect_fail"),
    ("denied_per_s", "denied"),
    ("rate_limited_per_s", "rate_limited"),
    ("tls_handshakes_per_s", "tls_handshakes"),
)


def add_registry_nodes(traffic_map: TrafficMap, registry: MeshRegistry) -> None:
    """A node for the gateway, every service and every workload the registry knows (traffic or not)."""
    gateway = registry.gateway
    if gateway is not None:
        traffic_map.add_node(
            Node(id=gateway_id(gateway.name), kind="gateway", name=gateway.name, namespace=gateway.namespace)
        )
    for service in registry.services:
        traffic_map.add_node(
            Node(
                id=service_id(service.name),
                kind="service",
                name=service.name,
                service=service.name,
                namespace=service.namespace,
            )
        )
    for workload in registry.workloads:
        traffic_map.add_node(
            Node(
                id=workload_id(workload.name),
                kind="workload",
                name=workload.name,
                service=workload.service,
                version=workload.version,
                namespace=workload.namespace,
            )
        )


def build_traffic_map(
    registry: MeshRegistry,
    current: Mapping[str, NodeSample],
    previous: Mapping[str, NodeSample],
    taken_at: float,
    unreachable: set[str] | frozenset[str] = frozenset(),
    carry_over: TrafficMap | None = None,
    unexplained_before: Mapping[str, float] | None = None,
) -> TrafficMap:
    """Build the map of one poll.

    `current`/`previous` map an Envoy's node name (workload name, or the gateway's name) to what was
    read from it now and at the previous poll. Nodes in `unreachable` are marked stale, and the
    edges their Envoy alone can measure are copied from `carry_over` (the previous map) as stale.
    `unexplained_before` is the previous poll's `TrafficMap.unexplained_rps` (default: carry_over's).
    """
    traffic_map = TrafficMap(taken_at=taken_at)
    add_registry_nodes(traffic_map, registry)
    gateway = registry.gateway

    callers: list[tuple[str, str]] = [(w.name, workload_id(w.name)) for w in registry.workloads]
    if gateway is not None:
        callers.insert(0, (gateway.name, gateway_id(gateway.name)))
    outbound: dict[tuple[str, str], _Accumulator] = {}
    inbound: dict[tuple[str, str], _Accumulator] = {}
    intervals: list[float] = []

    for envoy_name, caller_id in callers:
        if envoy_name in unreachable:
            traffic_map.nodes[caller_id].stale = True
            continue
        sample = current.get(envoy_name)
        if sample is None:
            continue
        before = previous.get(envoy_name)
        reset = node_was_reset(before, sample)
        seconds = None if before is None else sample.taken_at - before.taken_at
        if seconds is not None and seconds > 0:
            intervals.append(seconds)
        if reset:
            traffic_map.nodes[caller_id].flags.append("counters_reset")
        for cluster_name, cluster in sample.clusters.items():
            parsed = ClusterName.parse(cluster_name)
            if parsed is None:
                continue
            prior = None if before is None else before.clusters.get(cluster_name)
            if before is None:
                deltas: dict[str, int] = {}
            else:
                deltas = counter_deltas(prior, cluster, reset)
            if parsed.direction == "outbound":
                service = registry.service_by_host(parsed.host)
                if service is None:
                    target_id = service_id(parsed.host)
                    traffic_map.add_node(
                        Node(
                            id=target_id,
                            kind="service",
                            name=parsed.host,
                            service=parsed.host,
                            flags=["external"],
                        )
                    )
                else:
                    target_id = service_id(service.name)
                accumulator = outbound.setdefault((caller_id, target_id), _Accumulator())
                if parsed.subset:
                    accumulator.subsets.add(parsed.subset)
            elif caller_id.startswith("wl:"):
                workload = registry.workload(envoy_name)
                if workload is None:
                    continue
                accumulator = inbound.setdefault((service_id(workload.service), caller_id), _Accumulator())
            else:
                continue
            accumulator.add(deltas, seconds, cluster.quantiles)

    for (source, target), accumulator in (*outbound.items(), *inbound.items()):
        edge = accumulator.to_edge(source, target)
        traffic_map.edges[edge.id] = edge

    _add_inbound_security(traffic_map, registry, current, previous)
    if carry_over is not None:
        _carry_stale_edges(traffic_map, carry_over)
    # After the carry-over: what an unreachable caller sent last time still explains its load.
    if unexplained_before is None:
        unexplained_before = carry_over.unexplained_rps if carry_over is not None else {}
    _add_unknown_callers(traffic_map, unexplained_before)
    traffic_map.interval_s = round(sum(intervals) / len(intervals), 4) if intervals else None
    return traffic_map


def _add_inbound_security(
    traffic_map: TrafficMap,
    registry: MeshRegistry,
    current: Mapping[str, NodeSample],
    previous: Mapping[str, NodeSample],
) -> None:
    """Each workload's own view of what reached it: the share of mTLS requests and RBAC denials
    (neither passes its inbound cluster: denials never reach the app)."""
    for workload in registry.workloads:
        now, before = current.get(workload.name), previous.get(workload.name)
        edge = traffic_map.edges.get(f"{service_id(workload.service)}->{workload_id(workload.name)}")
        if edge is None or now is None or before is None or not now.inbound:
            continue
        seconds = now.taken_at - before.taken_at
        delta = {
            key: value - before.inbound.get(key, 0) if value >= before.inbound.get(key, 0) else value
            for key, value in now.inbound.items()
        }
        arrived = delta.get("mtls", 0) + delta.get("plaintext", 0)
        if arrived > 0:
            edge.mtls_pct = round(100.0 * delta.get("mtls", 0) / arrived, 1)
        if seconds > 0 and delta.get("rbac_denied"):
            edge.denied_per_s = round(delta["rbac_denied"] / seconds, 4)


def _add_unknown_callers(traffic_map: TrafficMap, before: Mapping[str, float]) -> None:
    """Inbound load of a service that no known caller accounts for, in this poll and the one
    before, comes from outside the mesh (an `unknown` caller node, as in Kiali)."""
    into, out_of = traffic_map.adjacency()
    for node in list(traffic_map.nodes.values()):
        if node.kind != "service":
            continue
        into_workloads = [e for e in out_of[node.id] if e.rps is not None]
        from_callers = [e for e in into[node.id] if e.rps is not None]
        if not into_workloads:
            continue
        received = sum(e.rps or 0.0 for e in into_workloads)
        sent = sum(e.rps or 0.0 for e in from_callers)
        missing = received - sent
        if missing < UNKNOWN_MIN_RPS or missing < UNKNOWN_MIN_SHARE * received:
            continue
        traffic_map.unexplained_rps[node.id] = round(missing, 4)
        if before.get(node.id, 0.0) >= UNKNOWN_MIN_RPS:
            traffic_map.add_node(Node(id=UNKNOWN_ID, kind="unknown", name="unknown"))
            edge = Edge(source=UNKNOWN_ID, target=node.id, rps=round(missing, 4))
            traffic_map.edges[edge.id] = edge


def _carry_stale_edges(traffic_map: TrafficMap, previous: TrafficMap) -> None:
    """Keep what an unreachable Envoy measured last time, marked stale, instead of dropping it."""
    stale_nodes = {node_id for node_id, node in traffic_map.nodes.items() if node.stale}
    for edge in previous.edges.values():
        if edge.id in traffic_map.edges:
            continue
        measured_by = edge.target if edge.source.startswith("svc:") else edge.source
        if (
            measured_by in stale_nodes
            and edge.source in traffic_map.nodes
            and edge.target in traffic_map.nodes
        ):
            carried = Edge(**{**asdict(edge), "stale": True})
            traffic_map.edges[carried.id] = carried
