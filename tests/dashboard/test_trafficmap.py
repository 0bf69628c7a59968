"""TrafficMap from Envoy stats recorded on the real local mesh (fixtures/record_mesh.py).

The recording: BookInfo under the built-in generator at 5 requests/s; polls[0] and polls[1] read
every Envoy about 2 s apart; before polls[2] the reviews-v2 sidecar's Envoy was SIGKILLed and
restarted by the supervisor (its counters start again from 0).

Tolerance for rates: a 2 s window at 5 rps holds ~10 requests, so one request more or less
(a request in flight at a read) moves a rate by 0.5 rps = 10%; the generator's own pacing jitter
adds a little. Rates are asserted within 20% of the generator's rate, and relations that hold
exactly in BookInfo (productpage calls details and reviews once per page) within 0.1 rps.
"""

from __future__ import annotations

import copy

import pytest

from dashboard.topology.envoystats import NodeSample
from dashboard.topology.trafficmap import UNKNOWN_ID, Edge, TrafficMap, build_traffic_map, set_rates
from tests.dashboard.helpers import registry_of, samples_of

GW = "gw:istio-ingressgateway"


@pytest.fixture
def polls(bookinfo_recording):
    return [samples_of(poll) for poll in bookinfo_recording["polls"]]


@pytest.fixture
def registry(bookinfo_recording):
    return registry_of(bookinfo_recording)


def build(registry, current, previous, **kwargs) -> TrafficMap:
    return build_traffic_map(registry, current=current, previous=previous, taken_at=1000.0, **kwargs)


def test_nodes_cover_gateway_services_and_versioned_workloads(registry, polls):
    traffic_map = build(registry, polls[1], polls[0])
    kinds = {node_id: node.kind for node_id, node in traffic_map.nodes.items()}
    assert kinds[GW] == "gateway"
    for service in ("productpage", "details", "reviews", "ratings"):
        assert kinds[f"svc:{service}"] == "service"
    for workload in ("productpage-v1", "details-v1", "reviews-v1", "reviews-v2", "reviews-v3", "ratings-v1"):
        assert kinds[f"wl:{workload}"] == "workload"
    assert traffic_map.nodes["wl:reviews-v2"].version == "v2"


def test_edge_rates_follow_the_generator(bookinfo_recording, registry, polls):
    rate = bookinfo_recording["traffic_t0"]["rate"]
    edges = build(registry, polls[1], polls[0]).edges
    gateway = edges[f"{GW}->svc:productpage"].rps
    assert gateway == pytest.approx(rate, rel=0.2)
    for edge_id in (
        "svc:productpage->wl:productpage-v1",
        "wl:productpage-v1->svc:details",
        "wl:productpage-v1->svc:reviews",
        "svc:details->wl:details-v1",
    ):
        assert edges[edge_id].rps == pytest.approx(rate, rel=0.2), edge_id
    # Every page calls details and reviews once.
    assert edges["wl:productpage-v1->svc:details"].rps == pytest.approx(
        edges["wl:productpage-v1->svc:reviews"].rps, abs=0.1
    )
    # reviews v1/v2/v3 share the load (round robin); v2 and v3 call ratings, v1 does not.
    versions = [edges[f"svc:reviews->wl:reviews-v{i}"].rps for i in (1, 2, 3)]
    assert sum(versions) == pytest.approx(edges["wl:productpage-v1->svc:reviews"].rps, abs=0.1)
    assert all(v > 0 for v in versions)
    to_ratings = edges["wl:reviews-v2->svc:ratings"].rps + edges["wl:reviews-v3->svc:ratings"].rps
    assert edges["svc:ratings->wl:ratings-v1"].rps == pytest.approx(to_ratings, abs=0.1)
    assert not any(e.source == "wl:reviews-v1" for e in edges.values())


def test_latency_quantiles_and_error_rates_are_set(registry, polls):
    edge = build(registry, polls[1], polls[0]).edges[f"{GW}->svc:productpage"]
    assert edge.p50_ms is not None and edge.p95_ms is not None and edge.p99_ms is not None
    assert 0 <= edge.p50_ms <= edge.p95_ms <= edge.p99_ms
    assert edge.error_5xx_pct == 0.0
    assert edge.rps_2xx == pytest.approx(edge.rps, rel=0.2)


