"""The TrafficMap from Prometheus answers over Istio's standard metrics (pure: no I/O, no Django).

Input: the samples of `dashboard.sources.prometheus.mesh_queries` (`requests`: requests/s of
`istio_requests_total` summed by edge, code, flags and mTLS policy, both reporters; `latency`: the
rate of each latency bucket by `le`, ms), or latencies already computed from such an answer by
`edge_latencies` (edge id -> p50/p95/p99 ms, kept between latency queries). Output: the same map `trafficmap.build_traffic_map` builds from Envoy counters, so the
appenders run unchanged:

  caller -> service     from what the caller's sidecar reported (`reporter="source"`), as Envoy's
                        outbound clusters count it; a caller with no sidecar (no source report for
                        that pair, e.g. `source_workload="unknown"`) from the destination's report
  service -> workload   from what the workload's sidecar reported (`reporter="destination"`), as
                        its inbound cluster counts it: RBAC denials (403 + flag `RBAC`) never reach
                        the app, so they are `denied_per_s` and not part of the edge's rps
  response flags        `UT` -> timeouts, `URX` -> retries (retry limit reached), `UF` -> connect
                        failures; 429 or `RL` -> rate limited; 403 -> denied (caller edges)
  mTLS                  `connection_security_policy="mutual_tls"` (only the destination reports
                        it): `mtls_pct` of each service -> workload edge, and, for the security
                        appender, the caller's outbound cluster name of that service in
                        `tls_clusters` (the form it reads from config dumps), when any of that
                        caller's requests to it were mutual TLS

Unknown callers come from the data (`source_workload="unknown"`), not from a deficit of load as
in the Envoy path. Rates are already per second (rate() over the window), so `interval_s` is the
window. NaN values (no request in the window) count as no data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from dashboard.sources.prometheus import (
    CALLER_LATENCY_LABELS,
    QUANTILES,
    WORKLOAD_LATENCY_LABELS,
    Sample,
)
from dashboard.sources.registry import MeshRegistry
from dashboard.topology.histogram import parse_le, quantiles
from dashboard.topology.trafficmap import (
    UNKNOWN_ID,
    Edge,
    Node,
    TrafficMap,
    add_registry_nodes,
    gateway_id,
    service_id,
    set_rates,
    workload_id,
)

# The value Istio gives a label it cannot fill (a caller outside the mesh, no flag, ...).
UNKNOWN = "unknown"
MUTUAL_TLS = "mutual_tls"
# Response flag -> the short counter name of envoystats.COUNTERS it stands for.
FLAG_COUNTERS = {"UT": "timeout", "URX": "retry", "UF": "connect_fail"}


@dataclass
class PrometheusMap:
    """A map built from Prometheus and the TLS clusters the security appender reads for it
    (caller node name -> outbound cluster names `outbound|<port>||<host>` of its mTLS services)."""

    traffic_map: TrafficMap
    tls_clusters: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class _Rates:
    counts: dict[str, float] = field(default_factory=dict)
    mtls: float = 0.0
    arrived: float = 0.0  # requests the destination saw, with or without mTLS

    def add(self, key: str, value: float) -> None:
        self.counts[key] = self.counts.get(key, 0.0) + value


def _classify(rates: _Rates, labels: Mapping[str, str], value: float, workload_edge: bool) -> None:
    counts = rates.counts
    for key in _counter_keys(
        labels.get("response_code", ""), labels.get("response_flags", ""), workload_edge
    ):
        counts[key] = counts.get(key, 0.0) + value


@lru_cache(maxsize=4096)
def _counter_keys(code: str, flags_text: str, workload_edge: bool) -> tuple[str, ...]:
    """The counters one series adds its rate to. Cached: a mesh has few (code, flags) pairs and
    many series, so each pair is classified once."""
    flags = set(flags_text.split(","))
    if workload_edge and code == "403" and "RBAC" in flags:
        return ("denied",)  # refused by the sidecar: the app never saw it
    keys = ["total"]
    if len(code) == 3 and code[0] in "2345":
        keys.append(f"{code[0]}xx")
    if code == "403" and not workload_edge:
        keys.append("denied")
    if code == "429" or "RL" in flags:
        keys.append("rate_limited")
    keys.extend(key for flag, key in FLAG_COUNTERS.items() if flag in flags)
    return tuple(keys)


class _Builder:
    def __init__(self, registry: MeshRegistry, traffic_map: TrafficMap) -> None:
        self.registry = registry
        self.map = traffic_map
        self.gateway_name = registry.gateway.name if registry.gateway is not None else None

    def caller(self, labels: Mapping[str, str], add: bool = True) -> str:
        """The node id of a series' caller; `add` adds a node for callers the registry does not know."""
        name = labels.get("source_workload") or UNKNOWN
        if name == UNKNOWN:
            if add:
                self.map.add_node(Node(id=UNKNOWN_ID, kind="unknown", name=UNKNOWN))
            return UNKNOWN_ID
        if name == self.gateway_name:
            return gateway_id(name)
        node_id = workload_id(name)
        if add and node_id not in self.map.nodes:
            self.map.add_node(
                Node(
                    id=node_id,
                    kind="workload",
                    name=name,
                    service=labels.get("source_app") or name,
                    version=_known(labels.get("source_version")),
                    namespace=labels.get("source_workload_namespace") or "default",
                    flags=["unregistered"],
                )
            )
        return node_id

    def service(self, labels: Mapping[str, str], add: bool = True) -> str | None:
        """The node id of a series' destination service (None when Istio could not name it);
        `add` adds a node for services the registry does not know."""
        name = labels.get("destination_service_name") or UNKNOWN
        if name == UNKNOWN:
            return None
        node_id = service_id(name)
        if add and node_id not in self.map.nodes:
            namespace = labels.get("destination_service_namespace") or "default"
            self.map.add_node(
                Node(
                    id=node_id,
                    kind="service",
                    name=name,
                    service=name,
                    namespace=namespace,
                    flags=["external"],
                )
            )
        return node_id

    def workload_edge(self, labels: Mapping[str, str]) -> tuple[str, str] | None:
        """(service id, workload id) of a destination-reported series; None for an unknown or
        unregistered workload (the registry says which service a workload serves)."""
        workload = self.registry.workload(labels.get("destination_workload") or UNKNOWN)
        if workload is None:
            return None
        return service_id(workload.service), workload_id(workload.name)

    def cluster_name(self, service_node: str) -> str:
        """The outbound cluster name the security appender matches for this service."""
        name = self.map.nodes[service_node].name
        service = self.registry.service(name)
        host = service.fqdn if service is not None else name
        port = service.ports[0] if service is not None and service.ports else 0
        return f"outbound|{port}||{host}"


