"""JSON API and pages, over snapshots stored from the recorded mesh."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
from django.utils import timezone

from dashboard.sources.envoy import RecordedEnvoyAdmin
from dashboard.sources.registry import StaticRegistry
from dashboard.topology.appenders import AppenderContext, run_appenders
from dashboard.topology.layout import assign_positions
from dashboard.topology.models import TopologySnapshot
from dashboard.topology.snapshots import history, store_snapshot
from dashboard.topology.trafficmap import build_traffic_map
from tests.dashboard.conftest import load_fixture
from tests.dashboard.helpers import registry_of, samples_of, status_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(bookinfo_recording):
    """Three snapshots, one second apart, ending now."""
    polls = [samples_of(p) for p in bookinfo_recording["polls"]]
    registry = registry_of(bookinfo_recording)
    now = timezone.now().timestamp()
    snapshots = []
    for i, (previous, current) in enumerate(
        [(polls[0], polls[1]), (polls[1], polls[2]), (polls[0], polls[1])]
    ):
        traffic_map = build_traffic_map(registry, current, previous, taken_at=now - 2 + i)
        run_appenders(traffic_map, AppenderContext(registry=registry))
        assign_positions(traffic_map)
        snapshots.append(store_snapshot(traffic_map, retention_minutes=60))
    return snapshots


def test_topology_is_503_before_the_first_poll(viewer_client):
    response = viewer_client.get("/api/topology")
    assert response.status_code == 503 and "poller" in response.json()["error"]


def test_topology_returns_the_latest_map_and_figure(viewer_client, stored):
    body = viewer_client.get("/api/topology").json()
    assert body["taken_at"] == stored[-1].taken_at.isoformat()
    edges = {e["id"]: e for e in body["map"]["edges"]}
    assert edges["gw:istio-ingressgateway->svc:productpage"]["rps"] == pytest.approx(5, rel=0.2)
    assert body["figure"]["data"][-1]["meta"]["role"] == "nodes"


def test_topology_says_how_old_its_snapshot_is(viewer_client, stored):
    TopologySnapshot.objects.all().update(taken_at=timezone.now() - dt.timedelta(seconds=42))
    body = viewer_client.get("/api/topology").json()
    generated = dt.datetime.fromisoformat(body["generated_at"])
    taken = dt.datetime.fromisoformat(body["taken_at"])
    assert body["snapshot_age_s"] == pytest.approx((generated - taken).total_seconds(), abs=0.01)
    assert 42 <= body["snapshot_age_s"] < 60


def test_history(viewer_client, stored):
    body = viewer_client.get("/api/topology/history?minutes=5").json()
    assert body["minutes"] == 5
    assert [s["taken_at"] for s in body["snapshots"]] == [s.taken_at.isoformat() for s in stored]
    assert "figure" not in body["snapshots"][0]
    with_figures = viewer_client.get("/api/topology/history?minutes=5&figures=true&max_points=2").json()
    assert len(with_figures["snapshots"]) == 2 and "figure" in with_figures["snapshots"][0]
    # Thinning keeps the newest snapshot.
    assert with_figures["snapshots"][-1]["taken_at"] == stored[-1].taken_at.isoformat()


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("minutes=abc", "minutes: expected an integer"),
        ("minutes=0", "minutes: must be between 1 and 60"),
        ("minutes=100000", "minutes: must be between"),
        ("max_points=-1", "max_points: must be between"),
        ("figures=perhaps", "figures: expected true/false"),
    ],
)
def test_history_rejects_bad_parameters(viewer_client, query, fragment):
    response = viewer_client.get(f"/api/topology/history?{query}")
    assert response.status_code == 400 and fragment in response.json()["error"]


def test_service_metrics(viewer_client, stored):
    body = viewer_client.get("/api/services/reviews/metrics?minutes=5").json()
    assert body["service"] == "reviews" and body["versions"] == ["v1", "v2", "v3"]
    assert len(body["timestamps"]) == 3
    assert body["workloads"]["v2"] == "wl:reviews-v2"
    inbound = body["inbound"]
    assert inbound["all"]["rps"][0] == pytest.approx(5, rel=0.2)
    assert sum(inbound[v]["rps"][0] for v in ("v1", "v2", "v3")) == pytest.approx(
        inbound["all"]["rps"][0], abs=0.1
    )
    assert set(inbound["v2"]) == {"rps", "error_pct", "error_5xx_pct", "p50_ms", "p95_ms", "p99_ms"}
    # reviews-v1 calls nobody; v2 and v3 call ratings.
    assert body["outbound"]["v1"]["rps"] == [None, None, None]
    assert body["outbound"]["v2"]["rps"][0] > 0


def test_service_metrics_errors(viewer_client, stored):
    assert viewer_client.get("/api/services/nope/metrics").status_code == 404
    assert viewer_client.get("/api/services/nope/metrics").json()["error"] == "unknown service 'nope'"
    response = viewer_client.get("/api/services/reviews/metrics?minutes=x")
    assert response.status_code == 400 and "minutes" in response.json()["error"]
    for bad in ("window=x", "window=-1", "window=301"):
        response = viewer_client.get(f"/api/services/reviews/metrics?{bad}")
        assert response.status_code == 400 and "window" in response.json()["error"], bad


def test_service_metrics_state_their_rate_window(viewer_client, stored):
    assert viewer_client.get("/api/services/reviews/metrics").json()["window_s"] == 10
    per_poll = viewer_client.get("/api/services/reviews/metrics?window=0").json()
    assert per_poll["window_s"] is None


def test_workload_metrics(viewer_client, stored):
    body = viewer_client.get("/api/workloads/reviews-v2/metrics?minutes=5").json()
    assert body["inbound"]["rps"][0] > 0
    assert list(body["outbound"]) == ["ratings"]
    assert viewer_client.get("/api/workloads/nope/metrics").status_code == 404


def test_retention_drops_old_snapshots(bookinfo_recording):
    registry = registry_of(bookinfo_recording)
    polls = [samples_of(p) for p in bookinfo_recording["polls"]]
    now = timezone.now().timestamp()
    store_snapshot(build_traffic_map(registry, polls[1], polls[0], taken_at=now - 3600), retention_minutes=10)
    store_snapshot(build_traffic_map(registry, polls[1], polls[0], taken_at=now - 300), retention_minutes=10)
    store_snapshot(build_traffic_map(registry, polls[1], polls[0], taken_at=now), retention_minutes=10)
    assert TopologySnapshot.objects.count() == 2
    assert len(history(minutes=2, max_points=100)) == 1
    assert all(
        s.taken_at >= timezone.now() - dt.timedelta(minutes=11) for s in TopologySnapshot.objects.all()
    )


def test_pages_render(viewer_client, stored):
    page = viewer_client.get("/")
    assert page.status_code == 200
    assert b"plotly/plotly.min.js" in page.content and b'id="initial-topology"' in page.content
    listing = viewer_client.get("/services/").content.decode()
    assert "/services/reviews/" in listing and "/services/workloads/reviews-v2/" in listing
    assert viewer_client.get("/services/reviews/").status_code == 200
    assert viewer_client.get("/services/workloads/reviews-v2/").status_code == 200
    assert viewer_client.get("/services/nope/").status_code == 404
    assert viewer_client.get("/services/workloads/nope/").status_code == 404


def test_service_and_workload_pages_link_to_their_slowest_and_erroring_traces(
    viewer_client, stored, monkeypatch, bookinfo_recording
):
    from dashboard.sources import configured

    registry = registry_of(bookinfo_recording)
    monkeypatch.setattr(configured, "registry_source", lambda: StaticRegistry(registry, ()))
    service = viewer_client.get("/services/reviews/").content.decode()
    assert 'href="/traces/?service=reviews.default&amp;sort=longest"' in service
    assert 'href="/traces/?service=reviews.default&amp;tags=error&amp;sort=recent"' in service
    # The workload's links narrow to its own sidecar's spans (its node id) when the registry names it.
    workload = viewer_client.get("/services/workloads/reviews-v2/").content.decode()
    node_id = quote(registry.workload("reviews-v2").node_id, safe="")
    assert f"/traces/?service=reviews.default&amp;tags=node_id%3D{node_id}&amp;sort=longest" in workload


def test_sidecar_page_shows_clusters_listeners_xds_and_config(viewer_client, monkeypatch, bookinfo_recording):
    from dashboard.sources import configured

    admin = load_fixture("standalone_admin.json")
    registry = registry_of(bookinfo_recording)
    status = list(status_of(bookinfo_recording))
    reviews = next(s for s in status if s.name == "reviews-v2")
    from dataclasses import replace

    status[status.index(reviews)] = replace(
        reviews, nack={"version": "7", "message": "route: unknown cluster", "at": "now"}
    )
    address = registry.workload("reviews-v2").admin_address
    monkeypatch.setattr(configured, "registry_source", lambda: StaticRegistry(registry, tuple(status)))
    monkeypatch.setattr(configured, "envoy_admin", lambda: RecordedEnvoyAdmin({address: admin}))
    html = viewer_client.get("/services/sidecars/reviews-v2/").content.decode()
    assert "outbound|9080|v2|reviews.default.svc.cluster.local" in html
    assert "127.0.0.1:25002" in html  # a host of that cluster
    assert "route: unknown cluster" in html and "health-failing" in html
    # Once a later config is ACKed the rejection stays visible, as history.
    status[status.index(next(s for s in status if s.name == "reviews-v2"))] = replace(
        reviews, last_nack={"version": "7", "message": "route: unknown cluster", "at": "now"}
    )
    resolved = viewer_client.get("/services/sidecars/reviews-v2/").content.decode()
    assert "resolved by a later config" in resolved and "route: unknown cluster" in resolved
    assert "ClustersConfigDump" in html or "config-section" in html
    node_id = registry.workload("reviews-v2").node_id
    assert (
        f"/traces/?service=reviews.default&amp;tags=node_id%3D{quote(node_id, safe='')}&amp;sort=longest"
        in html
    )
    # An unreachable sidecar still renders, with the failure shown as stale data.
    monkeypatch.setattr(configured, "envoy_admin", lambda: RecordedEnvoyAdmin({}))
    html = viewer_client.get("/services/sidecars/reviews-v2/").content.decode()
    assert "stale:" in html and "unreachable" in html
    assert viewer_client.get("/services/sidecars/nope/").status_code == 404


def test_an_unknown_api_path_answers_the_json_error_body(viewer_client):
    # Found by the OpenAPI fuzz suite: /api/routes/revisions/-1 matched no URL and got an HTML page.
    response = viewer_client.get("/api/routes/revisions/-1")
    assert response.status_code == 404
    assert response.json() == {"error": "no API at /api/routes/revisions/-1", "errors": []}
    assert viewer_client.get("/no-such-page/").status_code == 404
