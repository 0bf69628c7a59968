"""Golden signals (requests/s, error %, p50/p95/p99) of a service or workload over snapshots.

Pure functions over `TrafficMap.to_dict()` documents. Combining edges: rates add up; error % is
recomputed from the summed classes; latency quantiles are request-weighted means (approximate).

Rates over a sliding window, like Prometheus' `rate(x[10s])`: each snapshot holds per-second rates
over its own poll interval (`interval_s`); the point at time t is the number of requests of the
snapshots taken in (t - window_s, t] divided by the seconds those snapshots cover. At a few
requests per second a one-second poll counts 1 or 2 requests per version and the per-poll rate
zig-zags between them; over the window a steady rate is flat. A point near the start of the range
has only the snapshots since the start (a shorter window). When the snapshots are thinned (more
than `max_points` in the range) the window averages the snapshots it still has.

The browser's static/js/series.js mirrors `edge_totals`, `point_of` and `windowed` to extend the
charts live.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

SIGNALS = ("rps", "error_pct", "error_5xx_pct", "p50_ms", "p95_ms", "p99_ms")
RATE_CLASSES = ("rps", "rps_2xx", "rps_3xx", "rps_4xx", "rps_5xx")
LATENCIES = ("p50_ms", "p95_ms", "p99_ms")
# The sliding window of the charts' rates, seconds: at least ten one-second polls, so one request
# more or less in the window moves a rate by at most 0.1/s.
RATE_WINDOW_S = 10.0

# Summed rates of a group of edges: {"rps": .., "rps_2xx": .., ..., "latency": {"p95_ms":
# [sum of value*weight, sum of weight, sum of values, count]}} (weight: the edge's requests/s).
Totals = dict[str, Any]


def edge_totals(edges: Iterable[Mapping[str, Any]]) -> Totals | None:
    """The summed rates and latency weights of `edges` (None when no edge has a rate yet)."""
    edges = [e for e in edges if e.get("rps") is not None]
    if not edges:
        return None
    totals: Totals = {key: sum(e.get(key, 0) or 0 for e in edges) for key in RATE_CLASSES}
    totals["latency"] = {}
    for key in LATENCIES:
        weighted = [(e[key], e["rps"]) for e in edges if e.get(key) is not None]
        if weighted:
            totals["latency"][key] = [
                sum(v * w for v, w in weighted),
                sum(w for _, w in weighted),
                sum(v for v, _ in weighted),
                len(weighted),
            ]
    return totals


def point_of(totals: Totals | None) -> dict[str, float | None]:
    """One point of every signal from summed rates (every signal None for None)."""
    if totals is None:
        return dict.fromkeys(SIGNALS)
    rps = totals["rps"]
    completed = totals["rps_2xx"] + totals["rps_3xx"] + totals["rps_4xx"] + totals["rps_5xx"]
    base = max(rps, completed)
    point: dict[str, float | None] = {
        "rps": round(rps, 4),
        "error_pct": round(100 * (totals["rps_4xx"] + totals["rps_5xx"]) / base, 3) if base else 0.0,
        "error_5xx_pct": round(100 * totals["rps_5xx"] / base, 3) if base else 0.0,
    }
    for key in LATENCIES:
        latency = totals["latency"].get(key)
        if latency is None:
            point[key] = None
        elif latency[1] > 0:
            point[key] = round(latency[0] / latency[1], 3)
        else:
            point[key] = round(latency[2] / latency[3], 3)
    return point


def combine(edges: Iterable[Mapping[str, Any]]) -> dict[str, float | None]:
    """One point of every signal for the sum of `edges` over one poll (None when no edge has a rate)."""
    return point_of(edge_totals(edges))


def _add(into: Totals, totals: Totals, seconds: float, sign: int) -> None:
    """Add (sign 1) or remove (-1) one snapshot's counts (its rates times `seconds`) to `into`."""
    for key in RATE_CLASSES:
        into[key] += sign * totals[key] * seconds
    for key, (weighted, weight, plain, count) in totals["latency"].items():
        entry = into["latency"].setdefault(key, [0.0, 0.0, 0.0, 0])
        entry[0] += sign * weighted * seconds
        entry[1] += sign * weight * seconds
        entry[2] += sign * plain
        entry[3] += sign * count
        if entry[3] == 0:
            del into["latency"][key]


