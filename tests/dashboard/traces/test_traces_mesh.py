"""The trace explorer against the real mesh: what the mesh did to a request, explained on its hop.

Routes go in through the mesh's resource API; requests go through the real gateway and Envoys; the
spans are the real tracer's, read back through the dashboard's search page and trace API (the
dashboard runs in-process, Django's test client).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from tests.dashboard.routes.test_routes_mesh import RATINGS_DELAY_2S
from tests.support.samples import reviews_weights, sample
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.mesh, pytest.mark.django_db]


@pytest.fixture
def traced_mesh(settings, clean_mesh):
    """The shared mesh with BookInfo's DestinationRules; the dashboard reads its tracer."""
    settings.MESHCORE_TRACER_URL = clean_mesh.tracer_url
    settings.MESHCORE_API_URL = clean_mesh.api_url
    settings.MESHCORE_API_TOKEN_FILE = str(clean_mesh.token_file)
    clean_mesh.apply_ok(sample("destination-rule-all"))
    return clean_mesh


def page_request(mesh, user: str | None = None) -> str:
    """One /productpage request with a known x-request-id (the page may fail: faults are the point)."""
    request_id = str(uuid.uuid4())
    requests.get(
        f"{mesh.gateway_url}/productpage",
        headers={"x-request-id": request_id},
        cookies={"user": user} if user else None,
        timeout=60,
    )
    return request_id


def trace_of(client, request_id: str) -> str:
    """The trace id the search box finds for an x-request-id (the page redirects to the trace)."""

    def found() -> str | None:
        response = client.get("/traces/", {"q": request_id})
        return response["Location"] if response.status_code == 302 else None

    location = wait_until(found, timeout=30, interval=0.3, what=f"a trace for request {request_id}")
    assert location.startswith("/traces/") and location.endswith("/")
    return location.removeprefix("/traces/").rstrip("/")


def hop(span: dict[str, Any], service: str) -> bool:
    """Whether `span` is (a half of) a call to `service`: Envoy's outbound cluster names it."""
    return span["tags"].get("upstream_cluster", "").endswith(f"|{service}.default.svc.cluster.local")


def flagged(span: dict[str, Any], code: str) -> bool:
    return code in {f["code"] for f in span["flags"]}


def flagged_hop(
    client, trace_id: str, service: str, code: str, per_call_of: str | None = None
) -> tuple[dict, dict[str, Any]]:
    """(trace document, the span of a call to `service` that Envoy flagged `code`), once reported;
    with `per_call_of`, once there is such a span for every call to that service (each attempt)."""

    def ready() -> tuple[dict, dict[str, Any]] | None:
        response = client.get(f"/api/traces/{trace_id}")
        if response.status_code != 200:
            return None
        document = response.json()
        spans = [s for s in document["spans"] if hop(s, service) and flagged(s, code)]
        if per_call_of is not None:
            calls = [s for s in document["spans"] if hop(s, per_call_of) and s["kind"] == "CLIENT"]
            if len(spans) < len(calls):
                return None
        return (document, spans[0]) if spans else None

    return wait_until(
        ready, timeout=45, interval=0.5, what=f"a {code} span on the {service} hop of {trace_id}"
    )


def rule(span: dict[str, Any]) -> tuple[str, str, int] | None:
    route = span["route"]
    return (route["namespace"], route["name"], route["rule"]) if route else None


def meaning(span: dict[str, Any], code: str) -> str:
    return next(f["meaning"] for f in span["flags"] if f["code"] == code)


