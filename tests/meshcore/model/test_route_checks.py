"""The route checks added for route editing: zero durations, unreachable rules, RE2, consistent hash,
and the warnings that are shown but do not block an apply."""

from __future__ import annotations

from typing import Any

import pytest

from meshcore.model.istio import destination_rule_spec
from meshcore.model.registry import Registry
from meshcore.model.resources import Resource
from meshcore.model.validation import validate
from meshcore.model.validation_warnings import validation_warnings
from tests.meshcore.model.bookinfo_samples import load_sample, make_resource
from tests.meshcore.model.test_validation import assert_error, reviews_dr, reviews_vs, route

JASON = {"headers": {"end-user": {"exact": "jason"}}}


def to(subset: str, **fields: Any) -> dict[str, Any]:
    return {"route": [{"destination": {"host": "reviews", "subset": subset}}], **fields}


@pytest.mark.parametrize(
    ("http", "path"),
    [
        (route(timeout="0s"), "spec.http[0].timeout"),
        (route(retries={"attempts": 2, "perTryTimeout": "0ms"}), "spec.http[0].retries.perTryTimeout"),
        (
            route(fault={"delay": {"fixedDelay": "0s", "percentage": {"value": 50}}}),
            "spec.http[0].fault.delay.fixedDelay",
        ),
    ],
)
def test_zero_durations_are_refused(registry: Registry, http: dict, path: str) -> None:
    errors = validate([reviews_vs(http), reviews_dr("v1")], registry)
    assert_error(errors, f"VirtualService/reviews.{path}", 'must be greater than 0, got "' + "...")


def test_zero_outlier_interval_is_refused(registry: Registry) -> None:
    rule = reviews_dr("v1", trafficPolicy={"outlierDetection": {"consecutive5xxErrors": 3, "interval": "0s"}})
    assert_error(
        validate([rule], registry),
        "spec.trafficPolicy.outlierDetection.interval",
        "must be greater than 0...",
    )


def test_rules_after_a_catch_all_are_unreachable(registry: Registry) -> None:
    errors = validate([reviews_vs(to("v1"), to("v2", match=[JASON])), reviews_dr("v1", "v2")], registry)
    assert_error(
        errors,
        "VirtualService/reviews.spec.http[1]",
        "unreachable: spec.http[0] before it matches every request...",
    )


def test_a_prefix_slash_match_is_a_catch_all_too(registry: Registry) -> None:
    everything = to("v1", match=[{"uri": {"prefix": "/"}}])
    errors = validate([reviews_vs(everything, to("v2", match=[JASON])), reviews_dr("v1", "v2")], registry)
    assert_error(errors, "VirtualService/reviews.spec.http[1]", "unreachable...")


def test_specific_rules_before_the_catch_all_are_fine(registry: Registry) -> None:
    assert validate([reviews_vs(to("v2", match=[JASON]), to("v1")), reviews_dr("v1", "v2")], registry) == []


def test_a_regex_python_accepts_but_re2_refuses_is_an_error(registry: Registry) -> None:
    # Python's re accepts a 1001-fold repetition; RE2 (and so Envoy) caps repetitions at 1000.
    http = to("v1", match=[{"uri": {"regex": "/a{1001}"}}])
    errors = validate([reviews_vs(http), reviews_dr("v1")], registry)
    assert_error(
        errors,
        "VirtualService/reviews.spec.http[0].match[0].uri.regex",
        "regex '/a{1001}' is refused by RE2...",
    )


@pytest.mark.parametrize(
    ("hashing", "expected"),
    [
        ({"httpHeaderName": "end-user"}, "end-user"),
        ({"httpCookie": {"name": "user", "ttl": "10s"}}, "user"),
        ({"useSourceIp": True}, None),
    ],
)
def test_consistent_hash_load_balancing_is_accepted(
    registry: Registry, hashing: dict, expected: str | None
) -> None:
    rule = reviews_dr("v1", trafficPolicy={"loadBalancer": {"consistentHash": hashing}})
    assert validate([rule], registry) == []
    view = destination_rule_spec(rule).traffic_policy.load_balancer.consistent_hash
    assert view is not None and expected in (view.http_header_name, view.http_cookie_name)


def test_simple_and_consistent_hash_together_are_refused(registry: Registry) -> None:
    balancer = {"simple": "RANDOM", "consistentHash": {"useSourceIp": True}}
    errors = validate([reviews_dr("v1", trafficPolicy={"loadBalancer": balancer})], registry)
    assert_error(
        errors, "spec.trafficPolicy.loadBalancer", "must set exactly one of simple, consistentHash..."
    )


# --- warnings ----------------------------------------------------------------------------------


def warning_paths(resources: list[Resource], registry: Registry) -> dict[str, str]:
    return {w.path: w.message for w in validation_warnings(resources, registry)}


def test_subset_labels_that_select_no_workload_warn(registry: Registry) -> None:
    warnings = warning_paths([reviews_dr("v1", "v9")], registry)
    assert list(warnings) == ["spec.subsets[1].labels"]
    assert 'subset "v9" selects no workload of reviews' in warnings["spec.subsets[1].labels"]
    assert "reviews-v1 (app=reviews, version=v1)" in warnings["spec.subsets[1].labels"]


def test_retries_with_an_abort_warn_but_validate(registry: Registry) -> None:
    http = route(retries={"attempts": 3}, fault={"abort": {"httpStatus": 500, "percentage": {"value": 50}}})
    resources = [reviews_vs(http)]
    assert validate(resources, registry, [reviews_dr("v1")]) == []
    assert "spec.http[0].retries" in warning_paths(resources, registry)


def test_single_destination_weight_and_repeated_destination_warn(registry: Registry) -> None:
    single = route(route=[{"destination": {"host": "reviews", "subset": "v1"}, "weight": 100}])
    twice = route(
        route=[
            {"destination": {"host": "reviews", "subset": "v1"}, "weight": 50},
            {"destination": {"host": "reviews", "subset": "v1"}, "weight": 50},
        ]
    )
    warnings = warning_paths([reviews_vs(single, twice)], registry)
    assert set(warnings) == {"spec.http[0].route[0].weight", "spec.http[1].route[1].destination"}


def test_the_bookinfo_samples_warn_only_about_undeployed_versions(registry: Registry) -> None:
    warnings = warning_paths(load_sample("destination-rule-all.yaml"), registry)
    # ratings v2* and details v2 are not deployed in the local mesh; nothing else is doubtful.
    assert set(warnings) == {
        "DestinationRule/ratings.spec.subsets[1].labels",
        "DestinationRule/ratings.spec.subsets[2].labels",
        "DestinationRule/ratings.spec.subsets[3].labels",
        "DestinationRule/details.spec.subsets[1].labels",
    }


def test_malformed_resources_get_no_warnings(registry: Registry) -> None:
    broken = make_resource("VirtualService", "reviews", {"hosts": "reviews"})
    assert validation_warnings([broken], registry) == []
