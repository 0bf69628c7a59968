"""One poll of the mesh: read every Envoy (or Prometheus), build the TrafficMap, run the appenders,
place nodes.

Plain functions, no Django: the Celery task and the benchmarks call `poll_once` with the sources
and state they want. Each Envoy is read concurrently with the source's own timeout; one that fails
is marked stale instead of failing the poll. A failing registry falls back to the last good one.
`poll_prometheus` is its sibling for clusters: the same map from Prometheus's Istio metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from dashboard.core.memory import gc_paused
from dashboard.sources.envoy import EnvoyAdmin
from dashboard.sources.errors import SourceError
from dashboard.sources.prometheus import (
    LATEST_SCRAPE,
    REQUEST_LABELS,
    PrometheusSource,
    Sample,
    duration_seconds,
    merge_records,
    mesh_queries,
)
from dashboard.sources.registry import MeshRegistry, NodeStatus, RegistrySource, parse_registry
from dashboard.sources.routestore import RouteStore
from dashboard.topology.appenders import AppenderContext, HealthThresholds, run_appenders
from dashboard.topology.envoystats import NodeSample, parse_inbound_counters, parse_stats
from dashboard.topology.layout import assign_positions
from dashboard.topology.prommap import build_prometheus_map, carry_stale, edge_latencies
from dashboard.topology.state import PollState
from dashboard.topology.tls import tls_cluster_names
from dashboard.topology.trafficmap import TrafficMap, add_registry_nodes, build_traffic_map


@dataclass(frozen=True)
class PollConfig:
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    concurrency: int = 16
    # Read config dumps for the mTLS flag (only when a sidecar's xDS version changes).
    read_tls: bool = True


class PhaseTimer:
    """Seconds spent in each named phase of a poll, one after the other (monotonic clock)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._started = time.monotonic()

    def done(self, name: str) -> None:
        """The phase `name` ends now; the next one starts."""
        now = time.monotonic()
        self.seconds[name] = now - self._started
        self._started = now


def envoy_targets(registry: MeshRegistry) -> list[tuple[str, str]]:
    """(node name, admin address) of every Envoy to read: the gateway and each workload's sidecar."""
    targets = [(w.name, w.admin_address) for w in registry.workloads if w.admin_address]
    if registry.gateway is not None and registry.gateway.admin_address:
        targets.insert(0, (registry.gateway.name, registry.gateway.admin_address))
    return targets


def read_envoys(
    envoy: EnvoyAdmin,
    targets: list[tuple[str, str]],
    concurrency: int,
    clock: Callable[[], float] = time.time,
) -> tuple[dict[str, NodeSample], set[str]]:
    """Read /stats of every target concurrently; returns (samples, names that failed)."""

    def read(target: tuple[str, str]) -> tuple[str, NodeSample | None]:
        name, address = target
        try:
            document = envoy.stats(address)
        except SourceError:
            return name, None
        # The read time is what the rate divides by: take it per Envoy, not per poll.
        return name, NodeSample(
            taken_at=clock(), clusters=parse_stats(document), inbound=parse_inbound_counters(document)
        )

    samples: dict[str, NodeSample] = {}
    failed: set[str] = set()
    if not targets:
        return samples, failed
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets)))) as pool:
        for name, sample in pool.map(read, targets):
            if sample is None:
                failed.add(name)
            else:
                samples[name] = sample
    return samples, failed


def refresh_tls_clusters(
    envoy: EnvoyAdmin,
    targets: list[tuple[str, str]],
    status: tuple[NodeStatus, ...],
    state: PollState,
    unreachable: set[str],
) -> dict[str, set[str]]:
    """TLS cluster names per Envoy, re-read from its config dump only when its acknowledged xDS
    version changed (or was never read): config dumps are too big to fetch every second."""
    cached: dict = state.load("tls_clusters") or {}
    versions = {s.name: s.acked_version for s in status}
    changed = False
    for name, address in targets:
        version = versions.get(name, "")
        entry = cached.get(name)
        if name in unreachable or (entry is not None and entry["version"] == version):
            continue
        try:
            cached[name] = {
                "version": version,
                "clusters": sorted(tls_cluster_names(envoy.active_clusters(address))),
            }
            changed = True
        except SourceError:
            continue  # keep the last known answer; retried next poll
    if changed:
        state.save("tls_clusters", cached)
    return {name: set(entry["clusters"]) for name, entry in cached.items()}