def windowed(
    samples: Sequence[tuple[float, float, Totals | None]], window_s: float | None
) -> list[dict[str, float | None]]:
    """Points of every signal over a sliding window.

    `samples`: (taken_at epoch s, seconds the rates cover, totals or None), oldest first. The point
    of sample i sums the counts of the samples j <= i with taken_at_j > taken_at_i - window_s and
    divides by their seconds; latencies are weighted by requests. A window with no rate is None.
    `window_s` None or <= 0: every point is its own poll's (`combine`). O(len(samples)).
    """
    if not window_s or window_s <= 0:
        return [point_of(totals) for _, _, totals in samples]
    points: list[dict[str, float | None]] = []
    inside: deque[tuple[float, float, Totals]] = deque()
    sums: Totals = {**dict.fromkeys(RATE_CLASSES, 0.0), "latency": {}}
    seconds = 0.0
    for taken_at, covered, totals in samples:
        if totals is not None and covered > 0:
            inside.append((taken_at, covered, totals))
            _add(sums, totals, covered, 1)
            seconds += covered
        while inside and inside[0][0] <= taken_at - window_s:
            _, old_covered, old = inside.popleft()
            _add(sums, old, old_covered, -1)
            seconds -= old_covered
        if not inside or seconds <= 0:
            points.append(point_of(None))
            continue
        rates: Totals = {key: max(sums[key], 0.0) / seconds for key in RATE_CLASSES}
        rates["latency"] = {
            key: [weighted / seconds, weight / seconds, plain, count]
            for key, (weighted, weight, plain, count) in sums["latency"].items()
        }
        points.append(point_of(rates))
    return points


def intervals(documents: Sequence[Mapping[str, Any]]) -> list[float]:
    """The seconds each snapshot's rates cover: its `interval_s`, else the gap to the one before."""
    result: list[float] = []
    previous: float | None = None
    for document in documents:
        taken_at = document.get("taken_at") or 0.0
        covered = document.get("interval_s")
        if covered is None:
            covered = taken_at - previous if previous is not None and taken_at > previous else 0.0
        result.append(float(covered))
        previous = taken_at
    return result


def _group_series(
    documents: Sequence[Mapping[str, Any]],
    covered: Sequence[float],
    keep: Callable[[Mapping[str, Any]], bool],
    window_s: float | None,
) -> dict[str, list]:
    """{signal: [value per document]} of the edges `keep` selects, over the sliding window."""
    samples = [
        (d.get("taken_at") or 0.0, seconds, edge_totals(e for e in d.get("edges", []) if keep(e)))
        for d, seconds in zip(documents, covered, strict=True)
    ]
    points = windowed(samples, window_s)
    return {signal: [p[signal] for p in points] for signal in SIGNALS}


def known_service(documents: list[Mapping[str, Any]], name: str) -> bool:
    return any(n["id"] == f"svc:{name}" for d in documents for n in d.get("nodes", []))


def service_series(
    documents: list[Mapping[str, Any]], name: str, window_s: float | None = RATE_WINDOW_S
) -> dict[str, Any]:
    """Per-version inbound and outbound series of service `name` across `documents` (oldest first),
    rates over a sliding window of `window_s` seconds (None: each poll's own rates).

    inbound[version]   traffic the service's workload of that version received
    inbound["all"]     traffic all callers sent to the service
    outbound[version]  traffic that version's workload sent to other services
    """
    service_node = f"svc:{name}"
    versions: dict[str, str] = {}
    for document in documents:
        for node in document.get("nodes", []):
            if node.get("kind") == "workload" and node.get("service") == name:
                versions[node["id"]] = node.get("version") or node["name"]
    covered = intervals(documents)

    def series(keep: Callable[[Mapping[str, Any]], bool]) -> dict[str, list]:
        return _group_series(documents, covered, keep, window_s)

    inbound = {"all": series(lambda e: e["target"] == service_node)}
    outbound = {}
    for workload_node, version in sorted(versions.items(), key=lambda item: item[1]):
        inbound[version] = series(lambda e, w=workload_node: e["source"] == service_node and e["target"] == w)
        outbound[version] = series(lambda e, w=workload_node: e["source"] == w)
    return {
        "service": name,
        "window_s": window_s,
        "timestamps": [d.get("taken_at") for d in documents],
        "versions": sorted(set(versions.values())),
        "workloads": {version: node_id for node_id, version in sorted(versions.items())},
        "inbound": inbound,
        "outbound": outbound,
    }


def workload_series(
    documents: list[Mapping[str, Any]], workload: str, window_s: float | None = RATE_WINDOW_S
) -> dict[str, Any]:
    """Inbound (all callers) and outbound (per destination service) series of one workload, rates
    over a sliding window of `window_s` seconds (None: each poll's own rates)."""
    node = f"wl:{workload}"
    destinations = sorted({e["target"] for d in documents for e in d.get("edges", []) if e["source"] == node})
    covered = intervals(documents)

    def series(keep: Callable[[Mapping[str, Any]], bool]) -> dict[str, list]:
        return _group_series(documents, covered, keep, window_s)

    return {
        "workload": workload,
        "window_s": window_s,
        "timestamps": [d.get("taken_at") for d in documents],
        "inbound": series(lambda e: e["target"] == node),
        "outbound": {
            dest.removeprefix("svc:"): series(lambda e, d=dest: e["source"] == node and e["target"] == d)
            for dest in destinations
        },
    }
