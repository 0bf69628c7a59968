"""Compare two traces: structure (paths only in one) and durations (paths whose time differs most).

A span's key is its path of `service:operation` steps from the root, joined by " > ", e.g.
"productpage:GET /productpage > reviews:GET /reviews/0 > ratings:GET /ratings/0". Spans with the
same key in one trace (repeated calls) are added up. Times are µs; `diff_us` = b - a. No Django.
"""

from __future__ import annotations

from dashboard.traces.model import Trace

SEPARATOR = " > "


def path_durations(trace: Trace) -> dict[str, int]:
    """Total duration (µs) per root path key; iterative (display order has parents first)."""
    keys: list[str] = [""] * len(trace.spans)
    totals: dict[str, int] = {}
    for span in trace.spans:
        step = f"{span.service}:{span.name}"
        key = step if span.parent_index is None else keys[span.parent_index] + SEPARATOR + step
        keys[span.index] = key
        totals[key] = totals.get(key, 0) + span.duration_us
    return totals


def compare(a: Trace, b: Trace) -> dict[str, list]:
    """`{"onlyA": [key], "onlyB": [key], "both": [{"key", "a_us", "b_us", "diff_us"}]}`.

    `onlyA`/`onlyB` keep display order; `both` is sorted by |diff_us|, largest first (then key).
    """
    in_a, in_b = path_durations(a), path_durations(b)
    both = [
        {"key": key, "a_us": in_a[key], "b_us": in_b[key], "diff_us": in_b[key] - in_a[key]}
        for key in in_a
        if key in in_b
    ]
    both.sort(key=lambda row: (-abs(row["diff_us"]), row["key"]))
    return {
        "onlyA": [key for key in in_a if key not in in_b],
        "onlyB": [key for key in in_b if key not in in_a],
        "both": both,
    }
