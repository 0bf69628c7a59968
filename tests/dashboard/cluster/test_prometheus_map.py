"""The pure Prometheus -> TrafficMap translation, on answers recorded from a real Prometheus
(fixtures/prometheus_bookinfo.json, see record_prometheus.py) and on small hand-made vectors."""

from __future__ import annotations

import math

import pytest

from dashboard.sources.errors import SourceError
from dashboard.sources.prometheus import (
    Sample,
    duration_seconds,
    merge_records,
    mesh_queries,
    parse_vector,
    quantile_queries,
)
from dashboard.topology.appenders import AppenderContext
from dashboard.topology.poll import decorate
from dashboard.topology.prommap import build_prometheus_map, carry_stale
from dashboard.topology.trafficmap import TrafficMap, add_registry_nodes
from tests.dashboard.cluster.istio_traffic import EXPECTED_EDGES, GATEWAY
from tests.dashboard.conftest import load_fixture
from tests.dashboard.helpers import registry_of

# The recorded rates come from a real scrape; see test_prometheus_live.py for the tolerance.
REL = 0.05


@pytest.fixture(scope="module")
def recorded():
    return load_fixture("prometheus_bookinfo.json")


@pytest.fixture
def registry(bookinfo_recording):
    return registry_of(bookinfo_recording)


def results_of(recorded):
    return {name: parse_vector(answer, name) for name, answer in recorded["answers"].items()}


def decorated(registry, results, window_s=10.0):
    built = build_prometheus_map(registry, results, taken_at=1000.0, window_s=window_s)
    decorate(built.traffic_map, AppenderContext(registry=registry, tls_clusters=built.tls_clusters))
    return built


def series(reporter, source, service, workload, value, code="200", flags="-", policy=None):
    return Sample(
        labels={
            "reporter": reporter,
            "source_workload": source,
            "destination_service_name": service,
            "destination_workload": workload,
            "response_code": code,
            "response_flags": flags,
            "connection_security_policy": policy
            or ("mutual_tls" if reporter == "destination" else "unknown"),
        },
        value=value,
    )


def buckets(labels, rate, bounds=("1", "5", "10", "25", "50", "+Inf")):
    """The bucket rates of one edge's histogram with every request in its lowest bucket."""
    return [Sample(labels={**labels, "le": le}, value=rate) for le in bounds]


def test_latencies_computed_elsewhere_stand_in_for_the_bucket_answer(registry):
    results = {"requests": [series("source", "productpage-v1", "details", "details-v1", 4.0)]}
    latencies = {"wl:productpage-v1->svc:details": [1.0, 2.0, 3.0], "wl:nobody->svc:details": [1, 1, 1]}
    built = build_prometheus_map(registry, results, taken_at=1000.0, window_s=10.0, latencies=latencies)
    edge = built.traffic_map.edges["wl:productpage-v1->svc:details"]
    assert (edge.p50_ms, edge.p95_ms, edge.p99_ms) == (1.0, 2.0, 3.0)
    assert set(built.traffic_map.edges) == {"wl:productpage-v1->svc:details"}


def test_recorded_answers_give_the_exporters_rates_errors_and_mtls(recorded, registry):
    traffic_map = decorated(registry, results_of(recorded)).traffic_map
    for edge_id, (rps, error_5xx_pct, mtls) in EXPECTED_EDGES.items():
        edge = traffic_map.edges[edge_id]
        assert edge.rps == pytest.approx(rps, rel=REL), edge_id
        assert edge.error_5xx_pct == pytest.approx(error_5xx_pct, rel=REL, abs=0.01), edge_id
        assert edge.mtls is mtls, edge_id
    assert set(traffic_map.edges) == set(EXPECTED_EDGES)
    assert traffic_map.interval_s == 10.0


