"""Traffic routing through real Envoy sidecars, as in Istio's BookInfo traffic-management tasks."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from tests.support.mesh import star_colors
from tests.support.samples import reviews_weights, sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mesh


def test_default_config_serves_the_page_from_every_reviews_version(clean_mesh):
    seen = Counter(clean_mesh.versions_seen(30))
    # Round robin over three endpoints: 30 requests reach each version; none is left out.
    assert set(seen) == {"v1", "v2", "v3"}, seen


def test_pinning_reviews_to_v3_shows_red_stars_until_deleted(clean_mesh):
    clean_mesh.apply_ok(sample("destination-rule-all"))
    clean_mesh.apply_ok(reviews_weights(v3=100))
    for _ in range(15):
        page = clean_mesh.page()
        assert page.status_code == 200
        assert "reviews-v3" in page.text
        assert star_colors(page.text) == {"red"}

    response = clean_mesh.delete("virtualservices", "reviews")
    assert response.status_code == 200, response.text
    assert set(clean_mesh.versions_seen(30)) == {"v1", "v2", "v3"}


def test_header_routing_sends_jason_to_v2_and_everyone_else_to_v1(clean_mesh):
    clean_mesh.apply_ok(sample("destination-rule-all"))
    clean_mesh.apply_ok(sample("virtual-service-reviews-test-v2"))
    assert set(clean_mesh.versions_seen(15, user="jason")) == {"v2"}
    assert set(clean_mesh.versions_seen(15)) == {"v1"}
    assert set(clean_mesh.versions_seen(5, user="someone-else")) == {"v1"}


def test_logging_in_through_the_form_routes_by_end_user(clean_mesh):
    import requests

    clean_mesh.apply_ok(sample("destination-rule-all"))
    clean_mesh.apply_ok(sample("virtual-service-reviews-test-v2"))
    with requests.Session() as browser:
        login = browser.post(f"{clean_mesh.gateway_url}/login", data={"username": "jason"}, timeout=10)
        assert login.status_code == 200 and "jason" in login.text
        assert "reviews-v2" in login.text
        browser.get(f"{clean_mesh.gateway_url}/logout", timeout=10)
        assert "reviews-v1" in browser.get(f"{clean_mesh.gateway_url}/productpage", timeout=10).text


def test_weighted_80_20_split_lands_within_statistical_tolerance(clean_mesh):
    clean_mesh.apply_ok(sample("destination-rule-all"))
    clean_mesh.apply_ok(reviews_weights(v1=80, v3=20))
    requests_count = 500
    seen = Counter(clean_mesh.versions_seen(requests_count))
    assert set(seen) <= {"v1", "v3"}, seen
    # Envoy picks a weighted cluster independently per request: v3 hits ~ Binomial(500, 0.2),
    # mean 100, sd 8.9. Four sd either side (64..136) fails a correct mesh with p < 1e-4.
    sd = math.sqrt(requests_count * 0.2 * 0.8)
    assert abs(seen["v3"] - 100) <= 4 * sd, seen


def inbound_requests(mesh, workload_name: str) -> int:
    return mesh.envoy_counter(workload_name, "cluster.inbound|9080||.upstream_rq_total")


def test_mirroring_copies_traffic_to_v3_while_users_see_v1(clean_mesh):
    clean_mesh.apply_ok(sample("destination-rule-all"))
    clean_mesh.apply_ok(
        reviews_weights(v1=100).replace(
            "  - route:\n",
            "  - mirror: {host: reviews, subset: v3}\n    mirrorPercentage: {value: 100}\n    route:\n",
        )
    )
    before = inbound_requests(clean_mesh, "reviews-v3")
    assert set(clean_mesh.versions_seen(10)) == {"v1"}
    # Mirrored requests are fire-and-forget: wait until v3's sidecar has received all ten copies.
    wait_until(
        lambda: inbound_requests(clean_mesh, "reviews-v3") - before >= 10,
        timeout=10,
        what="mirrored copies reach v3",
    )
