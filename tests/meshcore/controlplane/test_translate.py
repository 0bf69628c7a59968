"""translate(): Istio resources -> Envoy resources, checked on the generated protobufs."""

from __future__ import annotations

import json

import pytest
from envoy.extensions.filters.http.fault.v3 import fault_pb2

from meshcore.bookinfo.topology import bookinfo_registry
from meshcore.controlplane.builders.listeners import TracingSettings
from meshcore.controlplane.builders.proto import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE
from meshcore.controlplane.snapshot import Snapshot
from meshcore.controlplane.translate import translate
from meshcore.model.yaml_io import parse_documents
from tests.support.samples import reviews_weights, sample

REGISTRY = bookinfo_registry(base_port=16000)
PRODUCTPAGE = REGISTRY.workload("productpage-v1")
REVIEWS_FQDN = "reviews.default.svc.cluster.local"


def build(*documents: str):
    resources = [r for doc in documents for r in parse_documents(doc)]
    return translate(REGISTRY, resources, TracingSettings())


def reviews_routes(nodes):
    config = nodes[PRODUCTPAGE.node_id][ROUTE_TYPE]["9080"]
    host = next(h for h in config.virtual_hosts if h.name == f"{REVIEWS_FQDN}:9080")
    return host.routes


def test_default_mesh_has_one_cluster_per_service_and_round_robin_routes():
    nodes = build()
    assert set(nodes) == {w.node_id for w in REGISTRY.workloads} | {REGISTRY.gateway.node_id}
    clusters = nodes[PRODUCTPAGE.node_id][CLUSTER_TYPE]
    assert f"outbound|9080||{REVIEWS_FQDN}" in clusters
    assert "inbound|9080||" in clusters
    endpoints = nodes[PRODUCTPAGE.node_id][ENDPOINT_TYPE][f"outbound|9080||{REVIEWS_FQDN}"]
    ports = sorted(e.endpoint.address.socket_address.port_value for e in endpoints.endpoints[0].lb_endpoints)
    assert ports == sorted(w.inbound_port for w in REGISTRY.workloads if w.service == "reviews")
    (route,) = reviews_routes(nodes)
    assert route.route.cluster == f"outbound|9080||{REVIEWS_FQDN}"
    assert route.route.retry_policy.num_retries.value == 2  # Istio's default
    assert route.route.timeout.ToTimedelta().total_seconds() == 0  # Istio disables Envoy's 15 s


def test_destination_rule_subsets_become_clusters_with_matching_endpoints():
    nodes = build(sample("destination-rule-all"))
    endpoints = nodes[PRODUCTPAGE.node_id][ENDPOINT_TYPE]
    v2 = endpoints[f"outbound|9080|v2|{REVIEWS_FQDN}"]
    assert [e.endpoint.address.socket_address.port_value for e in v2.endpoints[0].lb_endpoints] == [
        REGISTRY.workload("reviews-v2").inbound_port
    ]
    # Subsets without workloads (ratings v2-mysql) exist with no endpoints, as in Istio.
    empty = endpoints["outbound|9080|v2-mysql|ratings.default.svc.cluster.local"]
    assert not empty.endpoints[0].lb_endpoints


def test_weights_header_matches_and_faults_are_translated():
    nodes = build(sample("destination-rule-all"), reviews_weights(v1=80, v3=20))
    (route,) = reviews_routes(nodes)
    weighted = {(c.name, c.weight.value) for c in route.route.weighted_clusters.clusters}
    assert weighted == {(f"outbound|9080|v1|{REVIEWS_FQDN}", 80), (f"outbound|9080|v3|{REVIEWS_FQDN}", 20)}

    nodes = build(sample("destination-rule-all"), sample("virtual-service-reviews-test-v2"))
    jason, rest = reviews_routes(nodes)
    (header,) = jason.match.headers
    assert (header.name, header.string_match.exact) == ("end-user", "jason")
    assert jason.route.cluster.startswith("outbound|9080|v2|")
    assert rest.match.prefix == "/" and rest.route.cluster.startswith("outbound|9080|v1|")

    nodes = build(sample("destination-rule-all"), sample("virtual-service-ratings-test-abort"))
    config = nodes[PRODUCTPAGE.node_id][ROUTE_TYPE]["9080"]
    ratings = next(h for h in config.virtual_hosts if h.name.startswith("ratings."))
    fault = fault_pb2.HTTPFault()
    assert ratings.routes[0].typed_per_filter_config["envoy.filters.http.fault"].Unpack(fault)
    assert fault.abort.http_status == 500
    assert fault.abort.percentage.numerator == 1_000_000  # 100% in Istio's per-million encoding


