"""AuthorizationPolicy and Istio's local rate limit, enforced by real Envoy sidecars.

Calls "from another workload" go through that workload's own sidecar (its outbound listener, as
its app would call), so they carry that workload's real identity over mTLS. A changed inbound
listener applies to new connections at once; connections already open drain within Envoy's drain
time (1 s here), so each test first waits until the policy shows, then checks it holds.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.mesh import RATINGS_UNAVAILABLE, REVIEWS_UNAVAILABLE, star_colors
from tests.support.samples import reviews_weights, sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mesh

REVIEWS_ONLY_FROM_PRODUCTPAGE = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: reviews-viewer
spec:
  selector:
    matchLabels:
      app: reviews
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]
    to:
    - operation:
        methods: ["GET"]
"""
RATINGS_DENY_JASON = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ratings-deny-jason
spec:
  selector:
    matchLabels:
      app: ratings
  action: DENY
  rules:
  - when:
    - key: request.headers[end-user]
      values: ["jason"]
"""
DETAILS_RATE_LIMIT = """
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata:
  name: filter-local-ratelimit-details
  namespace: istio-system
spec:
  workloadSelector:
    labels:
      app: details
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: SIDECAR_INBOUND
      listener:
        filterChain:
          filter:
            name: envoy.filters.network.http_connection_manager
    patch:
      operation: INSERT_BEFORE
      value:
        name: envoy.filters.http.local_ratelimit
        typed_config:
          "@type": type.googleapis.com/udpa.type.v1.TypedStruct
          type_url: type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
          value:
            stat_prefix: http_local_rate_limiter
            token_bucket:
              max_tokens: 3
              tokens_per_fill: 3
              fill_interval: 1s
            filter_enabled:
              runtime_key: local_rate_limit_enabled
              default_value: {numerator: 100, denominator: HUNDRED}
            filter_enforced:
              runtime_key: local_rate_limit_enforced
              default_value: {numerator: 100, denominator: HUNDRED}
            response_headers_to_add:
            - append: false
              header: {key: x-local-rate-limit, value: "true"}
