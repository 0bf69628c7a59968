"""The live map in a real Chromium (Playwright), served by real Daphne + Celery worker + beat + Redis.

Traffic comes from the fake mesh so the test can change it at will: the map must follow without a
page reload, and the page must reconnect by itself after Daphne restarts.
"""

from __future__ import annotations

import pytest

from tests.dashboard.fakemesh import FakeMesh
from tests.dashboard.procs import Dashboard
from tests.support.processes import stop_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser

GATEWAY_EDGE = "gw:istio-ingressgateway->svc:productpage"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def mesh():
    fake = FakeMesh(rate=5.0).start()
    yield fake
    fake.stop()


@pytest.fixture
def page(chromium_path, dashboard):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(dashboard.url + "/")
        page.fill("input[name=username]", Dashboard.USER)
        page.fill("input[name=password]", Dashboard.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(dashboard.url + "/")
        yield page
        browser.close()
        assert errors == [], errors


GATEWAY_RATE_JS = """(edgeId) => {
  const div = document.getElementById('map');
  if (!div.data) return null;
  const labels = div.data.find(t => t.meta && t.meta.role === 'labels');
  if (!labels) return null;
  const i = labels.customdata.findIndex(cd => cd[0] === edgeId);
  return i < 0 ? null : labels.text[i];
}"""


def rate_shown(page) -> float | None:
    text = page.evaluate(GATEWAY_RATE_JS, GATEWAY_EDGE)
    if not text or not text.endswith("rps"):
        return None
    return float(text.split()[0])


def test_map_shows_bookinfo_and_follows_traffic_without_reload(page, dashboard, mesh):
    page.wait_for_selector("#map .main-svg", timeout=20_000)
    try:
        wait_until(lambda: (rate_shown(page) or 0) > 3.5, timeout=30, what="~5 rps on the gateway edge")
    except TimeoutError:
        raise AssertionError(dashboard.logs()) from None
    node_names = page.evaluate(
        "() => document.getElementById('map').data.find(t => t.meta.role === 'nodes').text"
    )
    for name in (
        "istio-ingressgateway",
        "productpage",
        "details",
        "reviews",
        "ratings",
        "reviews v2",
        "ratings v1",
    ):
        assert name in node_names
    wait_until(
        lambda: page.text_content("#connection").strip() == "● live", timeout=15, what="live indicator"
    )
    page.evaluate("() => { window.__sameDocument = true; }")
    updates_before = int(page.get_attribute("#map", "data-updates"))

    mesh.set_rate(20.0)
    wait_until(lambda: (rate_shown(page) or 0) > 15, timeout=20, what="~20 rps on the gateway edge")
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    assert int(page.get_attribute("#map", "data-updates")) > updates_before

    # Failures show up as colour: ratings answering 5xx turns its edges red.
    mesh.set_error_ratio(1.0)
    failing_js = """() => { const t = document.getElementById('map').data.find(t => t.meta.role === 'edges' && t.meta.health === 'failing');
                            return t ? t.customdata.map(cd => cd[0]) : []; }"""
    wait_until(
        lambda: "svc:ratings->wl:ratings-v1" in page.evaluate(failing_js),
        timeout=20,
        what="failing ratings edge",
    )
    mesh.set_error_ratio(0.0)
    mesh.set_rate(5.0)


def test_label_modes_find_hide_and_side_panel(page):
    page.wait_for_selector("#map .main-svg", timeout=20_000)
    wait_until(lambda: rate_shown(page) is not None, timeout=30)
    page.select_option("#label-mode", "p95")
    assert page.evaluate(GATEWAY_RATE_JS, GATEWAY_EDGE).startswith("p95")
    page.select_option("#label-mode", "error")
    assert page.evaluate(GATEWAY_RATE_JS, GATEWAY_EDGE).endswith("% err")
    page.select_option("#label-mode", "rate")
    page.fill("#find", "reviews v")
    page.click("#hide")
    nodes = page.evaluate("() => document.getElementById('map').data.find(t => t.meta.role === 'nodes').text")
    assert "reviews v2" not in nodes and "reviews" in nodes
    page.click("#show-all")
    page.evaluate("() => window.meshscopeMap && document.getElementById('map')")
    # Open the side panel the way a click does (Plotly's click handler gets the point's customdata).
    page.evaluate("""() => { const div = document.getElementById('map');
        const t = div.data.findIndex(t => t.meta.role === 'nodes');
        const i = div.data[t].customdata.findIndex(cd => cd[0] === 'svc:reviews');
        div.emit('plotly_click', {points: [{curveNumber: t, pointNumber: i, customdata: div.data[t].customdata[i]}]}); }""")
    page.wait_for_selector("#panel:not([hidden])")
    assert "reviews (service)" in page.text_content("#panel-title")
    assert "requests/s in" in page.text_content("#panel-table")


def test_page_reconnects_after_daphne_restarts(page, dashboard):
    page.wait_for_selector("#map .main-svg", timeout=20_000)
    wait_until(lambda: page.get_attribute("#connection", "data-state") == "live", timeout=20)
    stop_process(dashboard.daphne)
    wait_until(
        lambda: page.get_attribute("#connection", "data-state") == "down", timeout=20, what="indicator down"
    )
    dashboard.start_daphne()
    wait_until(
        lambda: page.get_attribute("#connection", "data-state") == "live", timeout=30, what="reconnected"
    )
    before = int(page.get_attribute("#map", "data-updates"))
    wait_until(
        lambda: int(page.get_attribute("#map", "data-updates")) > before,
        timeout=20,
        what="updates after reconnect",
    )


def test_service_page_charts_extend_live(page, dashboard):
    page.goto(dashboard.url + "/services/reviews/")
    page.wait_for_selector("#in-rps .main-svg", timeout=20_000)
    points_js = """() => { const d = document.getElementById('in-rps').data;
        return d ? d.find(t => t.name === 'in all').x.length : 0; }"""
    traces = page.evaluate("() => document.getElementById('in-rps').data.map(t => t.name)")
    assert traces == ["in all", "in v1", "in v2", "in v3"]
    before = page.evaluate(points_js)
    page.evaluate("() => { window.__sameDocument = true; }")
    wait_until(
        lambda: page.evaluate(points_js) >= before + 2, timeout=20, what="new points from the websocket"
    )
    assert page.evaluate("() => window.__sameDocument === true")
