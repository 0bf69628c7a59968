"""The dashboard against the real local mesh: real Envoys, real traffic, real restarts.

The session's mesh with its built-in generator at 5 rps, and one dashboard (Daphne + Celery worker
+ beat + Redis) per module; the tests run in order and change the mesh (routing, then stopping
ratings' app), putting it back as they found it.
"""

from __future__ import annotations

import statistics
import time
import urllib.request

import pytest

from tests.dashboard.procs import Dashboard, get_json
from tests.support.samples import reviews_weights, sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mesh


@pytest.fixture(scope="module")
def mesh(mesh):
    """The shared mesh, reset, with steady traffic for this module."""
    mesh.reset()
    mesh.set_traffic(5)
    yield mesh
    mesh.set_traffic(0)


@pytest.fixture(scope="module")
def http(dashboard):
    return dashboard.login()


def topology(http, dashboard) -> dict:
    return get_json(http, dashboard.url + "/api/topology")["map"]


def edges_of(traffic_map: dict) -> dict[str, dict]:
    return {edge["id"]: edge for edge in traffic_map["edges"]}


def test_topology_rates_match_the_traffic_generator(mesh, dashboard, http):
    wait_until(
        lambda: (
            edges_of(topology(http, dashboard)).get("gw:istio-ingressgateway->svc:productpage") or {}
        ).get("rps"),
        timeout=60,
        what="a rate on the gateway edge",
    )
    # Average ~10 polls (10 s) against what the generator really sent meanwhile. Tolerance 15%:
    # one poll's 1 s window at 5 rps holds ~5 requests, so single polls vary by +-20% (a request
    # more or less); over ten polls that averages out to a few percent, plus the skew between the
    # generator's clock and the Envoy reads at both ends of the window.
    before = mesh.traffic()
    time.sleep(10)
    after = mesh.traffic()
    generated = (after["sent"] - before["sent"]) / (after["elapsed_s"] - before["elapsed_s"])
    snapshots = get_json(http, dashboard.url + "/api/topology/history?minutes=1")["snapshots"][-10:]

    def mean_rate(edge_id: str) -> float:
        return statistics.fmean(edges_of(s["map"]).get(edge_id, {}).get("rps") or 0.0 for s in snapshots)

    assert generated == pytest.approx(after["rate"], rel=0.15)
    for edge_id in (
        "gw:istio-ingressgateway->svc:productpage",
        "svc:productpage->wl:productpage-v1",
        "wl:productpage-v1->svc:details",
        "wl:productpage-v1->svc:reviews",
    ):
        assert mean_rate(edge_id) == pytest.approx(generated, rel=0.15), edge_id
    # reviews round-robins over three versions: together they carry every call to reviews, and
    # each carries a share (not exactly a third: on a loaded machine a slow version's calls are
    # retried elsewhere). v2 and v3 call ratings once per request.
    per_version = {v: mean_rate(f"svc:reviews->wl:reviews-{v}") for v in ("v1", "v2", "v3")}
    assert sum(per_version.values()) == pytest.approx(mean_rate("wl:productpage-v1->svc:reviews"), rel=0.15)
    assert all(rate >= 0.15 * generated for rate in per_version.values()), per_version
    to_ratings = mean_rate("wl:reviews-v2->svc:ratings") + mean_rate("wl:reviews-v3->svc:ratings")
    assert to_ratings == pytest.approx(2 * generated / 3, rel=0.25)
    assert mean_rate("svc:ratings->wl:ratings-v1") == pytest.approx(to_ratings, rel=0.1)
    current = topology(http, dashboard)
    # No edge degraded or failing; an edge may read "idle" when its latest 1 s window happened to
    # hold no request (a loaded machine stretches the generator's gaps).
    assert {e["health"] for e in current["edges"]} - {"idle"} == {"healthy"}
    # Istio's auto mTLS: without any policy, every hop between sidecars is mutual TLS.
    assert [e["id"] for e in current["edges"] if e["rps"] and not e["mtls"]] == []