def refresh_route_annotations(route_store: RouteStore, state: PollState) -> dict[str, dict] | None:
    """Route annotations per service, re-read only when the store's revision changed: each poll
    costs one small revision read, the object lists are fetched once per change."""
    from dashboard.routes.annotations import route_annotations

    cached: dict = state.load("route_annotations") or {}
    try:
        revision = route_store.revision()
        if cached.get("revision") != revision:
            cached = {
                "revision": revision,
                "services": route_annotations(
                    route_store.list("virtualservices"), route_store.list("destinationrules")
                ),
            }
            state.save("route_annotations", cached)
    except SourceError:
        pass  # keep the last known annotations; retried next poll
    return cached.get("services")


def build_map(
    context: AppenderContext,
    current: dict[str, NodeSample],
    previous: dict[str, NodeSample],
    taken_at: float,
    unreachable: set[str] | frozenset[str] = frozenset(),
    carry_over: TrafficMap | None = None,
    previous_positions: dict[str, tuple[float, float]] | None = None,
    unexplained_before: dict[str, float] | None = None,
) -> tuple[TrafficMap, dict[str, tuple[float, float]]]:
    """The CPU part of a poll: deltas -> TrafficMap -> appenders -> layout. Pure; no I/O."""
    with gc_paused():
        traffic_map = build_traffic_map(
            context.registry,
            current=current,
            previous=previous,
            taken_at=taken_at,
            unreachable=unreachable,
            carry_over=carry_over,
            unexplained_before=unexplained_before,
        )
        positions = decorate(traffic_map, context, previous_positions)
    return traffic_map, positions


def decorate(
    traffic_map: TrafficMap,
    context: AppenderContext,
    previous_positions: dict[str, tuple[float, float]] | None = None,
) -> dict[str, tuple[float, float]]:
    """Run the appenders on a built map and place its nodes; returns the positions. Pure."""
    run_appenders(traffic_map, context)
    return assign_positions(traffic_map, previous_positions)


def read_registry(
    registry_source: RegistrySource, state: PollState, stale_sources: list[str]
) -> tuple[MeshRegistry, tuple[NodeStatus, ...], bool]:
    """(registry, sidecar status, whether the status is stale). A failing registry falls back to
    the last good one from `state`; each failing read appends "registry"/"status" to `stale_sources`."""
    try:
        registry = registry_source.registry()
        state.save("registry", registry.to_dict())
    except SourceError:
        stale_sources.append("registry")
        cached = state.load("registry")
        registry = parse_registry(cached) if cached else MeshRegistry(services=(), workloads=())
    status: tuple[NodeStatus, ...] = ()
    status_stale = False
    try:
        status = registry_source.status()
    except SourceError:
        status_stale = True
        stale_sources.append("status")
    return registry, status, status_stale


def poll_once(
    registry_source: RegistrySource,
    envoy: EnvoyAdmin,
    state: PollState,
    config: PollConfig = PollConfig(),
    clock: Callable[[], float] = time.time,
    route_store: RouteStore | None = None,
    observed: dict | None = None,
) -> TrafficMap:
    """Read every source once and build the map; a failing source is listed in `stale_sources`.

    When `observed` is given it is filled with `sources` (the names asked: "registry", "status",
    "envoy:<node>") and `phases` (seconds spent reading the registry, the status, the Envoys and
    building the map), for the health page and /metrics.
    """
    phases = PhaseTimer()
    stale_sources: list[str] = []
    registry, status, status_stale = read_registry(registry_source, state, stale_sources)
    phases.done("registry")

    targets = envoy_targets(registry)
    samples, failed = read_envoys(envoy, targets, config.concurrency, clock)
    phases.done("envoy")
    previous = state.swap_samples(samples)
    # The previous map is only needed to carry over what unreachable Envoys measured last time.
    last = state.load("last_map") if failed else None
    context = AppenderContext(
        registry=registry,
        status=status,
        status_stale=status_stale,
        thresholds=config.thresholds,
        tls_clusters=refresh_tls_clusters(envoy, targets, status, state, failed) if config.read_tls else {},
        routes=refresh_route_annotations(route_store, state) if route_store is not None else None,
    )
    previous_positions = {k: tuple(v) for k, v in (state.load("positions") or {}).items()}
    unexplained_before = state.load("unexplained_rps") or {}
    traffic_map, positions = build_map(
        context,
        samples,
        previous,
        taken_at=clock(),
        unreachable=failed,
        carry_over=TrafficMap.from_dict(last) if last else None,
        previous_positions=previous_positions,
        unexplained_before=unexplained_before,
    )
    if traffic_map.unexplained_rps != unexplained_before:
        state.save("unexplained_rps", traffic_map.unexplained_rps)
    traffic_map.stale_sources = stale_sources + [f"envoy:{name}" for name in sorted(failed)]
    if positions != previous_positions:
        state.save("positions", positions)
    state.save("last_map", traffic_map.to_dict())
    phases.done("build")
    if observed is not None:
        observed["sources"] = ["registry", "status"] + [f"envoy:{name}" for name, _ in targets]
        observed["phases"] = phases.seconds
    return traffic_map


