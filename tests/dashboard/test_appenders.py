"""Appenders: health thresholds, idle edges/nodes, sidecar state (up/restarting/NACK), mTLS."""

from __future__ import annotations

import pytest

from dashboard.sources.registry import NodeStatus, ProcessState
from dashboard.topology.appenders import AppenderContext, HealthThresholds, run_appenders
from dashboard.topology.appenders.dead_nodes import DeadNodeAppender
from dashboard.topology.appenders.health import HealthAppender, edge_health
from dashboard.topology.appenders.security import SecurityAppender
from dashboard.topology.appenders.sidecar_state import SidecarStateAppender
from dashboard.topology.trafficmap import Edge, build_traffic_map
from tests.dashboard.helpers import registry_of, samples_of, status_of


@pytest.fixture
def traffic_map(bookinfo_recording):
    polls = [samples_of(p) for p in bookinfo_recording["polls"]]
    return build_traffic_map(registry_of(bookinfo_recording), polls[1], polls[0], taken_at=1.0)


@pytest.fixture
def context(bookinfo_recording):
    return AppenderContext(registry=registry_of(bookinfo_recording), status=status_of(bookinfo_recording))


@pytest.mark.parametrize(
    ("edge", "expected"),
    [
        (Edge("a", "b", rps=None), "unknown"),
        (Edge("a", "b", rps=0.0, idle=True), "idle"),
        (Edge("a", "b", rps=5.0), "healthy"),
        (Edge("a", "b", rps=5.0, error_5xx_pct=0.5), "healthy"),
        (Edge("a", "b", rps=5.0, error_5xx_pct=1.0), "degraded"),
        (Edge("a", "b", rps=5.0, error_4xx_pct=25.0), "degraded"),
        (Edge("a", "b", rps=5.0, timeouts_per_s=0.2), "degraded"),
        (Edge("a", "b", rps=5.0, error_5xx_pct=20.0), "failing"),
        (Edge("a", "b", rps=5.0, error_5xx_pct=5.0, connect_failures_per_s=1.0), "failing"),
    ],
)
def test_edge_health_thresholds(edge, expected):
    assert edge_health(edge, degraded_pct=1.0, failing_pct=20.0) == expected


def test_healthy_mesh_is_healthy_everywhere(traffic_map, context):
    run_appenders(traffic_map, context)
    assert {e.health for e in traffic_map.edges.values()} == {"healthy"}
    assert traffic_map.nodes["wl:ratings-v1"].health == "healthy"
    assert traffic_map.nodes["wl:ratings-v1"].sidecar["state"] == "up"
    assert traffic_map.nodes["wl:ratings-v1"].sidecar["app"] == "up"


def test_failing_edge_makes_its_target_failing(traffic_map, context):
    edge = traffic_map.edges["svc:ratings->wl:ratings-v1"]
    edge.rps_5xx, edge.error_5xx_pct = edge.rps, 100.0
    run_appenders(traffic_map, context)
    assert edge.health == "failing"
    assert traffic_map.nodes["wl:ratings-v1"].health == "failing"
    assert traffic_map.nodes["wl:reviews-v1"].health == "healthy"


def test_thresholds_come_from_the_context(traffic_map, context):
    edge = traffic_map.edges["svc:ratings->wl:ratings-v1"]
    edge.error_5xx_pct = 5.0
    context.thresholds = HealthThresholds(degraded_pct=10.0, failing_pct=50.0)
    run_appenders(traffic_map, context)
    assert edge.health == "healthy"


def test_idle_edges_and_nodes(traffic_map, context):
    for edge_id in ("svc:reviews->wl:reviews-v2", "wl:reviews-v2->svc:ratings"):
        traffic_map.edges[edge_id].rps = 0.0
    DeadNodeAppender().apply(traffic_map, context)
    HealthAppender().apply(traffic_map, context)
    assert traffic_map.edges["svc:reviews->wl:reviews-v2"].idle
    assert traffic_map.edges["svc:reviews->wl:reviews-v2"].health == "idle"
    assert traffic_map.nodes["wl:reviews-v2"].idle
    assert traffic_map.nodes["wl:reviews-v2"].health == "idle"
    assert not traffic_map.nodes["wl:reviews-v3"].idle


def _status(name: str, **changes) -> NodeStatus:
    return NodeStatus(
        node_id=name,
        name=name,
        kind="sidecar",
        connected=True,
        config_version="2",
        acked_version="2",
        **changes,
    )


def test_sidecar_state_restarting_and_nack(traffic_map, context):
    context.status = (
        _status("reviews-v2", process=ProcessState(state="restarting", restarts=3)),
        _status("details-v1", nack={"version": "3", "message": "bad route", "at": 1.0}),
        _status("ratings-v1", process=ProcessState(state="stopped")),
    )
    run_appenders(traffic_map, context)
    assert traffic_map.nodes["wl:reviews-v2"].sidecar["state"] == "restarting"
    assert traffic_map.nodes["wl:reviews-v2"].sidecar["node_id"] == context.status[0].node_id
    assert traffic_map.nodes["wl:reviews-v2"].health == "degraded"
    details = traffic_map.nodes["wl:details-v1"]
    assert "nack" in details.flags and details.sidecar["nack"]["message"] == "bad route"
    assert details.health == "degraded"
    assert traffic_map.nodes["wl:ratings-v1"].health == "failing"
    assert traffic_map.nodes["wl:productpage-v1"].sidecar["state"] == "unknown"


def test_unreachable_sidecar_is_failing(traffic_map, context):
    traffic_map.nodes["wl:details-v1"].stale = True
    SidecarStateAppender().apply(traffic_map, context)
    assert traffic_map.nodes["wl:details-v1"].sidecar["state"] == "unreachable"
    assert traffic_map.nodes["wl:details-v1"].health == "failing"


def test_security_appender_reports_no_mtls_without_tls_clusters(traffic_map, context):
    traffic_map.edges["svc:ratings->wl:ratings-v1"].mtls = True
    SecurityAppender().apply(traffic_map, context)
    assert not any(e.mtls for e in traffic_map.edges.values())


def test_security_appender_marks_edges_whose_caller_cluster_originates_tls(traffic_map, context):
    context.tls_clusters = {
        "productpage-v1": {"outbound|9080||reviews.default.svc.cluster.local"},
        "reviews-v2": {"outbound|9080||ratings.default.svc.cluster.local"},
    }
    run_appenders(traffic_map, context)
    edges = traffic_map.edges
    assert edges["wl:productpage-v1->svc:reviews"].mtls
    assert not edges["wl:productpage-v1->svc:details"].mtls
    # reviews' only caller uses mTLS, so its inbound edges do; ratings has one plain-text caller.
    assert all(edges[f"svc:reviews->wl:reviews-v{i}"].mtls for i in (1, 2, 3))
    assert edges["wl:reviews-v2->svc:ratings"].mtls and not edges["wl:reviews-v3->svc:ratings"].mtls
    assert not edges["svc:ratings->wl:ratings-v1"].mtls
