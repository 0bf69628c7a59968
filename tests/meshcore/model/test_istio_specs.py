"""Typed views of VirtualService, DestinationRule and Gateway specs (what the Envoy builders consume)."""

from __future__ import annotations

import dataclasses

import pytest

from meshcore.model.errors import ValidationError
from meshcore.model.istio import (
    Abort,
    ConnectionPool,
    Delay,
    Destination,
    DestinationRuleSpec,
    GatewayServer,
    GatewaySpec,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRetry,
    HTTPRewrite,
    HTTPRoute,
    HTTPRouteDestination,
    LoadBalancer,
    OutlierDetection,
    StringMatch,
    Subset,
    TrafficPolicy,
    VirtualServiceSpec,
    destination_rule_spec,
    gateway_spec,
    spec_view,
    virtual_service_spec,
)
from tests.meshcore.model.bookinfo_samples import load_sample, make_resource


def only(name: str):
    (resource,) = load_sample(name)
    return resource


def test_reviews_test_v2_routes_jason_to_v2_and_everyone_else_to_v1() -> None:
    spec = virtual_service_spec(only("virtual-service-reviews-test-v2.yaml"))
    jason = HTTPMatchRequest(headers=(("end-user", StringMatch("exact", "jason")),))
    assert spec == VirtualServiceSpec(
        hosts=("reviews",),
        http=(
            HTTPRoute(match=(jason,), route=(HTTPRouteDestination(Destination("reviews", "v2")),)),
            HTTPRoute(route=(HTTPRouteDestination(Destination("reviews", "v1")),)),
        ),
    )


def test_weighted_split_keeps_weights_and_order() -> None:
    (route,) = virtual_service_spec(only("virtual-service-reviews-80-20.yaml")).http
    assert route.route == (
        HTTPRouteDestination(Destination("reviews", "v1"), 80),
        HTTPRouteDestination(Destination("reviews", "v2"), 20),
    )
    (route,) = virtual_service_spec(only("virtual-service-reviews-50-v3.yaml")).http
    assert [(d.destination.subset, d.weight) for d in route.route] == [("v1", 50), ("v3", 50)]


def test_delay_and_abort_faults() -> None:
    delayed = virtual_service_spec(only("virtual-service-ratings-test-delay.yaml")).http
    assert delayed[0].fault == HTTPFaultInjection(delay=Delay(fixed_delay_s=7.0, percentage=100.0))
    assert delayed[1].fault is None
    aborted = virtual_service_spec(only("virtual-service-ratings-test-abort.yaml")).http
    assert aborted[0].fault == HTTPFaultInjection(abort=Abort(http_status=500, percentage=100.0))
    assert aborted[0].route[0].destination == Destination("ratings", "v1")


def test_fault_percentage_defaults_like_istio_and_accepts_deprecated_percent() -> None:
    spec = {
        "hosts": ["ratings"],
        "http": [
            {
                "fault": {"delay": {"fixedDelay": "2s"}, "abort": {"httpStatus": 503, "percent": 25}},
                "route": [{"destination": {"host": "ratings"}}],
            }
        ],
    }
    (route,) = virtual_service_spec(make_resource("VirtualService", "ratings", spec)).http
    # Istio injects a fault into no request when neither percentage nor percent is given.
    assert route.fault == HTTPFaultInjection(delay=Delay(2.0, 0.0), abort=Abort(503, 25.0))


def test_gateway_sample() -> None:
    gateway, virtual_service = load_sample("bookinfo-gateway.yaml")
    assert gateway_spec(gateway) == GatewaySpec(
        selector=(("istio", "ingressgateway"),),
        servers=(GatewayServer(port_number=8080, port_name="http", protocol="HTTP", hosts=("*",)),),
    )
    spec = virtual_service_spec(virtual_service)
    assert spec.hosts == ("*",)
    assert spec.gateways == ("bookinfo-gateway",)
    (route,) = spec.http
    assert [match.uri for match in route.match] == [
        StringMatch("exact", "/productpage"),
        StringMatch("prefix", "/static"),
        StringMatch("exact", "/login"),
        StringMatch("exact", "/logout"),
        StringMatch("prefix", "/api/v1/products"),
    ]
    assert route.route == (HTTPRouteDestination(Destination("productpage", None, 9080)),)


def test_destination_rule_sample_subsets() -> None:
    rules = {r.name: destination_rule_spec(r) for r in load_sample("destination-rule-all.yaml")}
    assert [s.name for s in rules["ratings"].subsets] == ["v1", "v2", "v2-mysql", "v2-mysql-vm"]
    assert rules["reviews"].subsets[2] == Subset("v3", (("version", "v3"),))
    assert rules["details"] == DestinationRuleSpec(
        host="details", subsets=(Subset("v1", (("version", "v1"),)), Subset("v2", (("version", "v2"),)))
    )