"""
RATE_PER_S = 3


def workload(mesh, name: str) -> dict:
    return next(w for w in mesh.registry()["workloads"] if w["name"] == name)


def call_from(mesh, caller: str, host: str, path: str, session: requests.Session | None = None):
    """A request ``caller``'s app would make: to its own sidecar's outbound listener."""
    port = workload(mesh, caller)["outbound_port"]
    client = session or requests
    return client.get(f"http://127.0.0.1:{port}{path}", headers={"Host": f"{host}:9080"}, timeout=10)


def counter(mesh, workload_name: str, name: str) -> int:
    return mesh.envoy_counter(workload_name, name)


def test_only_productpage_may_call_reviews(clean_mesh):
    mesh = clean_mesh
    assert call_from(mesh, "ratings-v1", "reviews", "/reviews/0").status_code == 200  # before: open
    mesh.apply_ok(REVIEWS_ONLY_FROM_PRODUCTPAGE)
    productpage = workload(mesh, "productpage-v1")["outbound_port"]

    def post_from_productpage() -> int:
        url = f"http://127.0.0.1:{productpage}/reviews/0"
        return requests.post(url, headers={"Host": "reviews:9080"}, timeout=10).status_code

    # productpage's pooled connections to reviews predate the policy: wait until they drained.
    wait_until(
        lambda: (
            call_from(mesh, "ratings-v1", "reviews", "/reviews/0").status_code == 403
            and post_from_productpage() == 403
        ),
        timeout=15,
        what="the policy in force on every connection",
    )
    for _ in range(6):
        page = mesh.page()
        assert page.status_code == 200 and REVIEWS_UNAVAILABLE not in page.text
    for caller in ("ratings-v1", "details-v1", "reviews-v1"):
        denied = call_from(mesh, caller, "reviews", "/reviews/0")
        assert (denied.status_code, denied.text) == (403, "RBAC: access denied"), caller
    # The rule allows GET only: productpage's own identity with another method is refused too.
    assert post_from_productpage() == 403
    # Removing the policy opens reviews again.
    assert mesh.delete("authorizationpolicies", "reviews-viewer").status_code == 200
    wait_until(
        lambda: call_from(mesh, "ratings-v1", "reviews", "/reviews/0").status_code == 200,
        timeout=15,
        what="reviews open again",
    )


def test_deny_policy_on_ratings_hides_ratings_from_jason_only(clean_mesh):
    mesh = clean_mesh
    mesh.apply_ok(sample("destination-rule-all"))
    mesh.apply_ok(reviews_weights(v2=100))  # everyone's page asks ratings for black stars
    mesh.apply_ok(RATINGS_DENY_JASON)
    wait_until(
        lambda: RATINGS_UNAVAILABLE in mesh.page(user="jason").text,
        timeout=15,
        what="jason is denied ratings",
    )
    denied_before = counter(
        mesh,
        "ratings-v1",
        "http.inbound_0.0.0.0_9080_mtls.rbac.deny_.policy.ns[default]-policy[ratings-deny-jason]-rule[0].denied",
    )
    for _ in range(3):
        jason = mesh.page(user="jason")
        assert jason.status_code == 200 and RATINGS_UNAVAILABLE in jason.text
        assert star_colors(jason.text) == set()
        other = mesh.page(user="someone-else")
        assert RATINGS_UNAVAILABLE not in other.text and star_colors(other.text) == {"black"}
    denied_after = counter(
        mesh,
        "ratings-v1",
        "http.inbound_0.0.0.0_9080_mtls.rbac.deny_.policy.ns[default]-policy[ratings-deny-jason]-rule[0].denied",
    )
    # Each of jason's pages asks ratings once per reviews call (productpage tries reviews twice
    # only on failure, and reviews itself succeeded).
    assert denied_after - denied_before == 3


def test_local_rate_limit_answers_the_excess_with_429(clean_mesh):
    mesh = clean_mesh
    mesh.apply_ok(DETAILS_RATE_LIMIT)
    wait_until(
        lambda: (
            429 in [call_from(mesh, "productpage-v1", "details", "/details/0").status_code for _ in range(8)]
        ),
        timeout=15,
        what="the rate limit answers 429",
    )
    limited_before = counter(mesh, "details-v1", "http_local_rate_limiter.http_local_rate_limit.rate_limited")
    statuses = []
    with requests.Session() as session:
        started = time.monotonic()
        # Keep asking for 1.5 s (at most 300 calls): the bucket refills at least once meanwhile.
        while time.monotonic() - started < 1.5 and len(statuses) < 300:
            response = call_from(mesh, "productpage-v1", "details", "/details/0", session)
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.headers.get("x-local-rate-limit") == "true"
                assert response.text == "local_rate_limited"
        elapsed = time.monotonic() - started
    served = statuses.count(200)
    # A bucket of 3 refilled with 3 every second lets through at most 3 per started second, plus
    # what it held at the start.
    assert 1 <= served <= RATE_PER_S * (2 + int(elapsed)), (statuses, elapsed)
    assert set(statuses) == {200, 429}
    limited = counter(mesh, "details-v1", "http_local_rate_limiter.http_local_rate_limit.rate_limited")
    assert limited - limited_before == statuses.count(429)


def test_unsupported_envoy_filter_patches_are_refused_and_nothing_is_stored(clean_mesh):
    mesh = clean_mesh
    route_patch = DETAILS_RATE_LIMIT.replace("applyTo: HTTP_FILTER", "applyTo: HTTP_ROUTE")
    response = mesh.apply(route_patch)
    assert response.status_code == 422
    paths = [error["path"] for error in response.json()["errors"]]
    assert paths == ["spec.configPatches[0].applyTo"]
    assert "envoy.filters.http.local_ratelimit" in response.json()["errors"][0]["message"]
    listed = mesh.session.get(f"{mesh.api_url}/api/v1/envoyfilters", timeout=10).json()["items"]
    assert listed == []
