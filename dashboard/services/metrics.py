"""Golden signals (requests/s, error %, p50/p95/p99) of a service or workload over snapshots.

Pure functions over `TrafficMap.to_dict()` documents. Combining edges: rates add up; error % is
recomputed from the summed classes; latency quantiles are request-weighted means (approximate).
The browser's static/js/series.js mirrors `combine` to extend the charts live.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SIGNALS = ("rps", "error_pct", "error_5xx_pct", "p50_ms", "p95_ms", "p99_ms")


def combine(edges: Iterable[Mapping[str, Any]]) -> dict[str, float | None]:
    """One point of every signal for the sum of `edges` (None when no edge has a rate)."""
    edges = [e for e in edges if e.get("rps") is not None]
    if not edges:
        return dict.fromkeys(SIGNALS)
    rps = sum(e["rps"] for e in edges)
    completed = sum(
        e.get("rps_2xx", 0) + e.get("rps_3xx", 0) + e.get("rps_4xx", 0) + e.get("rps_5xx", 0) for e in edges
    )
    errors_4xx = sum(e.get("rps_4xx", 0) for e in edges)
    errors_5xx = sum(e.get("rps_5xx", 0) for e in edges)
    base = max(rps, completed)
    point: dict[str, float | None] = {
        "rps": round(rps, 4),
        "error_pct": round(100 * (errors_4xx + errors_5xx) / base, 3) if base else 0.0,
        "error_5xx_pct": round(100 * errors_5xx / base, 3) if base else 0.0,
    }
    for key in ("p50_ms", "p95_ms", "p99_ms"):
        weighted = [(e[key], e["rps"]) for e in edges if e.get(key) is not None]
        weight = sum(w for _, w in weighted)
        if not weighted:
            point[key] = None
        elif weight > 0:
            point[key] = round(sum(v * w for v, w in weighted) / weight, 3)
        else:
            point[key] = round(sum(v for v, _ in weighted) / len(weighted), 3)
    return point


def _empty_series() -> dict[str, list]:
    return {signal: [] for signal in SIGNALS}


def _append(series: dict[str, list], point: Mapping[str, float | None]) -> None:
    for signal in SIGNALS:
        series[signal].append(point.get(signal))


def known_service(documents: list[Mapping[str, Any]], name: str) -> bool:
    return any(n["id"] == f"svc:{name}" for d in documents for n in d.get("nodes", []))


def service_series(documents: list[Mapping[str, Any]], name: str) -> dict[str, Any]:
    """Per-version inbound and outbound series of service `name` across `documents` (oldest first).

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
    result: dict[str, Any] = {
        "service": name,
        "timestamps": [],
        "versions": sorted(set(versions.values())),
        "workloads": {version: node_id for node_id, version in sorted(versions.items())},
        "inbound": {"all": _empty_series(), **{v: _empty_series() for v in sorted(set(versions.values()))}},
        "outbound": {v: _empty_series() for v in sorted(set(versions.values()))},
    }
    for document in documents:
        edges = document.get("edges", [])
        result["timestamps"].append(document.get("taken_at"))
        _append(result["inbound"]["all"], combine(e for e in edges if e["target"] == service_node))
        for workload_node, version in versions.items():
            _append(
                result["inbound"][version],
                combine(e for e in edges if e["source"] == service_node and e["target"] == workload_node),
            )
            _append(result["outbound"][version], combine(e for e in edges if e["source"] == workload_node))
    return result


def workload_series(documents: list[Mapping[str, Any]], workload: str) -> dict[str, Any]:
    """Inbound (all callers) and outbound (per destination service) series of one workload."""
    node = f"wl:{workload}"
    destinations = sorted({e["target"] for d in documents for e in d.get("edges", []) if e["source"] == node})
    result: dict[str, Any] = {
        "workload": workload,
        "timestamps": [],
        "inbound": _empty_series(),
        "outbound": {dest.removeprefix("svc:"): _empty_series() for dest in destinations},
    }
    for document in documents:
        edges = document.get("edges", [])
        result["timestamps"].append(document.get("taken_at"))
        _append(result["inbound"], combine(e for e in edges if e["target"] == node))
        for dest in destinations:
            _append(
                result["outbound"][dest.removeprefix("svc:")],
                combine(e for e in edges if e["source"] == node and e["target"] == dest),
            )
    return result