def test_recorded_answers_give_latencies_timeouts_and_denials(recorded, registry):
    traffic_map = decorated(registry, results_of(recorded)).traffic_map
    reviews = traffic_map.edges["wl:productpage-v1->svc:reviews"]
    assert 25.0 < reviews.p50_ms < reviews.p95_ms <= reviews.p99_ms <= 50.0
    assert reviews.timeouts_per_s == pytest.approx(0.2, rel=REL)
    assert reviews.health == "degraded"
    assert traffic_map.edges["svc:reviews->wl:reviews-v3"].health == "degraded"
    details = traffic_map.edges["svc:details->wl:details-v1"]
    assert details.denied_per_s == pytest.approx(1.0, rel=REL) and details.error_4xx_pct == 0.0
    unknown_details = traffic_map.edges["unknown->svc:details"]
    assert unknown_details.denied_per_s == pytest.approx(1.0, rel=REL)
    assert unknown_details.error_4xx_pct == pytest.approx(100.0)
    assert traffic_map.edges["svc:ratings->wl:ratings-v1"].mtls_pct == pytest.approx(50.0, abs=2.5)
    assert traffic_map.nodes["unknown"].kind == "unknown"
    assert traffic_map.nodes[f"gw:{GATEWAY}"].health == "healthy"


def test_the_callers_own_report_wins_over_the_destinations(registry):
    results = {
        "requests": [
            series("source", "productpage-v1", "details", "details-v1", 4.0),
            series("destination", "productpage-v1", "details", "details-v1", 3.0),
        ]
    }
    traffic_map = decorated(registry, results).traffic_map
    assert traffic_map.edges["wl:productpage-v1->svc:details"].rps == 4.0
    assert traffic_map.edges["svc:details->wl:details-v1"].rps == 3.0


def test_flags_and_codes_become_the_envoy_counters(registry):
    results = {
        "requests": [
            series("source", "productpage-v1", "reviews", "reviews-v1", 1.0, code="504", flags="UT,URX"),
            series("source", "productpage-v1", "reviews", "unknown", 2.0, code="503", flags="UF"),
            series("source", "productpage-v1", "reviews", "reviews-v1", 0.5, code="429", flags="RL"),
            series("source", "productpage-v1", "reviews", "reviews-v1", 6.5),
        ]
    }
    edge = decorated(registry, results).traffic_map.edges["wl:productpage-v1->svc:reviews"]
    assert (edge.rps, edge.rps_2xx, edge.rps_4xx, edge.rps_5xx) == (10.0, 6.5, 0.5, 3.0)
    assert (edge.timeouts_per_s, edge.retries_per_s, edge.connect_failures_per_s) == (1.0, 1.0, 2.0)
    assert edge.rate_limited_per_s == 0.5 and edge.error_5xx_pct == 30.0
    assert edge.health == "failing"  # 30% 5xx with connection failures


def test_unknown_external_and_unregistered_nodes(registry):
    results = {
        "requests": [
            series("source", "reviews-v1", "api.example.com", "unknown", 1.0),
            series("source", "batch-job", "ratings", "ratings-v1", 2.0),
            series("destination", "unknown", "unknown", "unknown", 5.0),  # Istio could not name it
        ],
        # No request of batch-job's in the window's buckets: histogram_quantile would say NaN.
        "latency": buckets({"source_workload": "batch-job", "destination_service_name": "ratings"}, 0.0),
    }
    traffic_map = decorated(registry, results).traffic_map
    assert traffic_map.nodes["svc:api.example.com"].flags == ["external"]
    assert traffic_map.nodes["wl:batch-job"].flags == ["unregistered"]
    assert set(traffic_map.edges) == {"wl:reviews-v1->svc:api.example.com", "wl:batch-job->svc:ratings"}
    assert "unknown" in traffic_map.nodes  # the caller of the unnamed destination
    assert traffic_map.edges["wl:batch-job->svc:ratings"].p50_ms is None


def test_zero_rates_are_idle_edges_not_unknown(registry):
    results = {"requests": [series("source", "productpage-v1", "details", "details-v1", 0.0)]}
    edge = decorated(registry, results).traffic_map.edges["wl:productpage-v1->svc:details"]
    assert edge.rps == 0.0 and edge.idle and edge.health == "idle"


