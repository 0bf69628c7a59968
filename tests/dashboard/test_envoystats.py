"""Parsing real Envoy 1.40 /stats JSON (recorded by fixtures/record_standalone.py) and delta math."""

from __future__ import annotations

from dashboard.topology.envoystats import (
    ClusterName,
    ClusterSample,
    NodeSample,
    counter_deltas,
    node_was_reset,
    parse_stats,
)
from tests.dashboard.conftest import load_fixture

DEFAULT = "outbound|9080||reviews.default.svc.cluster.local"
V2 = "outbound|9080|v2|reviews.default.svc.cluster.local"
INBOUND = "inbound|9080||"


def sample(name: str) -> NodeSample:
    recorded = load_fixture(name)
    return NodeSample(taken_at=recorded["recorded_at"], clusters=parse_stats(recorded["stats"]))


def test_cluster_names_follow_istio_naming():
    assert ClusterName.parse(V2) == ClusterName("outbound", 9080, "v2", "reviews.default.svc.cluster.local")
    assert ClusterName.parse(INBOUND) == ClusterName("inbound", 9080, "", "")
    assert ClusterName.parse("xds_cluster") is None
    assert ClusterName.parse("outbound|http|x|y") is None


def test_counters_are_read_without_envoys_subscope_duplicates():
    t0 = sample("standalone_t0.json")
    assert set(t0.clusters) == {DEFAULT, V2, INBOUND}
    # 50 x 2xx + 3 x 4xx + 5 x 5xx were sent on the default subset; the `.external.` copies of the
    # same counters must not be added on top.
    assert t0.clusters[DEFAULT].counters == {"total": 58, "2xx": 50, "4xx": 3, "5xx": 5}
    assert t0.clusters[V2].counters == {"total": 10, "2xx": 10}
    assert t0.clusters[INBOUND].counters["total"] == 68


def test_histogram_quantiles_come_from_the_interval_values():
    t0 = sample("standalone_t0.json")
    t1 = sample("standalone_t1.json")
    assert set(t0.clusters[DEFAULT].quantiles) == {"p50", "p95", "p99"}
    assert t0.clusters[DEFAULT].quantiles["p99"] > 0
    # Nothing went to the v2 subset in the last flush interval: Envoy reports null, kept as None.
    assert t1.clusters[V2].quantiles == {"p50": None, "p95": None, "p99": None}


def test_deltas_between_two_reads():
    t0, t1 = sample("standalone_t0.json"), sample("standalone_t1.json")
    assert not node_was_reset(t0, t1)
    assert counter_deltas(t0.clusters[DEFAULT], t1.clusters[DEFAULT], reset=False) == {
        "total": 22,
        "2xx": 20,
        "4xx": 0,
        "5xx": 2,
    }
    assert counter_deltas(t0.clusters[V2], t1.clusters[V2], reset=False) == {"total": 0, "2xx": 0}


def test_restart_resets_every_counter_and_new_values_are_the_deltas():
    t1, t2 = sample("standalone_t1.json"), sample("standalone_t2.json")
    assert node_was_reset(t1, t2)
    # After the restart 7 requests were sent: 7 is the increment, not 7 - 80.
    assert counter_deltas(t1.clusters[DEFAULT], t2.clusters[DEFAULT], reset=True) == {"total": 7, "2xx": 7}


def test_a_single_counter_going_down_counts_as_a_reset_of_that_counter():
    before = ClusterSample(counters={"total": 100, "2xx": 100})
    after = ClusterSample(counters={"total": 3, "2xx": 3})
    assert counter_deltas(before, after, reset=False) == {"total": 3, "2xx": 3}


def test_a_new_cluster_counts_from_zero():
    assert counter_deltas(None, ClusterSample(counters={"total": 4}), reset=False) == {"total": 4}


def test_samples_round_trip_through_json():
    t0 = sample("standalone_t0.json")
    assert NodeSample.from_dict(t0.to_dict()) == t0
