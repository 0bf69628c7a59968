"""The health page shows the PromQL the telemetry source sends, with its last duration and error:
a real poll against a REAL Prometheus (see conftest.py) with the poll state in a real Redis."""

from __future__ import annotations

import html

import pytest

from dashboard.sources.prometheus import PrometheusSource, mesh_queries
from dashboard.sources.registry import StaticRegistry
from dashboard.topology.poll import poll_prometheus
from dashboard.topology.state import redis_poll_state
from tests.dashboard.cluster.istio_traffic import WINDOW
from tests.dashboard.helpers import registry_of
from tests.support.ports import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def prometheus_settings(settings, redis_layer, live, tmp_path):
    _exporter, prometheus = live
    settings.TELEMETRY_SOURCE = "prometheus"
    settings.PROMETHEUS_URL = prometheus.url
    settings.SUPERVISOR_FILES = [str(tmp_path / "supervisor.json")]
    settings.HEALTH_DEADLINE_SECONDS = 3.0
    return prometheus


def test_the_health_page_shows_each_query_with_its_duration(
    prometheus_settings, viewer_client, bookinfo_recording
):
    source = PrometheusSource(prometheus_settings.url, 5.0)
    registry = StaticRegistry(registry_of(bookinfo_recording))
    poll_prometheus(registry, source, redis_poll_state(), window=WINDOW)

    page = viewer_client.get("/health/").content.decode()
    for promql in mesh_queries(WINDOW).values():
        assert html.escape(promql) in page
    # The two mesh queries and the cheap probe of the newest scrape.
    assert page.count('<td class="duration">') == 3 and " ms</td>" in page

    body = viewer_client.get("/api/health").json()
    queries = {q["name"]: q for q in body["telemetry_queries"]}
    assert set(queries) == {"latest_scrape", "requests", "latency"}
    assert queries["requests"]["last_series"] >= 19 and queries["requests"]["last_error"] is None
    assert 0 < queries["requests"]["last_duration_s"] < 5.0
    checks = {c["name"]: c for c in body["checks"]}
    assert checks["prometheus"]["state"] == "up"


def test_a_failing_query_shows_its_error_next_to_the_last_success(
    prometheus_settings, viewer_client, bookinfo_recording
):
    registry = StaticRegistry(registry_of(bookinfo_recording))
    state = redis_poll_state()
    poll_prometheus(registry, PrometheusSource(prometheus_settings.url, 5.0), state, window=WINDOW)
    poll_prometheus(registry, PrometheusSource(f"http://127.0.0.1:{free_port()}", 0.5), state, window=WINDOW)

    queries = {q["name"]: q for q in viewer_client.get("/api/health").json()["telemetry_queries"]}
    requests = queries["requests"]
    assert "Connection refused" in requests["last_error"] and requests["last_success_at"] is not None
    page = viewer_client.get("/health/").content.decode()
    assert 'data-query="requests" class="health-failing"' in page


def test_the_page_has_no_query_table_when_the_map_comes_from_envoy(
    settings, redis_layer, viewer_client, tmp_path
):
    settings.TELEMETRY_SOURCE = "envoy"
    settings.SUPERVISOR_FILES = [str(tmp_path / "supervisor.json")]
    settings.HEALTH_DEADLINE_SECONDS = 3.0
    redis_poll_state().save("prometheus_queries", [{"name": "requests", "promql": "up"}])
    page = viewer_client.get("/health/").content.decode()
    assert 'id="health-promql"' not in page
    assert viewer_client.get("/api/health").json()["telemetry_queries"] == []


def test_the_topology_task_polls_prometheus_when_told_to(prometheus_settings, settings, bookinfo_recording):
    from dashboard.topology.service import poll_and_publish
    from dashboard.topology.snapshots import latest_snapshot

    settings.PROMETHEUS_RATE_WINDOW = WINDOW
    snapshot_id = poll_and_publish(registry_source=StaticRegistry(registry_of(bookinfo_recording)))
    snapshot = latest_snapshot()
    assert snapshot is not None and snapshot.id == snapshot_id
    edges = {edge["id"]: edge for edge in snapshot.data["edges"]}
    assert edges["gw:istio-ingressgateway->svc:productpage"]["rps"] > 0
    assert snapshot.data["stale_sources"] == []
    last_poll = redis_poll_state().load("poll_stats")
    assert last_poll is not None
