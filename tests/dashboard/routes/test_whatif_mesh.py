"""The what-if against real recorded traffic: the split it predicts for a jason -> v2 rule is the
split the real traffic then shows.

The mesh's generator sends page views as anonymous users (70 %) or jason (30 %), each drawn
independently. Before the rule, reviews round-robins over v1..v3. The what-if replays the recorded
calls productpage made to reviews (their `end-user` header is in the spans) through the proposed
rule: its predicted v2 share is the fraction p1 of jason's calls among n1 recorded calls. After
applying, the real v2 share p2 is measured over n2 fresh page views. Both estimate the same
probability p (jason's share), independently, so p1 - p2 is approximately normal with mean 0 and
variance p(1-p)(1/n1 + 1/n2); we accept |p1 - p2| <= 4 sigma, which a correct prediction fails
with probability < 1e-4. A what-if that ignored the match would predict v2 = 0 (or 1/3 each), at
least 0.3 from the truth and, with n1, n2 >= 150, more than 6 sigma away.
"""

from __future__ import annotations

import math
import time

import pytest

from dashboard.routes import service
from dashboard.sources import configured
from tests.support.samples import sample
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.mesh, pytest.mark.django_db(transaction=True)]
RATE = 15.0
MIN_REQUESTS = 150


def reviews_split(report_before: dict, report_after: dict) -> tuple[dict[str, int], int]:
    counts = {
        version: report_after["by_reviews_version"].get(version, 0)
        - report_before["by_reviews_version"].get(version, 0)
        for version in ("v1", "v2", "v3")
    }
    return counts, sum(counts.values())


def test_predicted_split_for_a_jason_rule_matches_the_real_split(routes_mesh, operator):
    mesh = routes_mesh
    start_ms = int(time.time() * 1000)
    mesh.set_traffic(RATE)
    try:
        store = configured.route_store()
        registry = configured.registry_source().registry()
        trace_source = configured.trace_source(5.0)
        proposed = service.parse_yaml(sample("virtual-service-reviews-test-v2"))

        def recorded() -> list:
            traces = trace_source.traces(
                service="reviews.default", limit=5000, lookback_ms=int(time.time() * 1000) - start_ms
            )
            [whatif] = service.whatif_for(proposed, store, registry, traces=traces)
            return whatif if whatif.total >= MIN_REQUESTS else None

        whatif = wait_until(
            recorded, timeout=90, interval=1.0, what=f"{MIN_REQUESTS} recorded calls to reviews"
        )
        # Today's share (round robin) and the prediction cover the same recorded calls.
        assert set(whatif.current) == {"v1", "v2", "v3"}
        assert whatif.predicted.get("v3", 0.0) == 0.0
        p1, n1 = whatif.predicted["v2"], whatif.total
        assert whatif.predicted["v1"] == pytest.approx(1 - p1)

        applied = service.apply(operator, proposed, "what-if check")
        assert applied.revisions and not applied.outcome.sync["pending"]
        before = mesh.traffic()
        wait_until(
            lambda: reviews_split(before, mesh.traffic())[1] >= MIN_REQUESTS,
            timeout=90,
            interval=0.5,
            what=f"{MIN_REQUESTS} page views after the change",
        )
        counts, n2 = reviews_split(before, mesh.traffic())
    finally:
        mesh.set_traffic(0)
    assert counts["v3"] == 0
    p2 = counts["v2"] / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    sigma = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert abs(p1 - p2) <= 4 * sigma, (p1, n1, p2, n2, sigma)
    assert 0.15 < p2 < 0.45  # the generator's 30 % jason, measured
