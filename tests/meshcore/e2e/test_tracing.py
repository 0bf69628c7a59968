"""Every request through the gateway becomes one complete trace in the mesh's tracer (Zipkin v2 API).

Spans come from the real Envoys (gateway and sidecars) and are fetched back as any Zipkin client would.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

import pytest
import requests

from tests.support.samples import reviews_weights, sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mesh

GATEWAY = "istio-ingressgateway.istio-system"
SKEW_US = 2000  # all proxies share this machine's clock; allow 2 ms of rounding and scheduling


def traced_request(mesh, user: str | None = None) -> str:
    """Send one page request with a known x-request-id; return that id."""
    request_id = str(uuid.uuid4())
    cookies = {"user": user} if user else None
    response = requests.get(
        f"{mesh.gateway_url}/productpage", headers={"x-request-id": request_id}, cookies=cookies, timeout=30
    )
    assert response.status_code == 200
    return request_id


def fetch_trace(mesh, request_id: str, expected_services: set[str]) -> list[dict]:
    """The spans of the trace tagged with `request_id`, once every expected service reported."""

    def complete() -> list[dict] | None:
        found = requests.get(
            f"{mesh.tracer_url}/api/v2/traces",
            params={"annotationQuery": f"guid:x-request-id={request_id}", "lookback": 600000, "limit": 5},
            timeout=5,
        )
        found.raise_for_status()
        traces = found.json()
        if len(traces) != 1:
            return None
        spans = traces[0]
        services = {s.get("localEndpoint", {}).get("serviceName") for s in spans}
        return spans if expected_services <= services else None

    return wait_until(complete, timeout=15, interval=0.2, what=f"the trace of request {request_id}")


def by_id(spans: list[dict]) -> dict[str, list[dict]]:
    halves: dict[str, list[dict]] = defaultdict(list)
    for span in spans:
        halves[span["id"]].append(span)
    return halves


def service_of(span: dict) -> str:
    return span["localEndpoint"]["serviceName"]


def test_a_page_request_yields_one_complete_well_formed_trace(clean_mesh):
    mesh = clean_mesh
    mesh.apply_ok(sample("destination-rule-all"))
    mesh.apply_ok(reviews_weights(v3=100))
    request_id = traced_request(mesh)
    expected = {GATEWAY, "productpage.default", "details.default", "reviews.default", "ratings.default"}
    spans = fetch_trace(mesh, request_id, expected)

    assert len({s["traceId"] for s in spans}) == 1
    assert all(s["tags"].get("guid:x-request-id") == request_id for s in spans)
    halves = by_id(spans)
    roots = [i for i, group in halves.items() if not any(s.get("parentId") for s in group)]
    assert len(roots) == 1, roots
    assert service_of(halves[roots[0]][0]) == GATEWAY
    for group in halves.values():
        for span in group:
            parent = span.get("parentId")
            assert parent is None or parent in halves, f"{span['name']} points at missing parent {parent}"

    # Calls: gateway -> productpage -> details, productpage -> reviews -> ratings (client half -> server half).
    calls = set()
    for group in halves.values():
        clients = [s for s in group if s.get("kind") == "CLIENT"]
        servers = [s for s in group if s.get("kind") == "SERVER"]
        calls |= {(service_of(c), service_of(s)) for c in clients for s in servers}
    assert {
        (GATEWAY, "productpage.default"),
        ("productpage.default", "details.default"),
        ("productpage.default", "reviews.default"),
        ("reviews.default", "ratings.default"),
    } <= calls

    # Durations nest: a child starts after and ends before its parent (within clock skew).
    for group in halves.values():
        for span in group:
            for parent in halves.get(span.get("parentId") or "", []):
                assert span["timestamp"] >= parent["timestamp"] - SKEW_US
                assert (
                    span["timestamp"] + span["duration"] <= parent["timestamp"] + parent["duration"] + SKEW_US
                )


def test_reviews_v1_traces_have_no_ratings_span_and_v3_traces_do(clean_mesh):
    mesh = clean_mesh
    mesh.apply_ok(sample("destination-rule-all"))
    mesh.apply_ok(reviews_weights(v1=100))
    core = {GATEWAY, "productpage.default", "details.default", "reviews.default"}
    spans = fetch_trace(mesh, traced_request(mesh), core)
    assert "ratings.default" not in {service_of(s) for s in spans}

    mesh.apply_ok(reviews_weights(v3=100))
    spans = fetch_trace(mesh, traced_request(mesh), core | {"ratings.default"})
    assert "ratings.default" in {service_of(s) for s in spans}


def test_fault_injected_request_carries_envoys_response_flag(clean_mesh):
    mesh = clean_mesh
    mesh.apply_ok(sample("destination-rule-all"))
    mesh.apply_ok(sample("virtual-service-reviews-test-v2"))
    mesh.apply_ok(sample("virtual-service-ratings-test-abort"))
    request_id = traced_request(mesh, user="jason")
    spans = fetch_trace(mesh, request_id, {GATEWAY, "productpage.default", "reviews.default"})
    ratings_calls = [
        s
        for s in spans
        if s["tags"].get("upstream_cluster", "").endswith("ratings.default.svc.cluster.local")
    ]
    assert ratings_calls, "no span for the call to ratings"
    assert any(s["tags"].get("response_flags") == "FI" for s in ratings_calls)
    assert any(s["tags"].get("http.status_code") == "500" and s["tags"].get("error") for s in ratings_calls)
    # The same trace can be found with the Zipkin query a user types.
    found = requests.get(
        f"{mesh.tracer_url}/api/v2/traces",
        params={
            "serviceName": "reviews.default",
            "annotationQuery": "response_flags=FI and error",
            "lookback": 600000,
        },
        timeout=5,
    ).json()
    assert any(s["traceId"] == spans[0]["traceId"] for trace in found for s in trace)


def route_tags(span: dict) -> dict[str, str]:
    return {k: v for k, v in span["tags"].items() if k.startswith("meshscope.route.")}


def calls_to(spans: list[dict], service: str) -> list[dict]:
    """The CLIENT spans of calls whose upstream cluster belongs to `service`."""
    suffix = f"{service}.default.svc.cluster.local"
    return [
        s
        for s in spans
        if s.get("kind") == "CLIENT" and s["tags"].get("upstream_cluster", "").endswith(suffix)
    ]


def test_each_hop_names_the_virtual_service_rule_that_routed_it(clean_mesh):
    mesh = clean_mesh
    mesh.apply_ok(sample("destination-rule-all"))
    mesh.apply_ok(sample("virtual-service-reviews-test-v2"))
    mesh.apply_ok(sample("virtual-service-ratings-test-abort"))
    expected = {GATEWAY, "productpage.default", "reviews.default", "details.default"}

    spans = fetch_trace(mesh, traced_request(mesh, user="jason"), expected)
    (reviews_call,) = calls_to(spans, "reviews")
    assert route_tags(reviews_call) == {
        "meshscope.route.namespace": "default",
        "meshscope.route.name": "reviews",
        "meshscope.route.rule": "0",  # the end-user: jason match
    }
    ratings_calls = calls_to(spans, "ratings")
    assert ratings_calls, "no span for the call to ratings"
    for call in ratings_calls:
        assert call["tags"]["response_flags"] == "FI"
        assert route_tags(call) == {
            "meshscope.route.namespace": "default",
            "meshscope.route.name": "ratings",
            "meshscope.route.rule": "0",
        }
    # details has no VirtualService: its default route names no rule, and nothing was flagged.
    (details_call,) = calls_to(spans, "details")
    assert route_tags(details_call) == {}
    assert details_call["tags"]["response_flags"] == "-"

    # Anyone else takes reviews' catch-all rule (index 1) to v1, which never calls ratings.
    spans = fetch_trace(mesh, traced_request(mesh), expected)
    (reviews_call,) = calls_to(spans, "reviews")
    assert route_tags(reviews_call)["meshscope.route.rule"] == "1"
    assert not calls_to(spans, "ratings")
