"""Every route form produces the Istio YAML one would write by hand (golden files in golden/).

The forms run on BookInfo's objects as stored; `MESHSCOPE_UPDATE_GOLDEN=1` rewrites the files (then
read the diff: they are the specification).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboard.routes.diffing import to_yaml
from dashboard.routes.documents import for_export
from dashboard.routes.forms import (
    FaultInjectionForm,
    RequestRoutingForm,
    SuspendForm,
    Target,
    TimeoutRetryForm,
    TrafficPolicyForm,
    TrafficShiftForm,
)
from tests.support.samples import sample

GOLDEN = Path(__file__).parent / "golden"
VERSIONS = ("v1", "v2", "v3")


def stored(name: str, kind: str, object_name: str) -> dict[str, Any] | None:
    for document in yaml.safe_load_all(sample(name)):
        if document["kind"] == kind and document["metadata"]["name"] == object_name:
            document["metadata"].update(namespace="default", resourceVersion="7")
            return document
    return None


def reviews(virtual_service: dict | None = None, with_rule: bool = True) -> Target:
    rule = stored("destination-rule-all", "DestinationRule", "reviews") if with_rule else None
    return Target("reviews", "default", VERSIONS, virtual_service, rule)


def ratings() -> Target:
    return Target(
        "ratings", "default", ("v1",), None, stored("destination-rule-all", "DestinationRule", "ratings")
    )


def rules_data(*rules: dict[str, Any], reason: str = "") -> dict[str, Any]:
    data: dict[str, Any] = {
        "rule-TOTAL_FORMS": str(len(rules)),
        "rule-INITIAL_FORMS": "0",
        "rule-MIN_NUM_FORMS": "0",
        "rule-MAX_NUM_FORMS": "50",
        "reason": reason,
    }
    for index, rule in enumerate(rules):
        for key, value in {"ORDER": str(index + 1), **rule}.items():
            data[f"rule-{index}-{key}"] = value
    return data


CASES: dict[str, tuple[type, dict[str, Any], Any]] = {
    "shift-all-to-v3": (TrafficShiftForm, {"weight_v1": 0, "weight_v2": 0, "weight_v3": 100}, reviews),
    "shift-80-20-mirror-new-subsets": (
        TrafficShiftForm,
        {"weight_v1": 80, "weight_v2": 0, "weight_v3": 20, "mirror": "v2", "mirror_percent": 25},
        lambda: reviews(with_rule=False),
    ),
    "route-jason-to-v2": (
        RequestRoutingForm,
        rules_data({"conditions": "header end-user exact jason", "route": "v2"}, {"route": "v1"}),
        reviews,
    ),
    "route-matches-of-every-kind": (
        RequestRoutingForm,
        rules_data(
            {
                "conditions": "uri prefix /reviews\nmethod exact GET\nheader x-canary present\nquery debug exact 1\n\nheader user-agent regex .*Firefox.*",
                "route": "v1=50 v3=50",
                "timeout": "2s",
            },
            {"route": "v1"},
        ),
        reviews,
    ),
    "delay-7s-for-jason-on-ratings": (
        RequestRoutingForm,
        rules_data(
            {
                "conditions": "header end-user exact jason",
                "route": "v1",
                "delay": "7s",
                "delay_percent": "100",
            },
            {"route": "v1"},
        ),
        ratings,
    ),
    "abort-500": (FaultInjectionForm, {"rule": "all", "abort_status": 500, "abort_percent": 100}, reviews),
    "timeout-half-second": (TimeoutRetryForm, {"rule": "all", "timeout": "0.5s"}, reviews),
    "retries": (
        TimeoutRetryForm,
        {"rule": "all", "attempts": 3, "per_try_timeout": "200ms", "retry_on": "5xx,connect-failure"},
        reviews,
    ),
    "policy-hash-breaker-outlier": (
        TrafficPolicyForm,
        {
            "load_balancer": "HASH_HEADER",
            "hash_key": "end-user",
            "max_connections": 100,
            "http1_max_pending_requests": 10,
            "consecutive_5xx_errors": 5,
            "interval": "10s",
            "base_ejection_time": "30s",
            "max_ejection_percent": 50,
        },
        reviews,
    ),
    "policy-least-request": (TrafficPolicyForm, {"load_balancer": "LEAST_REQUEST"}, reviews),
    "suspend": (SuspendForm, {"confirm": "on"}, reviews),
    "edit-hand-written-keeps-other-rules": (
        TrafficShiftForm,
        {"weight_v1": 0, "weight_v2": 0, "weight_v3": 100},
        lambda: reviews(stored("virtual-service-reviews-test-v2", "VirtualService", "reviews")),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_form_output_matches_the_golden_yaml(case: str) -> None:
    form_class, data, target = CASES[case]
    form = form_class(data, target=target())
    assert form.is_valid(), form.errors or (getattr(form, "rules", None) and form.rules.errors)
    produced = to_yaml([for_export(d) for d in form.documents()])
    golden = GOLDEN / f"{case}.yaml"
    if os.environ.get("MESHSCOPE_UPDATE_GOLDEN") == "1":
        golden.write_text(produced)
    assert produced == golden.read_text()


def test_editing_in_place_keeps_the_resource_version_for_conflict_detection() -> None:
    existing = stored("virtual-service-reviews-test-v2", "VirtualService", "reviews")
    form = TrafficShiftForm({"weight_v1": 50, "weight_v2": 0, "weight_v3": 50}, target=reviews(existing))
    assert form.is_valid()
    [document] = form.documents()
    assert document["metadata"]["resourceVersion"] == "7"
    assert document["spec"]["http"][0] == existing["spec"]["http"][0]  # the jason rule, untouched
