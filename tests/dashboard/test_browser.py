"""The live map in a real Chromium (Playwright), served by real Daphne + Celery worker + beat + Redis.

Traffic comes from the fake mesh so the test can change it at will: the map must follow without a
page reload, and the page must reconnect by itself after Daphne restarts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboard.fakemesh import FakeMesh
from tests.dashboard.procs import Dashboard
from tests.support.processes import stop_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser

STATIC = Path(__file__).resolve().parents[2] / "static"
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
    hrefs = page.eval_on_selector_all(
        "#panel-links a.trace-link", "links => links.map(a => a.getAttribute('href'))"
    )
    assert hrefs == [
        "/traces/?service=reviews.default&sort=recent",
        "/traces/?service=reviews.default&sort=longest",
    ]
    # An edge's links: the traces of its calling side.
    page.evaluate("""() => { const div = document.getElementById('map');
        const t = div.data.findIndex(t => t.meta.role === 'labels');
        const i = div.data[t].customdata.findIndex(cd => cd[0] === 'wl:reviews-v2->svc:ratings');
        div.emit('plotly_click', {points: [{curveNumber: t, pointNumber: i, customdata: div.data[t].customdata[i]}]}); }""")
    page.wait_for_function("() => document.getElementById('panel-title').textContent.includes('svc:ratings')")
    hrefs = page.eval_on_selector_all(
        "#panel-links a.trace-link", "links => links.map(a => a.getAttribute('href'))"
    )
    # The caller's own proxy, by its Envoy node id (the fake mesh's control plane calls it n-<name>).
    assert "/traces/?service=reviews.default&tags=node_id%3Dn-reviews-v2&sort=longest" in hrefs


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
        return d ? d.find(t => t.name === 'all').x.length : 0; }"""
    # Legends name the versions once (the chart's title says inbound), one color per version.
    traces = page.evaluate("() => document.getElementById('in-rps').data.map(t => t.name)")
    assert traces == ["all", "v1", "v2", "v3"]
    colors = page.evaluate(
        "() => document.getElementById('in-lat').data.map(t => t.name + ' ' + t.line.color)"
    )
    assert len({c.split()[0] for c in colors}) == 4 and len(colors) == 12
    assert len({c.split()[-1] for c in colors if c.startswith("v2 ")}) == 1
    # ...and the same color on the outbound charts (reviews v2 and v3 call ratings).
    color_of = "(id, name) => document.getElementById(id).data.find(t => t.name === name).line.color"
    wait_until(lambda: page.evaluate(f"() => ({color_of})('out-rps', 'v2')"), timeout=20, what="v2 outbound")
    assert page.evaluate(f"() => ({color_of})('out-rps', 'v2')") == page.evaluate(
        f"() => ({color_of})('in-rps', 'v2')"
    )
    title = page.evaluate("() => document.getElementById('in-rps').layout.title.text")
    assert title == "inbound requests/s · 10 s sliding window"
    before = page.evaluate(points_js)
    page.evaluate("() => { window.__sameDocument = true; }")
    wait_until(
        lambda: page.evaluate(points_js) >= before + 2, timeout=20, what="new points from the websocket"
    )
    assert page.evaluate("() => window.__sameDocument === true")


def test_live_chart_points_of_a_steady_low_rate_are_flat(page, dashboard, mesh):
    """5 rps over three versions: each version's Envoy counters grow by 1 or 2 a poll; over the
    10 s window the live points stay near 5/3 instead of jumping between 1 and 2."""
    mesh.set_rate(5.0)
    page.goto(dashboard.url + "/services/reviews/")
    page.wait_for_selector("#in-rps .main-svg", timeout=20_000)
    values_js = """() => { const d = document.getElementById('in-rps').data;
        const v1 = d && d.find(t => t.name === 'v1'); return v1 ? v1.y : []; }"""
    loaded = len(page.evaluate(values_js))
    wait_until(
        lambda: len(page.evaluate(values_js)) >= loaded + 15, timeout=60, what="15 live points on the chart"
    )
    live = [v for v in page.evaluate(values_js)[loaded + 3 :] if v is not None]
    assert len(live) >= 10, live
    assert max(live) - min(live) < 0.5, live
    assert 1.2 < sum(live) / len(live) < 2.2, live


def test_the_browser_windows_rates_as_the_server_does(page):
    """static/js/series.js mirrors dashboard.services.metrics: the same known series, the same points."""
    from dashboard.services.metrics import edge_totals, windowed
    from tests.dashboard.test_service_metrics import round_robin

    documents = round_robin(5, 25)
    documents[7]["edges"][0].update(rps_5xx=1.0, rps_2xx=1.0, p95_ms=40.0)
    samples = [
        (d["taken_at"], d["interval_s"], edge_totals(e for e in d["edges"] if e["target"] == "wl:reviews-v1"))
        for d in documents
    ]
    expected = windowed(samples, 10)
    page.add_script_tag(path=str(STATIC / "js" / "series.js"))
    got = page.evaluate(
        """(samples) => samples.map(function (s, i) {
            const inside = samples.slice(0, i + 1).filter(o => o[0] > s[0] - 10)
              .map(o => ({t: o[0], dt: o[1], totals: o[2]}));
            return MeshscopeSeries.windowed(inside); })""",
        [list(s) for s in samples],
    )
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        for signal, value in theirs.items():
            assert (mine[signal] is None) == (value is None), signal
            if value is not None:
                assert mine[signal] == pytest.approx(value, abs=1e-3), signal
