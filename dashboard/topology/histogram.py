"""Quantiles of classic Prometheus histograms, computed as Prometheus's `histogram_quantile` does
(pure: no I/O, no Django).

Why here and not in PromQL: `histogram_quantile(q, sum by (le, ...) (rate(..._bucket[w])))` makes
Prometheus evaluate rate() over every bucket series once per quantile. Asking for the bucket rates
once and computing p50/p95/p99 here evaluates it once, with the same answers.

`bucket_quantile(q, buckets)` follows `bucketQuantile` of Prometheus's promql/quantile.go
(2.x classic histograms), step by step:
  - q < 0 -> -Inf, q > 1 -> +Inf, q NaN -> NaN;
  - buckets sorted by upper bound; no `+Inf` bucket -> NaN;
  - buckets with the same upper bound (`le="1"` and `le="1.0"`) are added together;
  - counts made monotonic (each at least the one below: bucket series of one scrape are not
    ingested atomically, so rate() can see a higher bucket lower);
  - fewer than two buckets, or no observation at all -> NaN;
  - the quantile's rank is q * (count of +Inf); the first bucket reaching it is interpolated
    linearly from its lower bound (the previous bucket's upper bound; 0 for the lowest bucket,
    unless that bucket's upper bound is <= 0, which is then the answer); a rank beyond every finite
    bucket answers the highest finite upper bound.
Counts are whatever unit the caller uses (requests/s after rate()); bounds are the histogram's
unit (ms for Istio's `istio_request_duration_milliseconds`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence


def parse_le(text: str) -> float | None:
    """The upper bound of a `le` label value (`"25"`, `"2.5e+01"`, `"+Inf"`); None when it is not
    a number, and such a series is skipped, as Prometheus skips it."""
    if "_" in text:  # Python's float() takes `1_000`; Go's strconv.ParseFloat does not
        return None
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def prepare(buckets: Iterable[tuple[float, float]]) -> tuple[list[float], list[float]] | None:
    """(upper bounds, cumulative counts) sorted, coalesced and made monotonic, ready for
    `quantile_of`; None when Prometheus would answer NaN whatever q is (no `+Inf` bucket, fewer
    than two distinct bounds, or no observation)."""
    ordered = sorted(buckets)  # by bound; equal bounds are added below, so their order is moot
    if not ordered or ordered[-1][0] != math.inf:
        return None
    bounds: list[float] = []
    counts: list[float] = []
    for bound, count in ordered:
        if bounds and bounds[-1] == bound:
            counts[-1] += count
        else:
            bounds.append(bound)
            counts.append(count)
    highest = -math.inf
    for i, count in enumerate(counts):
        if count > highest:
            highest = count
        elif count < highest:
            counts[i] = highest
    if len(bounds) < 2 or counts[-1] == 0:
        return None
    return bounds, counts


def quantile_of(q: float, prepared: tuple[list[float], list[float]] | None) -> float:
    """The q-quantile of buckets from `prepare` (see the module docstring for each case)."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if prepared is None:
        return math.nan
    bounds, counts = prepared
    rank = q * counts[-1]
    # Go's sort.Search over all but the +Inf bucket: the first index whose count >= rank.
    b = bisect_left(counts, rank, 0, len(counts) - 1)
    if b == len(counts) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    # Go divides floats by zero without complaint: 0/0 is NaN. Only q = 0 over an empty lowest
    # bucket gets here with count 0 (a positive rank lands where the count rises).
    return start + (end - start) * (rank / count if count else math.nan)


def bucket_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float:
    """Prometheus's `histogram_quantile(q, ...)` of one histogram given as (upper bound, cumulative
    count) pairs in any order; NaN where Prometheus answers NaN."""
    return quantile_of(q, prepare(buckets))


def quantiles(q: Sequence[float], buckets: Iterable[tuple[float, float]]) -> tuple[float, ...]:
    """`bucket_quantile` for each of `q` over one histogram, sorting it once."""
    prepared = prepare(buckets)
    return tuple(quantile_of(x, prepared) for x in q)