def latest_scrape(prometheus: PrometheusSource, at: float) -> float | None:
    """The newest scrape time Prometheus holds (epoch seconds, `LATEST_SCRAPE`), or None when it
    cannot say (no target, or the query failed: then the caller must not assume nothing changed)."""
    try:
        samples = prometheus.query(LATEST_SCRAPE, "latest_scrape", at)
    except SourceError:
        return None
    return samples[0].value if samples else None


def _pack(value: Any) -> str:
    """`value` as one orjson document in a string: the state's own JSON encoder would walk the
    thousands of rows of a kept answer at every save and load (~100 ms each); a string it copies."""
    return orjson.dumps(value).decode()


def _unpack(packed: str | None) -> Any:
    return None if packed is None else orjson.loads(packed)


def _rows(samples: list[Sample]) -> list[list]:
    """Request samples as compact rows (label values in REQUEST_LABELS order, then the value),
    the form they are kept in between scrapes."""
    return [[*(s.labels.get(name, "") for name in REQUEST_LABELS), s.value] for s in samples]


def _samples(rows: list[list]) -> list[Sample]:
    return [Sample(dict(zip(REQUEST_LABELS, row, strict=False)), row[-1]) for row in rows]


def poll_prometheus(
    registry_source: RegistrySource,
    prometheus: PrometheusSource,
    state: PollState,
    config: PollConfig = PollConfig(),
    clock: Callable[[], float] = time.time,
    route_store: RouteStore | None = None,
    observed: dict | None = None,
    window: str = "1m",
    latency_interval_s: float = 10.0,
) -> TrafficMap:
    """`poll_once` with the telemetry from Prometheus instead of every Envoy (cluster mode).

    The registry and sidecar status still come from `registry_source`; no Envoy is read. The
    queries of `mesh_queries(window)` run at one evaluation time, but not every poll, because
    Prometheus's data changes only once per scrape:
      - `requests` is re-run only when `latest_scrape` is newer than the scrape its kept answer
        saw, when that cannot be known, or when the kept answer is `latency_interval_s` old (the
        window slides even without scrapes); between, the kept answer is used. Until a scrape's
        `up` lands (it is written after the scrape's samples) a poll may use the previous answer:
        the next poll catches up;
      - `latency` (the bucket rates; p50/p95/p99 are computed here) is re-run at most every
        `latency_interval_s` seconds; between, the latencies computed last time are used.
    Kept answers live in `state` ("prometheus_rates", "prometheus_latency"), so any worker may
    poll; their age (seconds since they were queried) is in `state` under "prometheus_ages" and in
    `observed["ages_s"]`. The map is saved as "prometheus_last_map" (packed like the kept answers)
    when an answer came: its edges change only then. When the request rates fail the map keeps the last map's edges, stale,
    and lists "prometheus" in `stale_sources`; when only the latency query fails, the edges have no
    latency this poll and "prometheus:latency" is listed. The query log (PromQL, last duration and
    error) is kept in `state` under "prometheus_queries" for the health page. `observed` gets
    `sources`, `phases` as in `poll_once`, and `queried` (the names of the queries run this poll).
    """
    phases = PhaseTimer()
    stale_sources: list[str] = []
    registry, status, status_stale = read_registry(registry_source, state, stale_sources)
    phases.done("registry")
    taken_at = clock()
    kept_rates = _unpack(state.load("prometheus_rates"))
    kept_latency = _unpack(state.load("prometheus_latency"))
    scraped_at = latest_scrape(prometheus, taken_at)
    queries = mesh_queries(window)
    if not (
        kept_rates is not None
        and scraped_at is not None
        and scraped_at <= kept_rates["scraped_at"]
        and taken_at - kept_rates["queried_at"] < latency_interval_s
    ):
        kept_rates = None
    else:
        del queries["requests"]
    if kept_latency is not None and 0 <= taken_at - kept_latency["queried_at"] < latency_interval_s:
        del queries["latency"]
    else:
        kept_latency = None
    answered, _failed = prometheus.query_all(queries, at=taken_at) if queries else ({}, {})
    if "requests" in answered:
        kept_rates = {
            "scraped_at": scraped_at or 0.0,
            "queried_at": taken_at,
            "rows": _rows(answered["requests"]),
        }
        state.save("prometheus_rates", _pack(kept_rates))
    if "latency" in answered:
        kept_latency = {"queried_at": taken_at, "edges": edge_latencies(registry, answered["latency"])}
        state.save("prometheus_latency", _pack(kept_latency))
    # Without the request rates there is no map to build; without the latency query the rates are
    # still fresh and only the latencies are missing this poll.
    if kept_rates is None:
        stale_sources.append("prometheus")
    elif kept_latency is None:
        stale_sources.append("prometheus:latency")
    ages = {
        name: round(taken_at - kept["queried_at"], 3)
        for name, kept in (("requests", kept_rates), ("latency", kept_latency))
        if kept is not None
    }
    state.save("prometheus_ages", ages)
    state.save("prometheus_queries", merge_records(state.load("prometheus_queries"), prometheus.queries()))
    phases.done("prometheus")

    with gc_paused():
        if kept_rates is not None:
            requests = answered["requests"] if "requests" in answered else _samples(kept_rates["rows"])
            built = build_prometheus_map(
                registry,
                {"requests": requests},
                taken_at,
                duration_seconds(window),
                latencies=kept_latency["edges"] if kept_latency is not None else {},
            )
            traffic_map, tls_clusters = built.traffic_map, built.tls_clusters
            saved_tls = {name: sorted(clusters) for name, clusters in tls_clusters.items()}
            if saved_tls != state.load("prometheus_tls"):
                state.save("prometheus_tls", saved_tls)
        else:
            traffic_map = TrafficMap(taken_at=taken_at)
            add_registry_nodes(traffic_map, registry)
            last = _unpack(state.load("prometheus_last_map"))
            if last:
                carry_stale(traffic_map, TrafficMap.from_dict(last))
            tls_clusters = {name: set(names) for name, names in (state.load("prometheus_tls") or {}).items()}
        context = AppenderContext(
            registry=registry,
            status=status,
            status_stale=status_stale,
            thresholds=config.thresholds,
            tls_clusters=tls_clusters,
            routes=refresh_route_annotations(route_store, state) if route_store is not None else None,
        )
        previous_positions = {k: tuple(v) for k, v in (state.load("positions") or {}).items()}
        positions = decorate(traffic_map, context, previous_positions)
    traffic_map.stale_sources = stale_sources
    if positions != previous_positions:
        state.save("positions", positions)
    # The last map is what a failing Prometheus carries over (its edges, stale). Its edges change
    # only with an answer, so it is saved when one came (the state's JSON encoder took ~200 ms
    # over a 5,000-edge map; packed, ~10 ms).
    if answered or kept_rates is None or state.load("prometheus_last_map_at") is None:
        state.save("prometheus_last_map", _pack(traffic_map.to_dict()))
        state.save("prometheus_last_map_at", taken_at)
    phases.done("build")
    if observed is not None:
        observed["sources"] = ["registry", "status", "prometheus"]
        observed["phases"] = phases.seconds
        observed["queried"] = sorted(queries)
        observed["ages_s"] = ages
    return traffic_map