def _known(value: str | None) -> str | None:
    return None if not value or value == UNKNOWN else value


def build_prometheus_map(
    registry: MeshRegistry,
    results: Mapping[str, Iterable[Sample]],
    taken_at: float,
    window_s: float,
    latencies: Mapping[str, Iterable[float | None]] | None = None,
) -> PrometheusMap:
    """Build the map of one poll from the answers of `mesh_queries` (see the module docstring);
    `latencies` (from `edge_latencies`) stand in for the `latency` answer when given.

    Every registry node is present whether traffic was seen or not; an edge exists when Prometheus
    has a series for it in the window (rps 0.0 when its rate is 0: idle, not unknown).
    """
    traffic_map = TrafficMap(taken_at=taken_at, interval_s=window_s)
    add_registry_nodes(traffic_map, registry)
    builder = _Builder(registry, traffic_map)
    by_source: dict[tuple[str, str], _Rates] = {}
    by_destination: dict[tuple[str, str], _Rates] = {}
    into_workload: dict[tuple[str, str], _Rates] = {}
    mtls_callers: set[tuple[str, str]] = set()

    for sample in results.get("requests", ()):
        value = sample.value
        if not math.isfinite(value):
            continue
        labels = sample.labels
        target = builder.service(labels)
        reporter = labels.get("reporter")
        if reporter == "source":
            if target is not None:
                _classify(
                    by_source.setdefault((builder.caller(labels), target), _Rates()), labels, value, False
                )
        elif reporter == "destination":
            caller = builder.caller(labels)
            mutual = labels.get("connection_security_policy") == MUTUAL_TLS
            if target is not None:
                _classify(by_destination.setdefault((caller, target), _Rates()), labels, value, False)
                if mutual and value > 0:
                    mtls_callers.add((caller, target))
            pair = builder.workload_edge(labels)
            if pair is not None:
                rates = into_workload.setdefault(pair, _Rates())
                _classify(rates, labels, value, True)
                rates.arrived += value
                if mutual:
                    rates.mtls += value

    # A caller's own report wins; the destination's stands in for callers without a sidecar.
    callers = {**{k: v for k, v in by_destination.items() if k not in by_source}, **by_source}
    for (source, target), rates in (*callers.items(), *into_workload.items()):
        edge = Edge(source=source, target=target)
        set_rates(edge, rates.counts)
        traffic_map.edges[edge.id] = edge
    for (service, workload), rates in into_workload.items():
        if rates.arrived > 0:
            traffic_map.edges[f"{service}->{workload}"].mtls_pct = round(
                100.0 * rates.mtls / rates.arrived, 1
            )

    if latencies is None:
        latencies = edge_latencies(registry, results.get("latency", ()))
    for edge_id, (p50, p95, p99) in latencies.items():
        edge = traffic_map.edges.get(edge_id)
        if edge is not None:  # a latency without requests in the window adds no edge
            edge.p50_ms, edge.p95_ms, edge.p99_ms = p50, p95, p99
    tls_clusters: dict[str, set[str]] = {}
    for caller, target in mtls_callers:
        node = traffic_map.nodes[caller]
        if node.kind in ("gateway", "workload"):
            tls_clusters.setdefault(node.name, set()).add(builder.cluster_name(target))
    return PrometheusMap(traffic_map=traffic_map, tls_clusters=tls_clusters)


