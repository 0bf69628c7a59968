"""mTLS, RBAC denials and rate limits on the live map and the workload page, from the real mesh.

The session's mesh with the built-in generator at 5 rps, and one dashboard (Daphne + Celery worker
+ beat + Redis) for this module. Each test applies its policy, drives the traffic that shows it and
resets the mesh afterwards.
"""

from __future__ import annotations

import pytest
import requests

from tests.dashboard.procs import get_json
from tests.support.samples import sample
from tests.support.tls import get_status
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mesh

STRICT = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec:
  mtls: {mode: STRICT}
"""
PERMISSIVE = STRICT.replace("STRICT", "PERMISSIVE")
REVIEWS_ONLY_FROM_PRODUCTPAGE = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer}
spec:
  selector: {matchLabels: {app: reviews}}
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}
"""
DETAILS_ONE_PER_SECOND = """
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: details-rate-limit}
spec:
  workloadSelector: {labels: {app: details}}
  configPatches:
  - applyTo: HTTP_FILTER
    match: {context: SIDECAR_INBOUND}
    patch:
      operation: INSERT_BEFORE
      value:
        name: envoy.filters.http.local_ratelimit
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
          stat_prefix: http_local_rate_limiter
          token_bucket: {max_tokens: 1, tokens_per_fill: 1, fill_interval: 1s}
          filter_enabled: {default_value: {numerator: 100, denominator: HUNDRED}}
          filter_enforced: {default_value: {numerator: 100, denominator: HUNDRED}}
"""
BOOKINFO_EDGES = (
    "gw:istio-ingressgateway->svc:productpage",
    "svc:productpage->wl:productpage-v1",
    "wl:productpage-v1->svc:details",
    "svc:details->wl:details-v1",
    "wl:productpage-v1->svc:reviews",
    "svc:reviews->wl:reviews-v2",
    "wl:reviews-v2->svc:ratings",
    "svc:ratings->wl:ratings-v1",
)


@pytest.fixture(scope="module")
def mesh(mesh):
    mesh.reset()
    mesh.set_traffic(5)
    yield mesh
    mesh.set_traffic(0)
    mesh.reset()


@pytest.fixture
def clean(mesh):
    mesh.reset()
    yield mesh
    mesh.reset()


@pytest.fixture(scope="module")
def http(dashboard):
    return dashboard.login()


def topology(http, dashboard) -> dict:
    return get_json(http, dashboard.url + "/api/topology")


def edges(http, dashboard) -> dict[str, dict]:
    return {edge["id"]: edge for edge in topology(http, dashboard)["map"]["edges"]}


def workload(mesh, name: str) -> dict:
    return next(w for w in mesh.registry()["workloads"] if w["name"] == name)


def test_istios_mtls_rules_with_strict_put_a_lock_on_every_bookinfo_edge(clean, dashboard, http):
    clean.apply_ok(sample("destination-rule-all-mtls"))
    clean.apply_ok(STRICT)

    def locked() -> bool:
        current = edges(http, dashboard)
        return all(current[edge]["mtls"] and current[edge]["rps"] for edge in BOOKINFO_EDGES)

    wait_until(locked, timeout=60, interval=0.5, what="every BookInfo edge with traffic and a lock")
    document = topology(http, dashboard)
    drawn = {image["name"] for image in document["figure"]["layout"]["images"]}
    assert set(BOOKINFO_EDGES) <= drawn
    assert all(e["mtls_pct"] == 100.0 for e in document["map"]["edges"] if e["mtls_pct"] is not None)


def test_permissive_map_tells_plaintext_requests_apart(clean, dashboard, http):
    clean.apply_ok(PERMISSIVE)
    port = workload(clean, "ratings-v1")["inbound_port"]

    def mixed() -> float | None:
        for _ in range(5):  # plaintext callers outside the mesh, beside the sidecars' mTLS calls
            assert get_status(port, "/ratings/0", use_tls=False) == 200
        share = edges(http, dashboard)["svc:ratings->wl:ratings-v1"]["mtls_pct"]
        return share if share is not None and 0 < share < 100 else None

    share = wait_until(mixed, timeout=60, interval=0.5, what="a share of mTLS requests below 100%")
    assert 0 < share < 100
    current = edges(http, dashboard)
    assert current["wl:reviews-v2->svc:ratings"]["mtls"]  # the sidecar callers still use mTLS


def test_rbac_denials_show_on_the_edge_that_caused_them(clean, dashboard, http):
    clean.apply_ok(REVIEWS_ONLY_FROM_PRODUCTPAGE)
    outbound = workload(clean, "ratings-v1")["outbound_port"]

    def denied() -> dict | None:
        for _ in range(5):  # ratings' app calling reviews through its own sidecar: denied
            requests.get(
                f"http://127.0.0.1:{outbound}/reviews/0", headers={"Host": "reviews:9080"}, timeout=10
            )
        edge = edges(http, dashboard).get("wl:ratings-v1->svc:reviews")
        return edge if edge and edge["denied_per_s"] > 0 else None

    edge = wait_until(denied, timeout=60, interval=0.5, what="RBAC denials on ratings -> reviews")
    assert edge["rps_4xx"] >= edge["denied_per_s"] > 0
    current = edges(http, dashboard)
    # productpage's calls are allowed: its edge to reviews carries no denials.
    assert current["wl:productpage-v1->svc:reviews"]["denied_per_s"] == 0
    assert current["wl:productpage-v1->svc:reviews"]["rps"] > 0


def test_rate_limited_requests_are_counted_on_the_edge(clean, dashboard, http):
    clean.apply_ok(DETAILS_ONE_PER_SECOND)

    def limited() -> dict | None:
        edge = edges(http, dashboard)["wl:productpage-v1->svc:details"]
        return edge if edge["rate_limited_per_s"] > 0 else None

    # The generator's 5 rps against 1 per second: about 4 of 5 calls to details are refused.
    edge = wait_until(limited, timeout=60, interval=0.5, what="429s on productpage -> details")
    assert edge["rps_4xx"] >= edge["rate_limited_per_s"] > 0
    assert "RL " in next(
        label[4]
        for trace in topology(http, dashboard)["figure"]["data"]
        if trace["meta"]["role"] == "labels"
        for label in trace["customdata"]
        if label[0] == "wl:productpage-v1->svc:details"
    )


def test_workload_page_shows_identity_certificate_and_policies(clean, dashboard, http):
    clean.apply_ok(REVIEWS_ONLY_FROM_PRODUCTPAGE)
    clean.apply_ok(STRICT)
    with http.open(dashboard.url + "/services/workloads/reviews-v1/", timeout=10) as response:
        page = response.read().decode()
    assert "spiffe://cluster.local/ns/default/sa/bookinfo-reviews" in page
    assert "expires" in page and " h " in page  # 24 h certificates: "(in 23 h 59 min)"
    assert "ALLOW AuthorizationPolicy/reviews-viewer" in page
    assert "STRICT" in page and "PeerAuthentication/istio-system/default" in page