def test_sidecar_restart_resets_counters_without_negative_or_huge_rates(bookinfo_recording, registry, polls):
    traffic_map = build(registry, polls[2], polls[1])
    assert "counters_reset" in traffic_map.nodes["wl:reviews-v2"].flags
    assert "counters_reset" not in traffic_map.nodes["wl:reviews-v1"].flags
    rate = bookinfo_recording["traffic_t0"]["rate"]
    edge = traffic_map.edges["svc:reviews->wl:reviews-v2"]
    # The restarted Envoy's counters fell from dozens to a handful; the new values are the
    # increments, so the rate stays within what the generator can produce.
    assert (
        polls[2]["reviews-v2"].clusters["inbound|9080||"].counters["total"]
        < polls[1]["reviews-v2"].clusters["inbound|9080||"].counters["total"]
    )
    assert 0 < edge.rps <= rate
    assert all(e.rps is not None and e.rps >= 0 for e in traffic_map.edges.values())


def test_answers_without_upstream_requests_count_as_requests():
    # The app behind a sidecar is down: every request gets a local 503 after the upstream connect
    # fails, and upstream_rq_total does not move (as read from Envoy 1.40 with the app stopped).
    edge = Edge("svc:ratings", "wl:ratings-v1")
    set_rates(edge, {"5xx": 16, "connect_fail": 16}, seconds=2.0)
    assert (edge.rps, edge.rps_5xx, edge.error_5xx_pct) == (8.0, 8.0, 100.0)
    served = Edge("svc:ratings", "wl:ratings-v1")
    set_rates(served, {"total": 10, "2xx": 9, "5xx": 1}, seconds=2.0)
    assert (served.rps, served.error_5xx_pct) == (5.0, 10.0)


def test_first_poll_has_edges_but_no_rates_yet(registry, polls):
    traffic_map = build(registry, polls[0], {})
    edge = traffic_map.edges[f"{GW}->svc:productpage"]
    assert edge.rps is None
    assert traffic_map.interval_s is None


def test_an_edge_without_new_requests_is_idle_with_zero_rate(registry, polls):
    later = copy.deepcopy(polls[1])
    for sample in later.values():
        sample.taken_at += 1.0
    # Counters did not move for one second anywhere: every edge is still there, at 0 requests/s.
    traffic_map = build(registry, later, polls[1])
    assert traffic_map.edges
    assert all(edge.rps == 0 for edge in traffic_map.edges.values())


def test_unreachable_sidecar_is_stale_and_keeps_its_last_edges(registry, polls):
    first = build(registry, polls[1], polls[0])
    current = {k: v for k, v in polls[2].items() if k != "productpage-v1"}
    traffic_map = build(registry, current, polls[1], unreachable={"productpage-v1"}, carry_over=first)
    assert traffic_map.nodes["wl:productpage-v1"].stale
    carried = traffic_map.edges["wl:productpage-v1->svc:reviews"]
    assert carried.stale
    assert carried.rps == first.edges["wl:productpage-v1->svc:reviews"].rps
    assert not traffic_map.edges[f"{GW}->svc:productpage"].stale


def test_inbound_traffic_no_known_caller_sent_for_two_polls_comes_from_unknown(registry, polls):
    # Drop the gateway's Envoy from every read: productpage still receives ~5 rps from somewhere.
    without_gateway = [{k: v for k, v in poll.items() if k != "istio-ingressgateway"} for poll in polls]
    first = build(registry, without_gateway[1], without_gateway[0])
    # One poll's deficit may be the skew between reads of different Envoys: no unknown caller yet.
    assert UNKNOWN_ID not in first.nodes
    assert first.unexplained_rps["svc:productpage"] == pytest.approx(5, rel=0.2)
    carried = TrafficMap.from_dict(first.to_dict())
    second = build(registry, without_gateway[2], without_gateway[1], carry_over=carried)
    assert second.nodes[UNKNOWN_ID].kind == "unknown"
    assert second.edges[f"{UNKNOWN_ID}->svc:productpage"].rps == pytest.approx(5, rel=0.2)
    with_gateway = build(registry, polls[2], polls[1], carry_over=carried)
    assert UNKNOWN_ID not in with_gateway.nodes
    assert "svc:productpage" not in with_gateway.unexplained_rps