def test_every_http_route_field_is_typed() -> None:
    spec = {
        "hosts": ["reviews"],
        "http": [
            {
                "name": "canary",
                "match": [
                    {
                        "name": "api",
                        "uri": {"regex": "^/reviews/[0-9]+$"},
                        "method": {"exact": "GET"},
                        "authority": {"prefix": "reviews"},
                        "queryParams": {"debug": {"exact": "1"}},
                        "ignoreUriCase": True,
                    }
                ],
                "route": [{"destination": {"host": "reviews", "subset": "v3", "port": {"number": 9080}}}],
                "timeout": "1.5s",
                "retries": {"attempts": 3, "perTryTimeout": "500ms", "retryOn": "5xx,connect-failure"},
                "mirror": {"host": "reviews", "subset": "v2"},
                "mirrorPercentage": {"value": 12.5},
                "rewrite": {"uri": "/v2/reviews", "authority": "reviews.internal"},
            }
        ],
    }
    (route,) = virtual_service_spec(make_resource("VirtualService", "reviews", spec)).http
    assert route == HTTPRoute(
        name="canary",
        match=(
            HTTPMatchRequest(
                name="api",
                uri=StringMatch("regex", "^/reviews/[0-9]+$"),
                method=StringMatch("exact", "GET"),
                authority=StringMatch("prefix", "reviews"),
                query_params=(("debug", StringMatch("exact", "1")),),
                ignore_uri_case=True,
            ),
        ),
        route=(HTTPRouteDestination(Destination("reviews", "v3", 9080)),),
        timeout_s=1.5,
        retries=HTTPRetry(attempts=3, per_try_timeout_s=0.5, retry_on="5xx,connect-failure"),
        mirror=Destination("reviews", "v2"),
        mirror_percentage=12.5,
        rewrite=HTTPRewrite(uri="/v2/reviews", authority="reviews.internal"),
    )


def test_retries_without_attempts_mean_zero_attempts() -> None:
    spec = {"hosts": ["ratings"], "http": [{"retries": {}, "route": [{"destination": {"host": "ratings"}}]}]}
    (route,) = virtual_service_spec(make_resource("VirtualService", "ratings", spec)).http
    assert route.retries == HTTPRetry(attempts=0)


def test_traffic_policy_is_typed_at_rule_and_subset_level() -> None:
    policy = {
        "connectionPool": {
            "tcp": {"maxConnections": 100, "connectTimeout": "30ms"},
            "http": {
                "http1MaxPendingRequests": 10,
                "http2MaxRequests": 1000,
                "maxRequestsPerConnection": 1,
                "maxRetries": 3,
            },
        },
        "outlierDetection": {
            "consecutive5xxErrors": 7,
            "consecutiveGatewayErrors": 5,
            "interval": "5m",
            "baseEjectionTime": "15m",
            "maxEjectionPercent": 50,
        },
        "loadBalancer": {"simple": "LEAST_REQUEST"},
    }
    spec = {
        "host": "reviews",
        "trafficPolicy": policy,
        "subsets": [
            {
                "name": "v2",
                "labels": {"version": "v2"},
                "trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}},
            }
        ],
    }
    view = destination_rule_spec(make_resource("DestinationRule", "reviews", spec))
    assert view.traffic_policy == TrafficPolicy(
        connection_pool=ConnectionPool(
            max_connections=100,
            connect_timeout_s=0.03,
            http1_max_pending_requests=10,
            http2_max_requests=1000,
            max_requests_per_connection=1,
            max_retries=3,
        ),
        outlier_detection=OutlierDetection(
            consecutive_5xx_errors=7,
            consecutive_gateway_errors=5,
            interval_s=300.0,
            base_ejection_time_s=900.0,
            max_ejection_percent=50,
        ),
        load_balancer=LoadBalancer("LEAST_REQUEST"),
    )
    assert view.subsets[0].traffic_policy == TrafficPolicy(load_balancer=LoadBalancer("RANDOM"))


def test_views_are_immutable_and_hashable() -> None:
    spec = virtual_service_spec(only("virtual-service-reviews-test-v2.yaml"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.hosts = ("ratings",)  # type: ignore[misc]
    assert hash(spec) == hash(virtual_service_spec(only("virtual-service-reviews-test-v2.yaml")))
    assert isinstance(spec.http, tuple)


def test_malformed_spec_raises_with_field_paths() -> None:
    spec = {
        "hosts": ["reviews"],
        "http": [{"route": [{"destination": {"host": "reviews"}, "weight": "ten"}]}],
    }
    with pytest.raises(ValidationError) as caught:
        virtual_service_spec(make_resource("VirtualService", "reviews", spec))
    assert [str(e) for e in caught.value.errors] == [
        'spec.http[0].route[0].weight: must be an integer, got "ten"'
    ]


def test_rule_violations_also_refuse_the_view_unless_only_shape_is_required() -> None:
    spec = {
        "hosts": ["reviews"],
        "http": [
            {
                "route": [
                    {"destination": {"host": "reviews", "subset": "v1"}, "weight": 60},
                    {"destination": {"host": "reviews", "subset": "v2"}, "weight": 30},
                ]
            }
        ],
    }
    resource = make_resource("VirtualService", "reviews", spec)
    with pytest.raises(ValidationError, match=r"spec.http\[0\].route: weights sum to 90, must be 100"):
        virtual_service_spec(resource)
    loose = spec_view(resource, enforce_rules=False)
    assert isinstance(loose, VirtualServiceSpec)
    assert [d.weight for d in loose.http[0].route] == [60, 30]


def test_view_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(ValidationError, match="kind: expected VirtualService, got DestinationRule"):
        virtual_service_spec(load_sample("destination-rule-all.yaml")[0])