def edge_latencies(registry: MeshRegistry, buckets: Iterable[Sample]) -> dict[str, list[float | None]]:
    """p50/p95/p99 (ms, rounded to 3 decimals; None where Prometheus's `histogram_quantile` would
    answer NaN) of each edge, from the `latency` answer of `mesh_queries`: series naming a source
    workload are caller edges, the others workload edges. Series are grouped by the labels the
    query sums by (`CALLER_LATENCY_LABELS` and `WORKLOAD_LATENCY_LABELS`; every label but `le`, as
    `histogram_quantile` groups them); a series whose `le` is not a number is skipped, as Prometheus
    skips it. Edge ids are those `build_prometheus_map` gives."""
    groups: dict[tuple, list[tuple[float, float]]] = {}
    first_labels: dict[tuple, Mapping[str, str]] = {}
    bounds: dict[str, float | None] = {}  # a histogram has a handful of `le` values: parse each once
    for labels, value in buckets:
        text = labels.get("le", "")
        bound = bounds[text] if text in bounds else bounds.setdefault(text, parse_le(text))
        if bound is None:
            continue
        get = labels.get
        key = (get(_SW), get(_SWN), get(_DSN), get(_DSNS), get(_DW), get(_DWN))
        group = groups.get(key)
        if group is None:
            group = groups[key] = []
            first_labels[key] = labels
        group.append((bound, value))
    builder = _Builder(registry, TrafficMap(taken_at=0.0))
    levels = tuple(QUANTILES.values())
    latencies: dict[str, list[float | None]] = {}
    for key, histogram in groups.items():
        labels = first_labels[key]
        if labels.get("source_workload"):
            target = builder.service(labels, add=False)
            edge_id = None if target is None else f"{builder.caller(labels, add=False)}->{target}"
        else:
            pair = builder.workload_edge(labels)
            edge_id = None if pair is None else f"{pair[0]}->{pair[1]}"
        if edge_id is not None:
            latencies[edge_id] = [
                round(value, 3) if math.isfinite(value) else None for value in quantiles(levels, histogram)
            ]
    return latencies


# The labels both groupings of the latency query sum by; spelled out, not looped over: this runs
# once per bucket series (tens of thousands).
_SW, _SWN, _DSN, _DSNS = CALLER_LATENCY_LABELS
_DW, _DWN = WORKLOAD_LATENCY_LABELS


def carry_stale(traffic_map: TrafficMap, previous: TrafficMap) -> None:
    """Prometheus did not answer: keep every edge of the last map whose ends still exist, stale,
    and the nodes it measured that the registry no longer lists (unknown and external callers)."""
    for node in previous.nodes.values():
        if node.kind == "unknown" or "external" in node.flags or "unregistered" in node.flags:
            traffic_map.add_node(Node(**{**asdict(node), "flags": list(node.flags)}))
    for edge in previous.edges.values():
        if edge.source in traffic_map.nodes and edge.target in traffic_map.nodes:
            carried = Edge(**{**asdict(edge), "stale": True})
            traffic_map.edges[carried.id] = carried
