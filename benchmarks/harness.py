"""What every benchmark module shares: the Figure record and simple statistics.

A benchmark module is `benchmarks/bench_<area>.py` exposing `run() -> list[Figure]`.
`python -m benchmarks.run` runs them, prints one table and appends it to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured number next to its target.

    `target` is human-readable (e.g. "<= 100 ms"); `met` is None when the figure is informational
    or a comparison with a published number rather than a pass/fail goal.
    """

    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values)