def test_mtls_clusters_are_named_as_the_security_appender_reads_them(registry):
    results = {"requests": [series("destination", "productpage-v1", "details", "details-v1", 1.0)]}
    built = decorated(registry, results)
    assert built.tls_clusters == {"productpage-v1": {"outbound|9080||details.default.svc.cluster.local"}}
    assert built.traffic_map.edges["wl:productpage-v1->svc:details"].mtls is True


def test_carry_stale_keeps_edges_whose_ends_exist(recorded, registry):
    previous = decorated(registry, results_of(recorded)).traffic_map
    previous = TrafficMap.from_dict(previous.to_dict())
    traffic_map = TrafficMap(taken_at=2000.0)
    add_registry_nodes(traffic_map, registry)
    carry_stale(traffic_map, previous)
    assert set(traffic_map.edges) == set(previous.edges)
    assert all(edge.stale for edge in traffic_map.edges.values())
    assert traffic_map.edges["unknown->svc:productpage"].rps == previous.edges["unknown->svc:productpage"].rps


def test_mesh_queries_are_one_per_figure_for_the_whole_mesh():
    queries = mesh_queries("1m")
    assert set(queries) == {"requests", "latency"}
    assert "rate(istio_requests_total[1m])" in queries["requests"]
    assert "connection_security_policy" in queries["requests"]
    # One rate() per bucket series for all three quantiles, in both groupings.
    assert queries["latency"].count("rate(istio_request_duration_milliseconds_bucket") == 2
    assert queries["latency"].startswith("sum by (le, source_workload")
    assert 'reporter="destination"' in queries["latency"] and "histogram_quantile" not in queries["latency"]
    reference = quantile_queries("1m")
    assert reference["p99"].startswith("histogram_quantile(0.99, sum by (le, source_workload")


@pytest.mark.parametrize(
    "document",
    [
        {"status": "error", "error": "boom"},
        {"status": "success", "data": {"resultType": "matrix", "result": []}},
        {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1]}]}},
        ["not", "an", "answer"],
    ],
)
def test_parse_vector_refuses_other_shapes(document):
    with pytest.raises(SourceError):
        parse_vector(document, "test")


def test_parse_vector_keeps_nan():
    document = {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {"a": "b"}, "value": [1, "NaN"]}]},
    }
    (sample,) = parse_vector(document, "test")
    assert sample.labels == {"a": "b"} and math.isnan(sample.value)


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("30s", 30.0), ("1m", 60.0), ("2h", 7200.0)])
def test_duration_seconds(text, seconds):
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "1.5m", "m", "10d", "-1s"])
def test_duration_seconds_refuses_others(text):
    with pytest.raises(ValueError):
        duration_seconds(text)


def test_merge_records_keeps_the_last_success_and_the_last_error():
    before = [
        {
            "name": "requests",
            "last_success_at": 10.0,
            "last_series": 5,
            "last_error": "x",
            "last_error_at": 5.0,
        }
    ]
    failed = [
        {
            "name": "requests",
            "last_success_at": None,
            "last_series": None,
            "last_error": "down",
            "last_error_at": 20.0,
        }
    ]
    merged = merge_records(before, failed)
    assert merged == [
        {
            "name": "requests",
            "last_success_at": 10.0,
            "last_series": 5,
            "last_error": "down",
            "last_error_at": 20.0,
        }
    ]
    ok = [
        {
            "name": "requests",
            "last_success_at": 30.0,
            "last_series": 6,
            "last_error": None,
            "last_error_at": None,
        }
    ]
    assert merge_records(merged, ok)[0] == {
        "name": "requests",
        "last_success_at": 30.0,
        "last_series": 6,
        "last_error": "down",
        "last_error_at": 20.0,
    }


def test_a_latency_without_requests_adds_no_node_or_edge(registry):
    labels = {"source_workload": "cron-job", "destination_service_name": "billing"}
    traffic_map = decorated(registry, {"requests": [], "latency": buckets(labels, 2.0)}).traffic_map
    assert "wl:cron-job" not in traffic_map.nodes and "svc:billing" not in traffic_map.nodes
    assert traffic_map.edges == {}