def test_a_7s_delay_for_jason_is_explained_on_the_ratings_hop_and_on_the_critical_path(
    traced_mesh, viewer_client
):
    traced_mesh.apply_ok(sample("virtual-service-reviews-test-v2"))  # jason -> v2, which calls ratings
    traced_mesh.apply_ok(sample("virtual-service-ratings-test-delay"))  # 7 s for jason (rule 0)
    trace_id = trace_of(viewer_client, page_request(traced_mesh, user="jason"))
    # Productpage gives up on reviews after 3 s and tries again: wait for each attempt's ratings call.
    document, ratings = flagged_hop(viewer_client, trace_id, "ratings", "DI", per_call_of="reviews")

    assert "delay" in meaning(ratings, "DI") and "fault injection" in meaning(ratings, "DI")
    assert rule(ratings) == ("default", "ratings", 0)
    assert ratings["route"]["url"] == "/routes/virtualservices/default/ratings/"
    assert ratings["duration_us"] >= 6_900_000  # the injected 7 s
    # The slowest path runs through a delayed ratings call (productpage gives up on reviews after
    # 3 s and tries again, so there are two; the path goes through the last).
    delayed = {
        s["spanId"]
        for s in document["spans"]
        if hop(s, "ratings") and "DI" in {f["code"] for f in s["flags"]}
    }
    assert delayed & set(document["criticalPath"]), (delayed, document["criticalPath"])
    # The hop to reviews names its own rule: jason's match (rule 0) of the reviews VirtualService.
    reviews = [s for s in document["spans"] if hop(s, "reviews") and s["route"]]
    assert reviews and {rule(s) for s in reviews} == {("default", "reviews", 0)}


def test_an_abort_is_explained_as_fi_with_the_rule_that_injected_it(traced_mesh, viewer_client):
    traced_mesh.apply_ok(sample("virtual-service-reviews-test-v2"))
    traced_mesh.apply_ok(sample("virtual-service-ratings-test-abort"))  # 500 for jason (rule 0)
    trace_id = trace_of(viewer_client, page_request(traced_mesh, user="jason"))
    _, ratings = flagged_hop(viewer_client, trace_id, "ratings", "FI")
    assert "abort" in meaning(ratings, "FI")
    assert ratings["error"] is True and ratings["tags"]["http.status_code"] == "500"
    assert rule(ratings) == ("default", "ratings", 0)


def test_a_half_second_reviews_timeout_is_explained_as_ut(traced_mesh, viewer_client):
    timed_out = reviews_weights(v2=100).replace("  - route:\n", "  - timeout: 0.5s\n    route:\n")
    traced_mesh.apply_ok(timed_out)  # reviews v2 waits 2 s for ratings: past the 0.5 s timeout
    traced_mesh.apply_ok(RATINGS_DELAY_2S)
    trace_id = trace_of(viewer_client, page_request(traced_mesh))
    _, reviews = flagged_hop(viewer_client, trace_id, "reviews", "UT")
    assert "timeout" in meaning(reviews, "UT")
    assert reviews["tags"]["http.status_code"] == "504"
    assert rule(reviews) == ("default", "reviews", 0)
    assert reviews["duration_us"] < 1_500_000  # cut at the deadline, not the 2 s ratings takes


def test_a_sidecars_trace_links_find_the_requests_its_proxy_handled(traced_mesh, viewer_client):
    from urllib.parse import urlsplit

    from dashboard.services.tracelinks import proxy_trace_links

    traced_mesh.apply_ok(sample("virtual-service-reviews-test-v2"))  # jason -> v2, anyone else -> v1
    # The search window is this test's own: the "slowest" link keeps the 100 longest traces, and
    # a worker's mesh may have carried minutes of traffic through reviews-v2 before this test.
    since_ms = int(time.time() * 1000) - 1000
    trace_id = trace_of(viewer_client, page_request(traced_mesh, user="jason"))
    workloads = {w["name"]: w for w in traced_mesh.registry()["workloads"]}
    # The sidecar page takes the node id from the registry, the map from the control plane's status.
    status = {n["name"]: n["node_id"] for n in traced_mesh.status()["nodes"]}
    assert all(status[name] == w["node_id"] for name, w in workloads.items())

    def found(workload: str) -> set[str]:
        slowest = proxy_trace_links("reviews", "default", workloads[workload]["node_id"])[1]["href"]
        window = f"&lookback=custom&start={since_ms}&limit=100"
        response = viewer_client.get("/api/traces?" + urlsplit(slowest).query + window)
        assert response.status_code == 200, response.content
        return {t["traceId"] for t in response.json()["traces"]}

    wait_until(lambda: trace_id in found("reviews-v2"), timeout=30, interval=0.5, what="jason's trace via v2")
    assert trace_id not in found("reviews-v1")
