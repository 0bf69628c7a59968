"""Fault injection, timeouts and retries, as in Istio's fault-injection and request-timeouts tasks."""

from __future__ import annotations

import pytest

from tests.support.mesh import RATINGS_UNAVAILABLE, REVIEWS_UNAVAILABLE, star_colors
from tests.support.samples import reviews_weights, sample

pytestmark = pytest.mark.mesh


@pytest.fixture
def jason_on_v2(clean_mesh):
    """Istio's setup for the fault tasks: everyone on v1, jason on reviews v2 (which calls ratings)."""
    clean_mesh.apply_ok(sample("destination-rule-all"))
    clean_mesh.apply_ok(sample("virtual-service-all-v1"))
    clean_mesh.apply_ok(sample("virtual-service-reviews-test-v2"))
    return clean_mesh


def test_ratings_delay_for_jason_degrades_his_page_like_bookinfo(jason_on_v2):
    mesh = jason_on_v2
    mesh.apply_ok(sample("virtual-service-ratings-test-delay"))
    # The 7 s delay outlasts productpage's 3 s reviews timeout (tried twice): BookInfo's known bug.
    page = mesh.page(user="jason")
    assert page.status_code == 200
    assert REVIEWS_UNAVAILABLE in page.text
    other = mesh.page()
    assert REVIEWS_UNAVAILABLE not in other.text and "reviews-v1" in other.text


def test_ratings_abort_for_jason_shows_ratings_unavailable(jason_on_v2):
    mesh = jason_on_v2
    mesh.apply_ok(sample("virtual-service-ratings-test-abort"))
    for _ in range(5):
        page = mesh.page(user="jason")
        assert page.status_code == 200
        assert "reviews-v2" in page.text
        assert RATINGS_UNAVAILABLE in page.text
        assert star_colors(page.text) == set()
    other = mesh.page(user="someone-else")
    assert RATINGS_UNAVAILABLE not in other.text and "reviews-v1" in other.text


RATINGS_DELAY_2S = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts: [ratings]
  http:
  - fault:
      delay:
        percentage: {value: 100}
        fixedDelay: 2s
    route:
    - destination: {host: ratings, subset: v1}
"""


def test_reviews_timeout_cuts_a_slow_ratings_call(clean_mesh):
    mesh = clean_mesh
    mesh.apply_ok(sample("destination-rule-all"))
    mesh.apply_ok(RATINGS_DELAY_2S)
    mesh.apply_ok(reviews_weights(v2=100))
    # Without a timeout reviews v2 waits the 2 s out and the page still shows black stars.
    assert star_colors(mesh.page().text) == {"black"}
    mesh.apply_ok(reviews_weights(v2=100).replace("  - route:\n", "  - timeout: 0.5s\n    route:\n"))
    page = mesh.page()
    assert page.status_code == 200
    assert REVIEWS_UNAVAILABLE in page.text


def test_retries_with_per_try_timeout_are_honored(clean_mesh):
    mesh = clean_mesh
    mesh.apply_ok(sample("destination-rule-all"))
    mesh.apply_ok(RATINGS_DELAY_2S)
    mesh.apply_ok(
        reviews_weights(v2=100).replace(
            "  - route:\n",
            "  - retries: {attempts: 3, perTryTimeout: 0.2s, retryOn: 'gateway-error,5xx'}\n    route:\n",
        )
    )
    counter = "cluster.outbound|9080|v2|reviews.default.svc.cluster.local.upstream_rq_retry"
    before = mesh.envoy_counter("productpage-v1", counter)
    page = mesh.page()
    assert REVIEWS_UNAVAILABLE in page.text
    # productpage tries reviews twice; each call is retried 3 times after its 0.2 s per-try timeout.
    assert mesh.envoy_counter("productpage-v1", counter) - before == 6
