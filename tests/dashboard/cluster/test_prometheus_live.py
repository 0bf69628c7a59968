"""The map from a REAL Prometheus (Debian's `prometheus`, started here on a free port) scraping a
test exporter of Istio's standard metrics for BookInfo traffic whose rates the test sets.

Tolerance: the exporter's counters are exact integrals of the rates, but Prometheus stamps each
sample with the scrape's start while the value is computed a few ms later; on a loaded 2-core
machine that lag varies by up to ~250 ms between scrapes, i.e. up to ~3% of a 10 s window's span
(rate() uses the first and last samples in it). 5% covers that with room; mTLS locks are exact.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

import orjson
import pytest

from dashboard.sources.errors import SourceError
from dashboard.sources.http import get_bytes
from dashboard.sources.prometheus import PrometheusSource, latency_query, quantile_queries
from dashboard.sources.registry import StaticRegistry
from dashboard.topology.poll import poll_prometheus
from dashboard.topology.state import MemoryPollState
from tests.dashboard.cluster.istio_traffic import EXPECTED_EDGES, GATEWAY, WINDOW
from tests.dashboard.helpers import registry_of
from tests.support.ports import free_port
from tests.support.waiting import wait_until

REL = 0.05  # see the module docstring


def registry_source(bookinfo_recording):
    return StaticRegistry(registry_of(bookinfo_recording))


def matches(traffic_map, expected) -> bool:
    for edge_id, (rps, error_5xx_pct, _mtls) in expected.items():
        edge = traffic_map.edges.get(edge_id)
        if edge is None or edge.rps != pytest.approx(rps, rel=REL):
            return False
        if edge.error_5xx_pct != pytest.approx(error_5xx_pct, rel=REL, abs=0.01):
            return False
    return True


def test_map_rates_errors_and_mtls_match_the_exporter(live, bookinfo_recording):
    _exporter, prometheus = live
    source = PrometheusSource(prometheus.url, 5.0)
    state = MemoryPollState()
    # Bounded polling: the first windows may hold only a few scrapes.
    traffic_map = wait_until(
        lambda: (
            (m := poll_prometheus(registry_source(bookinfo_recording), source, state, window=WINDOW))
            and matches(m, EXPECTED_EDGES)
            and m
        ),
        timeout=60,
        interval=1.0,
        what="the map to show the exporter's rates",
    )
    assert traffic_map.stale_sources == []
    assert {e: traffic_map.edges[e].mtls for e in EXPECTED_EDGES} == {
        e: v[2] for e, v in EXPECTED_EDGES.items()
    }
    reviews = traffic_map.edges["wl:productpage-v1->svc:reviews"]
    assert reviews.timeouts_per_s == pytest.approx(0.2, rel=REL)
    assert reviews.health == "degraded"  # 6.9% 5xx: between the default 1% and 20%
    # Requests into reviews take 30 ms but the fast 503s (3 ms): the quantiles interpolate in
    # the (25, 50] bucket.
    assert 25.0 < reviews.p50_ms <= 50.0 and 25.0 < reviews.p99_ms <= 50.0
    assert traffic_map.edges["svc:ratings->wl:ratings-v1"].mtls_pct == pytest.approx(50.0, abs=2.5)
    details = traffic_map.edges["svc:details->wl:details-v1"]
    assert details.denied_per_s == pytest.approx(1.0, rel=REL)
    assert traffic_map.nodes["unknown"].kind == "unknown"
    gateway_edge = traffic_map.edges[f"gw:{GATEWAY}->svc:productpage"]
    assert gateway_edge.health == "healthy" and 5.0 < gateway_edge.p50_ms <= 25.0


def test_a_rate_change_shows_within_one_window(live, bookinfo_recording):
    exporter, prometheus = live
    source = PrometheusSource(prometheus.url, 5.0)
    state = MemoryPollState()
    into_v1 = [f for f in exporter.flows if f.destination_workload == "reviews-v1"]
    for flow in into_v1:
        exporter.set_rps(flow, 8.0)
    expected = {
        "svc:reviews->wl:reviews-v1": (8.0, 0.0, True),
        "wl:productpage-v1->svc:reviews": (14.2, 100.0 * 0.7 / 14.2, True),
    }
    try:
        # The window (10 s) must slide past the change; 60 s is generous on a loaded machine.
        wait_until(
            lambda: matches(
                poll_prometheus(registry_source(bookinfo_recording), source, state, window=WINDOW), expected
            ),
            timeout=60,
            interval=1.0,
            what="the new rate",
        )
    finally:
        for flow in into_v1:
            exporter.set_rps(flow, 4.0)


def test_prometheus_down_keeps_the_last_map_stale(live, bookinfo_recording):
    _exporter, prometheus = live
    state = MemoryPollState()
    good = wait_until(
        lambda: (
            (
                m := poll_prometheus(
                    registry_source(bookinfo_recording),
                    PrometheusSource(prometheus.url, 5.0),
                    state,
                    window=WINDOW,
                )
            )
            and matches(m, EXPECTED_EDGES)
            and m
        ),
        timeout=60,
        interval=1.0,
    )
    down = PrometheusSource(f"http://127.0.0.1:{free_port()}", 1.0)
    traffic_map = poll_prometheus(registry_source(bookinfo_recording), down, state, window=WINDOW)
    assert traffic_map.stale_sources == ["prometheus"]
    assert set(traffic_map.edges) == set(good.edges)
    assert all(edge.stale for edge in traffic_map.edges.values())
    # mTLS locks survive (from the last good poll's TLS clusters).
    assert traffic_map.edges[f"gw:{GATEWAY}->svc:productpage"].mtls is True
    assert traffic_map.edges["wl:reviews-v3->svc:ratings"].mtls is False
    record = {r["name"]: r for r in state.load("prometheus_queries")}["requests"]
    assert record["last_error"] and record["last_success_at"] is not None


def test_bad_promql_is_a_source_error_with_prometheus_reason(live):
    _exporter, prometheus = live
    source = PrometheusSource(prometheus.url, 5.0)
    with pytest.raises(SourceError) as raised:
        source.query("sum by (", name="broken")
    assert raised.value.status == 400
    assert "parse error" in str(raised.value)
    assert source.queries()[0]["last_error"] == str(raised.value)


def test_a_failing_latency_query_keeps_the_rates_fresh(live, bookinfo_recording, monkeypatch):
    """A real Prometheus refusing one real query (bad PromQL: 400), the others answering."""
    from dashboard.sources import prometheus as promql
    from dashboard.topology import poll

    _exporter, prometheus = live
    broken = {**promql.mesh_queries(WINDOW), "latency": "sum by (le, "}
    monkeypatch.setattr(poll, "mesh_queries", lambda window: broken)
    traffic_map = poll_prometheus(
        registry_source(bookinfo_recording),
        PrometheusSource(prometheus.url, 5.0),
        MemoryPollState(),
        window=WINDOW,
    )
    assert traffic_map.stale_sources == ["prometheus:latency"]
    edge = traffic_map.edges[f"gw:{GATEWAY}->svc:productpage"]
    assert not edge.stale and edge.rps == pytest.approx(10.0, rel=REL)
    assert edge.p50_ms is None and edge.p99_ms is None


def test_latencies_equal_prometheuss_own_histogram_quantile(live):
    """The bucket rates and Prometheus's histogram_quantile of them, both asked of the real
    Prometheus at one evaluation time (so over the same samples), give the same quantiles."""
    from tests.dashboard.cluster.test_prometheus_histogram import (
        assert_same_quantiles,
        computed_and_prometheus,
    )

    _exporter, prometheus = live
    queries = {"latency": latency_query(WINDOW)}
    queries.update({f"histogram_quantile:{k}": v for k, v in quantile_queries(WINDOW).items()})
    at = time.time()
    documents = {
        name: orjson.loads(
            get_bytes(f"{prometheus.url}/api/v1/query?{urlencode({'query': promql, 'time': at})}", 10.0)
        )
        for name, promql in queries.items()
    }
    ours, theirs = computed_and_prometheus(documents)
    assert_same_quantiles(ours, theirs)
    assert len(theirs["p99"]) >= 10


def test_between_scrapes_and_latency_queries_a_poll_reuses_the_kept_answers(live, bookinfo_recording):
    """A latency interval far longer than the test: only the first poll queries latency; rates are
    re-queried only when Prometheus holds a newer scrape (1 s scrape interval here)."""
    _exporter, prometheus = live
    source = PrometheusSource(prometheus.url, 5.0)
    state = MemoryPollState()
    registry = registry_source(bookinfo_recording)
    first: dict = {}
    poll_prometheus(registry, source, state, window=WINDOW, observed=first, latency_interval_s=3600.0)
    assert first["queried"] == ["latency", "requests"] and first["ages_s"] == {
        "requests": 0.0,
        "latency": 0.0,
    }
    clock_at = time.time()
    later: dict = {}
    traffic_map = poll_prometheus(
        registry,
        source,
        state,
        window=WINDOW,
        observed=later,
        latency_interval_s=3600.0,
        clock=lambda: clock_at,
    )
    assert "latency" not in later["queried"] and later["ages_s"]["latency"] > 0
    assert traffic_map.stale_sources == []
    assert traffic_map.edges["wl:productpage-v1->svc:reviews"].p50_ms is not None
    # The same instant again: no scrape can be newer than the one the kept rates saw.
    again: dict = {}
    poll_prometheus(
        registry,
        source,
        state,
        window=WINDOW,
        observed=again,
        latency_interval_s=3600.0,
        clock=lambda: clock_at,
    )
    assert again["queried"] == []
