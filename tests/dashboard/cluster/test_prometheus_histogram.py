"""Quantiles from latency buckets (dashboard.topology.histogram) against Prometheus's own
`histogram_quantile`: on hand-made histograms for each rule of its bucketQuantile, and on answers a
real Prometheus gave for the same buckets at the same evaluation time (fixtures/
prometheus_bookinfo.json, see record_prometheus.py; the live comparison is in
test_prometheus_live.py)."""

from __future__ import annotations

import math

import pytest

from dashboard.sources.prometheus import QUANTILES, parse_vector
from dashboard.topology.histogram import bucket_quantile, parse_le, quantiles
from dashboard.topology.prommap import edge_latencies
from tests.dashboard.conftest import load_fixture
from tests.dashboard.helpers import registry_of

INF = math.inf
# Both sides compute in IEEE doubles; only the order of additions can differ.
REL = 1e-9


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        # Linear interpolation inside the bucket that reaches the rank.
        (0.5, [(1.0, 0.0), (5.0, 10.0), (INF, 10.0)], 3.0),
        # ... starting from the count below it.
        (0.5, [(1.0, 2.0), (5.0, 10.0), (INF, 10.0)], 1.0 + 4.0 * 3.0 / 8.0),
        # The lowest bucket's lower bound is 0.
        (0.5, [(10.0, 10.0), (INF, 10.0)], 5.0),
        # ... unless its upper bound is <= 0: that bound is the answer.
        (0.1, [(-1.0, 5.0), (INF, 10.0)], -1.0),
        # A rank in the +Inf bucket answers the highest finite bound.
        (0.9, [(1.0, 2.0), (5.0, 4.0), (INF, 10.0)], 5.0),
        # Any order: buckets are sorted by bound first.
        (0.5, [(INF, 10.0), (5.0, 10.0), (1.0, 0.0)], 3.0),
        # Equal bounds written differently (`1` and `1.0`) are one bucket.
        (0.5, [(1.0, 2.0), (1.0, 2.0), (5.0, 4.0), (INF, 4.0)], 0.5),
        # A bucket below its predecessor is raised to it (non-atomic ingestion).
        (0.4, [(1.0, 5.0), (5.0, 3.0), (INF, 10.0)], 0.8),
        (0.6, [(1.0, 5.0), (5.0, 3.0), (INF, 10.0)], 5.0),
        # ... the +Inf bucket too.
        (0.5, [(1.0, 2.0), (5.0, 10.0), (INF, 4.0)], 1.0 + 4.0 * 3.0 / 8.0),
        (0.0, [(1.0, 2.0), (5.0, 10.0), (INF, 10.0)], 0.0),
        (1.0, [(1.0, 2.0), (5.0, 10.0), (INF, 10.0)], 5.0),
    ],
)
def test_hand_cases_follow_prometheus(q, buckets, expected):
    assert bucket_quantile(q, buckets) == pytest.approx(expected, rel=REL)


@pytest.mark.parametrize(
    "buckets",
    [
        [],
        [(1.0, 5.0), (5.0, 10.0)],  # no +Inf bucket
        [(INF, 10.0)],  # only +Inf: fewer than two buckets
        [(1.0, 0.0), (5.0, 0.0), (INF, 0.0)],  # no observation in the window
    ],
)
def test_nan_where_prometheus_answers_nan(buckets):
    assert math.isnan(bucket_quantile(0.5, buckets))
    assert all(math.isnan(value) for value in quantiles((0.5, 0.99), buckets))


def test_q_zero_over_an_empty_lowest_bucket_is_nan_as_in_go():
    assert math.isnan(bucket_quantile(0.0, [(1.0, 0.0), (5.0, 10.0), (INF, 10.0)]))


@pytest.mark.parametrize(("q", "expected"), [(-0.1, -INF), (1.5, INF)])
def test_q_out_of_range_is_infinite_even_without_buckets(q, expected):
    assert bucket_quantile(q, []) == expected
    assert quantiles((q,), []) == (expected,)
    assert bucket_quantile(q, [(1.0, 1.0), (INF, 1.0)]) == expected


def test_nan_q_is_nan():
    assert math.isnan(bucket_quantile(math.nan, [(1.0, 1.0), (INF, 1.0)]))


@pytest.mark.parametrize(("text", "bound"), [("25", 25.0), ("2.5e+01", 25.0), ("+Inf", INF), ("0.5", 0.5)])
def test_parse_le(text, bound):
    assert parse_le(text) == bound


@pytest.mark.parametrize("text", ["", "fast", "1_000"])
def test_parse_le_refuses_what_go_refuses(text):
    assert parse_le(text) is None


def computed_and_prometheus(answers):
    """(quantiles computed here, Prometheus's histogram_quantile) by quantile name and label set."""
    groups: dict[tuple, list] = {}
    for sample in parse_vector(answers["latency"], "latency"):
        key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
        groups.setdefault(key, []).append((parse_le(sample.labels["le"]), sample.value))
    ours = {name: {} for name in QUANTILES}
    for key, buckets in groups.items():
        for name, value in zip(QUANTILES, quantiles(tuple(QUANTILES.values()), buckets), strict=True):
            ours[name][key] = value
    theirs = {
        name: {
            tuple(sorted(s.labels.items())): s.value
            for s in parse_vector(answers[f"histogram_quantile:{name}"], name)
        }
        for name in QUANTILES
    }
    return ours, theirs


def assert_same_quantiles(ours, theirs):
    for name in QUANTILES:
        assert set(ours[name]) == set(theirs[name]), name
        for key, value in theirs[name].items():
            if math.isnan(value):
                assert math.isnan(ours[name][key]), (name, key)
            else:
                assert ours[name][key] == pytest.approx(value, rel=REL), (name, key)


def test_recorded_buckets_give_prometheuss_own_quantiles():
    ours, theirs = computed_and_prometheus(load_fixture("prometheus_bookinfo.json")["answers"])
    assert_same_quantiles(ours, theirs)
    # The recording interpolates over buckets with requests below (the 503s fail fast).
    assert len(ours["p50"]) >= 10


def test_edge_latencies_land_on_the_map_edges(bookinfo_recording):
    answer = load_fixture("prometheus_bookinfo.json")["answers"]["latency"]
    latencies = edge_latencies(registry_of(bookinfo_recording), parse_vector(answer, "latency"))
    p50, p95, p99 = latencies["wl:productpage-v1->svc:reviews"]
    assert 25.0 < p50 < p95 <= p99 <= 50.0
    p50, _, p99 = latencies["svc:ratings->wl:ratings-v1"]
    assert 1.0 < p50 <= p99 <= 5.0
    assert "svc:reviews->wl:reviews-v3" in latencies
