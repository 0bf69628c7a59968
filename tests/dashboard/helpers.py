"""Turning recorded admin answers into TrafficMap inputs (shared by the unit tests)."""

from __future__ import annotations

from dashboard.sources.registry import MeshRegistry, parse_registry, parse_status
from dashboard.topology.envoystats import NodeSample, parse_stats


def samples_of(poll: dict) -> dict[str, NodeSample]:
    """One recorded poll ({envoy: {"t": epoch s, "stats": /stats answer}}) as NodeSamples."""
    return {
        name: NodeSample(taken_at=entry["t"], clusters=parse_stats(entry["stats"]))
        for name, entry in poll.items()
    }


def registry_of(recording: dict) -> MeshRegistry:
    return parse_registry(recording["registry"])


def status_of(recording: dict, key: str = "status"):
    return parse_status(recording[key])