def test_pinning_reviews_to_v1_makes_v2_and_v3_idle(mesh, dashboard, http):
    mesh.apply_ok(sample("destination-rule-all"))
    assert not mesh.apply_ok(reviews_weights(v1=100))["sync"]["rejected"]
    try:

        def v2_v3_idle() -> bool:
            edges = edges_of(topology(http, dashboard))
            watched = [
                edges["svc:reviews->wl:reviews-v2"],
                edges["svc:reviews->wl:reviews-v3"],
                edges["wl:reviews-v2->svc:ratings"],
                edges["wl:reviews-v3->svc:ratings"],
            ]
            return (
                all(e["rps"] == 0 and e["health"] == "idle" for e in watched)
                and edges["svc:reviews->wl:reviews-v1"]["rps"] > 0
            )

        # A few polls: the route change takes effect in milliseconds; in-flight requests drain.
        wait_until(v2_v3_idle, timeout=10, interval=0.5, what="reviews-v2/v3 edges idle")
        nodes = {n["id"]: n for n in topology(http, dashboard)["nodes"]}
        assert nodes["wl:reviews-v2"]["idle"] and not nodes["wl:reviews-v1"]["idle"]
    finally:
        mesh.reset()
    wait_until(
        lambda: edges_of(topology(http, dashboard))["svc:reviews->wl:reviews-v2"]["rps"] > 0,
        timeout=15,
        what="reviews-v2 busy again",
    )


@pytest.mark.browser
def test_browser_map_follows_real_traffic_without_reload(mesh, dashboard, chromium_path):
    """Log in, see BookInfo on the map, then a burst at the gateway shows up without a reload."""
    from concurrent.futures import ThreadPoolExecutor

    from playwright.sync_api import sync_playwright

    from tests.dashboard.test_browser import CHROMIUM_ARGS, GATEWAY_EDGE, GATEWAY_RATE_JS

    def shown_rate(page) -> float:
        text = page.evaluate(GATEWAY_RATE_JS, GATEWAY_EDGE)
        return float(text.split()[0]) if text and text.endswith("rps") else 0.0

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(dashboard.url + "/")
            page.fill("input[name=username]", Dashboard.USER)
            page.fill("input[name=password]", Dashboard.PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#map .main-svg", timeout=30_000)
            names = page.evaluate(
                "() => document.getElementById('map').data.find(t => t.meta.role === 'nodes').text"
            )
            for name in (
                "istio-ingressgateway",
                "productpage",
                "details",
                "reviews v1",
                "reviews v2",
                "reviews v3",
                "ratings v1",
            ):
                assert name in names
            wait_until(lambda: 2 < shown_rate(page) < 9, timeout=30, what="the generator's ~5 rps on the map")
            page.evaluate("() => { window.__sameDocument = true; }")

            def get(_: int) -> int:
                with urllib.request.urlopen(mesh.gateway_url + "/productpage", timeout=10) as response:
                    return response.status

            # ~40 extra requests/s for a few seconds on top of the generator's 5.
            deadline = time.monotonic() + 4
            with ThreadPoolExecutor(4) as pool:
                while time.monotonic() < deadline and shown_rate(page) < 15:
                    list(pool.map(get, range(8)))
            wait_until(lambda: shown_rate(page) >= 15, timeout=10, what="the burst on the map")
            assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
        finally:
            browser.close()


def test_stopping_ratings_app_marks_its_edges_failing(mesh, dashboard, http):
    stopped = mesh.cli("stop", "ratings-v1-app")
    assert stopped.returncode == 0, stopped.stderr
    try:

        def failing(edge_filter) -> dict | None:
            edges = [e for key, e in edges_of(topology(http, dashboard)).items() if edge_filter(key)]
            return next((e for e in edges if e["health"] == "failing"), None)

        try:
            edge = wait_until(
                lambda: failing(lambda key: key == "svc:ratings->wl:ratings-v1"),
                timeout=60,
                what="ratings edge failing",
            )
        except TimeoutError as timed_out:
            ratings = {k: e for k, e in edges_of(topology(http, dashboard)).items() if "ratings" in k}
            raise AssertionError(f"{timed_out}; the ratings edges now: {ratings}") from None
        # Failing from 5xx answers (connection failures to the stopped app count once any request
        # failed). Its first failing window may still mix requests served before the stop, and
        # later windows may hold no request to the stopped app at all, so the share is read from
        # that first window and only required to be there.
        assert edge["error_5xx_pct"] > 0
        # Its callers see it too: reviews' calls to ratings fail.
        wait_until(
            lambda: failing(lambda key: key.endswith("->svc:ratings")),
            timeout=20,
            what="reviews -> ratings failing",
        )
    finally:
        assert mesh.cli("start", "ratings-v1-app").returncode == 0