def test_timeout_retries_and_mirror():
    document = reviews_weights(v1=100).replace(
        "  - route:\n",
        "  - timeout: 1.5s\n    retries: {attempts: 3, perTryTimeout: 0.5s, retryOn: 'gateway-error,503'}\n"
        "    mirror: {host: reviews, subset: v3}\n    mirrorPercentage: {value: 25}\n    route:\n",
    )
    nodes = build(sample("destination-rule-all"), document)
    (route,) = reviews_routes(nodes)
    action = route.route
    assert action.timeout.ToTimedelta().total_seconds() == 1.5
    assert action.retry_policy.num_retries.value == 3
    assert action.retry_policy.per_try_timeout.ToTimedelta().total_seconds() == 0.5
    assert set(action.retry_policy.retry_on.split(",")) == {"gateway-error", "retriable-status-codes"}
    assert list(action.retry_policy.retriable_status_codes) == [503]
    (mirror,) = action.request_mirror_policies
    assert mirror.cluster == f"outbound|9080|v3|{REVIEWS_FQDN}"
    assert mirror.runtime_fraction.default_value.numerator == 250_000


def test_traffic_policy_sets_circuit_breakers_and_outlier_detection():
    rule = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100}
    loadBalancer: {simple: LEAST_REQUEST}