def test_a_deficit_in_one_poll_only_is_read_skew_not_an_unknown_caller(registry, polls):
    # The gateway's read of poll 1 lags: productpage counted requests its caller counts next time.
    lagging = copy.deepcopy(polls[1])
    gateway = lagging["istio-ingressgateway"]
    counters = gateway.clusters["outbound|9080||productpage.default.svc.cluster.local"].counters
    counters["total"] -= 4
    counters["2xx"] -= 4
    skewed = build(registry, lagging, polls[0])
    assert "svc:productpage" in skewed.unexplained_rps
    assert UNKNOWN_ID not in skewed.nodes
    caught_up = build(registry, polls[2], lagging, carry_over=TrafficMap.from_dict(skewed.to_dict()))
    assert UNKNOWN_ID not in caught_up.nodes


def test_an_unreachable_caller_is_not_mistaken_for_an_unknown_one(registry, polls):
    first = build(registry, polls[1], polls[0])
    current = {k: v for k, v in polls[2].items() if k != "istio-ingressgateway"}
    # Even after a poll whose deficit qualified, the stale edge carried over explains the load.
    traffic_map = build(
        registry,
        current,
        polls[1],
        unreachable={"istio-ingressgateway"},
        carry_over=first,
        unexplained_before={"svc:productpage": 5.0},
    )
    assert traffic_map.edges[f"{GW}->svc:productpage"].stale
    assert UNKNOWN_ID not in traffic_map.nodes


def test_outbound_to_a_host_outside_the_registry_becomes_an_external_service(registry):
    stats = {"istio-ingressgateway": NodeSample(taken_at=2.0, clusters={})}
    from dashboard.topology.envoystats import ClusterSample

    name = "outbound|443||api.example.com"
    current = {
        "productpage-v1": NodeSample(taken_at=2.0, clusters={name: ClusterSample(counters={"total": 10})}),
        **stats,
    }
    previous = {
        "productpage-v1": NodeSample(taken_at=1.0, clusters={name: ClusterSample(counters={"total": 4})})
    }
    traffic_map = build(registry, current, previous)
    assert traffic_map.nodes["svc:api.example.com"].flags == ["external"]
    assert traffic_map.edges["wl:productpage-v1->svc:api.example.com"].rps == 6.0


def test_subsets_are_summed_into_the_service_edge():
    from dashboard.sources.registry import MeshRegistry, ServiceInfo, WorkloadInfo
    from tests.dashboard.test_envoystats import sample

    registry = MeshRegistry(
        services=(ServiceInfo("reviews", fqdn="reviews.default.svc.cluster.local"),),
        workloads=(WorkloadInfo("caller-v1", "caller", "caller", "v1", admin_port=1),),
    )
    t0, t1 = sample("standalone_t0.json"), sample("standalone_t1.json")
    edges = build(registry, {"caller-v1": t1}, {"caller-v1": t0}).edges
    edge = edges["wl:caller-v1->svc:reviews"]
    seconds = t1.taken_at - t0.taken_at
    # 22 requests (20 x 2xx, 2 x 5xx) on the default subset, none on v2, in `seconds`.
    assert edge.rps == pytest.approx(22 / seconds, rel=1e-3)
    assert edge.error_5xx_pct == pytest.approx(100 * 2 / 22, rel=1e-3)
    assert edge.subsets == ["v2"]


def test_map_round_trips_through_json(registry, polls):
    traffic_map = build(registry, polls[1], polls[0])
    again = TrafficMap.from_dict(traffic_map.to_dict())
    assert again.to_dict() == traffic_map.to_dict()