"""
    cluster = build(rule)[PRODUCTPAGE.node_id][CLUSTER_TYPE][f"outbound|9080||{REVIEWS_FQDN}"]
    (threshold,) = cluster.circuit_breakers.thresholds
    assert threshold.max_connections.value == 1 and threshold.max_pending_requests.value == 1
    assert cluster.outlier_detection.consecutive_5xx.value == 1
    assert cluster.outlier_detection.base_ejection_time.ToTimedelta().total_seconds() == 180
    assert cluster.lb_policy == cluster.LEAST_REQUEST


def test_sidecar_listeners_report_client_and_server_spans_to_the_tracer():
    listeners = build()[PRODUCTPAGE.node_id][LISTENER_TYPE]
    outbound = listeners["outbound_0.0.0.0_9080"]
    inbound = listeners["virtualInbound"]
    assert outbound.address.socket_address.port_value == PRODUCTPAGE.outbound_port
    assert inbound.address.socket_address.port_value == PRODUCTPAGE.inbound_port
    assert (outbound.traffic_direction, inbound.traffic_direction) == (2, 1)  # OUTBOUND, INBOUND


def test_gateway_bound_virtual_service_replaces_the_default_gateway_route():
    nodes = build(sample("bookinfo-gateway"))
    config = nodes[REGISTRY.gateway.node_id][ROUTE_TYPE]["http.8080"]
    paths = {r.match.path or r.match.prefix for r in config.virtual_hosts[0].routes}
    assert {"/productpage", "/login", "/logout", "/static", "/api/v1/products"} <= paths


@pytest.mark.parametrize("documents", [(), ("destination-rule-all", "virtual-service-reviews-80-20")])
def test_every_generated_snapshot_is_consistent(documents):
    nodes = build(*(sample(d) for d in documents))
    for node_resources in nodes.values():
        assert Snapshot.build(1, node_resources).consistency_errors() == []


def hcm_of(nodes, node_id: str, listener: str):
    from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2

    manager = http_connection_manager_pb2.HttpConnectionManager()
    nodes[node_id][LISTENER_TYPE][listener].filter_chains[0].filters[0].typed_config.Unpack(manager)
    return manager


def test_spans_record_end_user_and_every_header_a_route_matches_on():
    default_tags = {
        t.tag for t in hcm_of(build(), PRODUCTPAGE.node_id, "outbound_0.0.0.0_9080").tracing.custom_tags
    }
    assert default_tags == {"http.request.header.end-user", "http.request.header.user-agent"}
    matching = (
        reviews_weights(v1=100).replace(
            "  - route:\n", "  - match:\n    - headers:\n        x-canary: {exact: 'yes'}\n    route:\n"
        )
        + "  - route:\n    - destination: {host: reviews, subset: v1}\n"
    )
    manager = hcm_of(
        build(sample("destination-rule-all"), matching), REGISTRY.gateway.node_id, "0.0.0.0_8080"
    )
    tags = {t.tag: t.request_header.name for t in manager.tracing.custom_tags}
    assert tags["http.request.header.x-canary"] == "x-canary"


def test_consistent_hash_makes_a_ring_hash_cluster_and_a_route_hash_policy():
    policy = {"loadBalancer": {"consistentHash": {"httpHeaderName": "end-user"}}}
    rule = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "reviews"},
        "spec": {"host": "reviews", "trafficPolicy": policy},
    }
    nodes = build(json.dumps(rule))
    cluster = nodes[PRODUCTPAGE.node_id][CLUSTER_TYPE][f"outbound|9080||{REVIEWS_FQDN}"]
    assert cluster.lb_policy == cluster.RING_HASH
    [route] = reviews_routes(nodes)
    assert [p.header.header_name for p in route.route.hash_policy] == ["end-user"]


def route_tags(route) -> dict[str, str]:
    return {t.tag: t.literal.value for t in route.tracing.custom_tags}


def test_every_virtual_service_route_tags_its_spans_with_the_rule_that_built_it():
    nodes = build(sample("destination-rule-all"), sample("virtual-service-ratings-test-delay"))
    config = nodes[PRODUCTPAGE.node_id][ROUTE_TYPE]["9080"]
    ratings = next(h for h in config.virtual_hosts if h.name.startswith("ratings."))
    jason, rest = ratings.routes
    assert route_tags(jason) == {
        "meshscope.route.namespace": "default",
        "meshscope.route.name": "ratings",
        "meshscope.route.rule": "0",
    }
    assert route_tags(rest)["meshscope.route.rule"] == "1"
    # The route's tracing block replaces the HCM's sampling: it repeats the mesh's 100 %.
    assert (jason.tracing.random_sampling.numerator, jason.tracing.random_sampling.denominator) == (
        1_000_000,
        2,  # MILLION
    )
    # A service without a VirtualService keeps its default route, which names no rule.
    (default,) = reviews_routes(nodes)
    assert not default.HasField("tracing")


def test_each_match_clause_of_a_rule_carries_the_same_rule_index():
    nodes = build(sample("bookinfo-gateway"))
    routes = nodes[REGISTRY.gateway.node_id][ROUTE_TYPE]["http.8080"].virtual_hosts[0].routes
    assert len(routes) == 5
    assert {tuple(sorted(route_tags(r).items())) for r in routes} == {
        (
            ("meshscope.route.name", "bookinfo"),
            ("meshscope.route.namespace", "default"),
            ("meshscope.route.rule", "0"),
        )
    }


def test_route_tags_follow_the_sampling_rate_and_vanish_with_tracing_off():
    resources = [
        r
        for d in (sample("destination-rule-all"), sample("virtual-service-reviews-test-v2"))
        for r in parse_documents(d)
    ]
    sampled = translate(REGISTRY, resources, TracingSettings(sampling_percent=12.5))
    jason, _ = reviews_routes(sampled)
    assert jason.tracing.random_sampling.numerator == 125_000
    untraced = translate(REGISTRY, resources, TracingSettings(enabled=False))
    assert not any(r.HasField("tracing") for r in reviews_routes(untraced))
