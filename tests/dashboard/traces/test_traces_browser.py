"""The trace explorer's pages in a real Chromium (Playwright) against real Daphne + Celery + Redis.

Two setups: the meshcore tracer served on its own with traces stored straight into it (hand-made
BookInfo traces and a 10,000-span synthetic one: known shapes, so the pages' answers are known),
and the real local mesh (requests at the gateway, a fault applied through the resource API).
"""

from __future__ import annotations

import json
import random
import time

import pytest

from meshcore.tracer.samples import bookinfo_trace
from meshcore.tracer.store import TraceStore
from tests.dashboard.fakemesh import FakeMesh
from tests.dashboard.procs import Dashboard
from tests.dashboard.routes.test_routes_browser import browser, log_in, shot  # noqa: F401 (a fixture)
from tests.meshcore.tracer.conftest import ServedTracer
from tests.support.largetrace import large_trace, store_in_batches
from tests.support.samples import reviews_weights, sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser
READY = "body[data-trace-ready='1']"


def now_us() -> int:
    return int(time.time() * 1_000_000)


@pytest.fixture(scope="module")
def tracer(tmp_path_factory):
    store = TraceStore(tmp_path_factory.mktemp("tracer") / "traces.sqlite3", writer="thread")
    served = ServedTracer(store)
    yield served
    served.stop()
    store.close()


def store_spans(tracer: ServedTracer, spans: list[dict]) -> None:
    """POST as Envoy does and wait (bounded) until the store committed them."""

    def post(batch: list[dict]) -> None:
        reply = tracer.post_spans(batch)
        assert reply.status == 202, reply.text
        assert tracer.store.flush(60), "spans not committed within 60 s"

    store_in_batches(post, spans)


@pytest.fixture(scope="module")
def synthetic_dashboard(tmp_path_factory, redis_server, tracer):
    """The dashboard reading the stand-alone tracer (the fake mesh answers the registry and stats)."""
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    fake = FakeMesh(rate=1.0).start()
    running = Dashboard(
        tmp_path_factory.mktemp("dash"), redis_server.url, fake.api_url, MESHCORE_TRACER_URL=tracer.url
    )
    yield running
    running.stop()
    fake.stop()


@pytest.fixture
def page(browser, synthetic_dashboard):  # noqa: F811 (the imported fixture)
    context, page, errors = log_in(browser, synthetic_dashboard, Dashboard.USER, Dashboard.PASSWORD)
    yield page
    context.close()
    assert errors == [], errors


def api_json(page, path: str):
    response = page.request.get(page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2] + path)
    assert response.ok, (path, response.status, response.text()[:500])
    return response.json()


def faulty_bookinfo(seed: int, start_us: int) -> list[dict]:
    """A BookInfo trace whose ratings hop was delayed by a fault of VirtualService default/ratings
    rule 0 and then failed (500): the tags Envoy and the control plane put on such a span."""
    spans = bookinfo_trace(random.Random(seed), start_us, error=True, reviews_version="v2")
    for span in spans:
        if span["localEndpoint"]["serviceName"].startswith("ratings") or span["name"].startswith("ratings"):
            span["tags"].update(
                {
                    "response_flags": "DI",
                    "meshscope.route.namespace": "default",
                    "meshscope.route.name": "ratings",
                    "meshscope.route.rule": "0",
                    "node_id": "sidecar~127.0.0.1~ratings-v1.default~default.svc.cluster.local",
                }
            )
    return spans


def visible_rows(page) -> list[dict]:
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('#waterfall .wf-row')).filter(r => r.style.display !== 'none')
             .map(r => ({pos: Number(r.dataset.pos), id: r.dataset.spanId, cls: r.className,
                         text: r.querySelector('.wf-label').textContent}))"""
    )


def test_waterfall_span_panel_keyboard_search_filters_and_download(page, synthetic_dashboard, tracer):
    spans = faulty_bookinfo(11, now_us() - 5_000_000)
    trace_id = spans[0]["traceId"]
    store_spans(tracer, spans)
    api = api_json(page, f"/api/traces/{trace_id}")
    ratings = next(s for s in api["spans"] if any(f["code"] == "DI" for f in s["flags"]))
    base = synthetic_dashboard.url + f"/traces/{trace_id}/"

    # A deep link opens the page with that span selected and its panel open.
    page.goto(base + f"#span-{ratings['spanId']}")
    page.wait_for_selector(READY, timeout=30_000)
    # A finished trace has no live feed: the header shows no connection badge at all.
    assert page.get_attribute("#connection", "data-state") == "idle"
    assert not page.is_visible("#connection")
    page.wait_for_selector("#span-panel:not([hidden])")
    flag = page.text_content("#span-panel .sp-flag")
    assert "DI" in flag and "delayed by fault injection" in flag
    route = page.locator("#span-panel .sp-route a")
    assert route.text_content() == "VirtualService default/ratings, rule #0"
    assert route.get_attribute("href") == ratings["route"]["url"]
    hrefs = page.eval_on_selector_all(
        "#span-panel .sp-links a", "els => els.map(a => a.getAttribute('href'))"
    )
    assert f"/services/{ratings['service'].split('.')[0]}/" in hrefs
    assert "/services/sidecars/ratings-v1/" in hrefs
    assert "http.status_code" in page.text_content("#span-panel .sp-tags")
    shot(page, "trace-span-panel")

    rows = visible_rows(page)
    assert len(rows) == len(api["spans"])
    assert [r["id"] for r in sorted(rows, key=lambda r: r["pos"])] == [s["spanId"] for s in api["spans"]]
    selected = [r for r in rows if "is-selected" in r["cls"]]
    assert [r["id"] for r in selected] == [ratings["spanId"]]
    errors = {r["id"] for r in rows if "is-error" in r["cls"]}
    assert ratings["spanId"] in errors and errors == {s["spanId"] for s in api["spans"] if s["error"]}
    critical = {r["id"] for r in rows if "is-critical" in r["cls"]}
    assert critical == set(api["criticalPath"]) and critical
    marks = page.eval_on_selector_all(
        "#waterfall .wf-row .wf-crit-seg",
        "els => els.filter(e => e.style.display !== 'none' && e.closest('.wf-row').style.display !== 'none')"
        ".map(e => e.closest('.wf-row').dataset.spanId)",
    )
    assert sorted(marks) == sorted(section[0] for section in api["criticalSections"])

    # Keyboard: Escape closes the panel, j/k move, Enter folds the selected span's subtree.
    page.keyboard.press("Escape")
    assert page.is_hidden("#span-panel")
    assert "#span-" not in page.url
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    root_id = api["spans"][0]["spanId"]
    assert "#span-" + root_id in page.url
    page.keyboard.press("Enter")
    assert len(visible_rows(page)) == 1, "the root folded away every other span"
    page.keyboard.press(" ")
    assert len(visible_rows(page)) == len(api["spans"])

    # "/" focuses span search; matches are highlighted and counted.
    page.keyboard.press("/")
    page.keyboard.type("ratings")
    wanted = {s["spanId"] for s in api["spans"] if "ratings" in (s["service"] + s["name"]).lower()
              or any("ratings" in f"{k}={v}".lower() for k, v in s["tags"].items())}  # fmt: skip
    wait_until(lambda: page.text_content("#search-count") == f"{len(wanted)} matches", timeout=5)
    assert {r["id"] for r in visible_rows(page) if "is-match" in r["cls"]} == wanted
    page.fill("#tag-highlight", "http.status_code=500")
    page.press("#tag-highlight", "Enter")
    page.dispatch_event("#tag-highlight", "change")
    tagged = {s["spanId"] for s in api["spans"] if s["tags"].get("http.status_code") == "500"}
    assert {r["id"] for r in visible_rows(page) if "is-tagged" in r["cls"]} == tagged

    # Collapse below depth 0: only the root stays, shown folded.
    page.fill("#max-depth", "0")
    page.dispatch_event("#max-depth", "change")
    assert [r["id"] for r in visible_rows(page)] == [root_id]
    assert "▸" in visible_rows(page)[0]["text"]
    page.click("#expand-all")
    assert len(visible_rows(page)) == len(api["spans"])

    # Hide spans shorter than 50 % of the trace: exactly those longer remain (subtrees go too).
    page.fill("#hide-short", "50")
    page.dispatch_event("#hide-short", "change")
    threshold = api["duration_us"] * 0.5
    shown = {r["id"] for r in visible_rows(page)}
    assert root_id in shown and all(
        s["duration_us"] >= threshold for s in api["spans"] if s["spanId"] in shown and s["spanId"] != root_id
    )
    assert len(shown) < len(api["spans"])
    page.fill("#hide-short", "")
    page.dispatch_event("#hide-short", "change")

    # Re-root on the reviews span (double click): only its subtree is shown.
    reviews = next(s for s in api["spans"] if s["service"].startswith("reviews") and s["depth"] > 0)
    page.dblclick(f"#waterfall .wf-row[data-span-id='{reviews['spanId']}'] .wf-op")
    subtree = [reviews["spanId"]]
    for s in api["spans"][api["spans"].index(reviews) + 1 :]:
        if s["depth"] <= reviews["depth"]:
            break
        subtree.append(s["spanId"])
    assert [r["id"] for r in sorted(visible_rows(page), key=lambda r: r["pos"])] == subtree
    page.click("#reset-root")
    assert len(visible_rows(page)) == len(api["spans"])

    # Drag on the minimap from 50 % to 100 % of its width: the waterfall shows the second half.
    box = page.locator("#minimap").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + 20)
    page.mouse.move(box["x"] + box["width"] - 1, box["y"] + 20)
    page.mouse.up()
    page.wait_for_selector("#reset-zoom:not([hidden])")
    root_bar = page.eval_on_selector(
        f"#waterfall .wf-row[data-span-id='{root_id}'] .wf-bar", "b => parseFloat(b.style.left)"
    )
    assert root_bar == 0, "the root starts before the window: its bar is clipped at the left edge"
    details = next(s for s in api["spans"] if s["service"].startswith("details"))
    assert details["start_us"] + details["duration_us"] < api["start_us"] + api["duration_us"] / 2
    width = page.eval_on_selector(
        f"#waterfall .wf-row[data-span-id='{details['spanId']}'] .wf-bar", "b => parseFloat(b.style.width)"
    )
    assert width == 0, "a span of the first half is outside the zoomed window"
    first_tick = page.text_content("#ticks .tick")
    assert first_tick != "0 µs"
    page.click("#reset-zoom")
    assert page.text_content("#ticks .tick") == "0 µs"

    # Stats table, call graph and the Zipkin download.
    page.wait_for_selector("#stats tr:nth-child(2)")
    assert page.locator("#stats tr").count() == len(api["stats"]) + 1
    assert page.locator("#callgraph .cg-node").count() == len(api["callGraph"]["nodes"])
    download = page.request.get(synthetic_dashboard.url + page.get_attribute("#download", "href"))
    assert download.ok
    assert {s["id"] for s in json.loads(download.body())} == {s["id"] for s in spans}


def test_large_synthetic_trace_renders_only_what_is_visible_and_scrolls(page, synthetic_dashboard, tracer):
    # Half an hour old: outside the other tests' searches (a 10,000-span trace is slow to search through).
    trace_id, spans = large_trace(10_000, now_us() - 30 * 60_000_000)
    store_spans(tracer, spans)
    page.goto(synthetic_dashboard.url + f"/traces/{trace_id}/")
    page.wait_for_selector(READY, timeout=90_000)
    assert page.text_content("#row-count").startswith("10000 of 10000 spans shown")
    rows = visible_rows(page)
    assert 10 < len(rows) < 200, "only the rows near the viewport exist"
    assert min(r["pos"] for r in rows) == 0
    painted_js = """() => { const c = document.getElementById('minimap');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let k = 3; k < data.length; k += 4) if (data[k]) n++; return n; }"""
    wait_until(lambda: page.evaluate(painted_js) > 1000, timeout=20, what="the minimap drawn")
    page.evaluate("() => { const w = document.getElementById('waterfall'); w.scrollTop = w.scrollHeight; }")
    wait_until(lambda: max(r["pos"] for r in visible_rows(page)) == 9999, timeout=10, what="rows at the end")
    assert len(visible_rows(page)) < 200
    shot(page, "trace-10k-end")
    page.evaluate("() => { document.getElementById('waterfall').scrollTop = 24 * 5000; }")
    wait_until(lambda: 5000 in {r["pos"] for r in visible_rows(page)}, timeout=10, what="rows in the middle")


def test_search_page_lists_plots_sorts_and_tails_new_traces(page, synthetic_dashboard, tracer):
    start = now_us() - 30_000_000
    seeded = [bookinfo_trace(random.Random(100 + k), start + k * 1_000_000) for k in range(3)]
    for spans in seeded:
        store_spans(tracer, spans)
    page.goto(synthetic_dashboard.url + "/traces/?lookback=15m&limit=50&service=productpage.default")
    assert page.input_value("input[name=service]") == "productpage.default"
    page.wait_for_selector("#results[data-loaded='1']", timeout=60_000)
    ids = page.eval_on_selector_all("#results-body tr", "rows => rows.map(r => r.dataset.traceId)")
    assert {s[0]["traceId"] for s in seeded} <= set(ids)
    assert page.evaluate(
        "() => document.getElementById('scatter').data.reduce((n, t) => n + t.x.length, 0)"
    ) == len(ids)
    page.click("#results th[data-sort='spans']")
    assert "sort=spans" in page.url
    counts = page.eval_on_selector_all(
        "#results-body tr td:nth-child(5)", "cells => cells.map(c => Number(c.textContent))"
    )
    assert counts == sorted(counts, reverse=True)

    page.evaluate("() => { window.__sameDocument = true; }")
    wait_until(lambda: page.get_attribute("#connection", "data-state") == "live", timeout=20, what="live")
    fresh = bookinfo_trace(random.Random(555), now_us())
    store_spans(tracer, fresh)
    row = f"#results-body tr[data-trace-id='{fresh[0]['traceId']}']"
    page.wait_for_selector(row, timeout=30_000)
    assert page.eval_on_selector("#results-body tr", "r => r.dataset.traceId") == fresh[0]["traceId"]
    assert "is-new" in page.get_attribute(row, "class")
    assert page.evaluate("() => window.__sameDocument === true")
    shot(page, "search-tail")

    # Paused: arrivals wait (and are counted); resumed: they go on top.
    page.click("#tail-pause")
    waiting = bookinfo_trace(random.Random(556), now_us())
    store_spans(tracer, waiting)
    wait_until(lambda: page.text_content("#tail-queued") == "1 new while paused", timeout=30, what="queued")
    assert page.locator(f"#results-body tr[data-trace-id='{waiting[0]['traceId']}']").count() == 0
    page.click("#tail-pause")
    page.wait_for_selector(f"#results-body tr[data-trace-id='{waiting[0]['traceId']}']", timeout=5_000)

    # A trace of another service does not match the search: the server filters it out.
    other = bookinfo_trace(random.Random(557), now_us())
    for span in other:
        span["localEndpoint"]["serviceName"] = "elsewhere.default"
    store_spans(tracer, other)
    marker = bookinfo_trace(random.Random(558), now_us() + 500_000)
    store_spans(tracer, marker)
    page.wait_for_selector(f"#results-body tr[data-trace-id='{marker[0]['traceId']}']", timeout=30_000)
    assert page.locator(f"#results-body tr[data-trace-id='{other[0]['traceId']}']").count() == 0


def test_bad_search_parameters_answer_400_and_mark_the_field(page, synthetic_dashboard):
    response = page.goto(synthetic_dashboard.url + "/traces/?minDuration=fast&limit=5000")
    assert response.status == 400
    errors = page.text_content("#form-errors")
    assert "minDuration" in errors and "limit" in errors
    assert "has-error" in page.get_attribute("input[name=minDuration]", "class")
    assert "has-error" in page.get_attribute("input[name=limit]", "class")


def test_compare_shows_the_spans_only_one_trace_has(page, synthetic_dashboard, tracer):
    v1 = bookinfo_trace(random.Random(700), now_us() - 3_000_000, reviews_version="v1")
    v3 = bookinfo_trace(random.Random(701), now_us() - 2_000_000, reviews_version="v3")
    store_spans(tracer, v1 + v3)
    a, b = v1[0]["traceId"], v3[0]["traceId"]
    page.goto(synthetic_dashboard.url + f"/traces/compare/?a={a}&b={b}")
    page.wait_for_selector("body[data-compare-ready='1']", timeout=30_000)
    only_b = page.eval_on_selector_all("#compare-tree tr.side-b", "rows => rows.map(r => r.dataset.key)")
    assert only_b and all("ratings" in key for key in only_b)
    assert page.locator("#compare-tree tr.side-a").count() == 0
    assert page.locator("#compare-diffs tr").count() > 0
    assert a in page.text_content("#summary-a") and b in page.text_content("#summary-b")
    shot(page, "compare")


# -- against the real mesh ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def mesh(mesh):
    """The shared real mesh with BookInfo's DestinationRules and no background traffic."""
    mesh.reset()
    mesh.apply_ok(sample("destination-rule-all"))
    mesh.set_traffic(0)
    yield mesh
    mesh.reset()


@pytest.fixture
def mesh_page(browser, dashboard):  # noqa: F811 (the imported fixture)
    context, page, errors = log_in(browser, dashboard, Dashboard.USER, Dashboard.PASSWORD)
    yield page
    context.close()
    assert errors == [], errors


def newest_trace(page, since_us: int, want) -> dict | None:
    """The newest summary (API search, last 5 minutes) that started after `since_us` and `want(summary)`."""
    found = api_json(page, "/api/traces?lookback=5m&limit=100&sort=recent")["traces"]
    return next((t for t in found if t["start_us"] >= since_us and want(t)), None)


def served_names(summary: dict) -> set[str]:
    return {s["name"].split(".")[0] for s in summary["services"]}


@pytest.mark.mesh
def test_a_request_at_the_gateway_appears_live_and_its_waterfall_opens(mesh_page, dashboard, mesh):
    page = mesh_page
    page.goto(dashboard.url + "/traces/?lookback=5m")
    page.wait_for_selector("#results[data-loaded='1']", timeout=30_000)
    wait_until(lambda: page.get_attribute("#connection", "data-state") == "live", timeout=20, what="live")
    page.evaluate("() => { window.__sameDocument = true; }")
    before = set(page.eval_on_selector_all("#results-body tr", "rows => rows.map(r => r.dataset.traceId)"))
    assert mesh.page().status_code == 200

    def new_row():
        ids = page.eval_on_selector_all("#results-body tr.is-new", "rows => rows.map(r => r.dataset.traceId)")
        return next((i for i in ids if i not in before), None)

    try:
        trace_id = wait_until(new_row, timeout=40, interval=0.3, what="the request's trace in the list")
    except TimeoutError:
        raise AssertionError(dashboard.logs()) from None
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    row = page.locator(f"#results-body tr[data-trace-id='{trace_id}']")
    # A sidecar that flushes after the quiet period re-announces the trace: the row is replaced.
    wait_until(lambda: "productpage" in row.text_content(), timeout=10, what="productpage in the row")
    row.locator("a").click()
    page.wait_for_selector(READY, timeout=30_000)
    services = page.eval_on_selector_all("#waterfall .wf-row .wf-svc", "els => els.map(e => e.textContent)")
    assert any("productpage" in s for s in services) and any("reviews" in s for s in services)


@pytest.mark.mesh
def test_an_injected_abort_shows_fi_in_words_on_the_ratings_hop(mesh_page, dashboard, mesh):
    page = mesh_page
    # jason goes to reviews v2 (which calls ratings), and ratings aborts jason's requests.
    mesh.apply_ok(sample("virtual-service-reviews-test-v2"))
    mesh.apply_ok(sample("virtual-service-ratings-test-abort"))
    try:
        since = now_us()
        response = mesh.page(user="jason")
        assert response.status_code == 200 and "Ratings service is currently unavailable" in response.text

        def aborted():
            found = api_json(page, "/api/traces?lookback=5m&limit=20&tags=response_flags%3DFI")["traces"]
            return next((t for t in found if t["start_us"] >= since - 1_000_000), None)

        page.goto(dashboard.url + "/traces/")
        summary = wait_until(aborted, timeout=40, interval=0.5, what="jason's aborted trace")
        trace = api_json(page, f"/api/traces/{summary['traceId']}")
        hop = next(s for s in trace["spans"] if any(f["code"] == "FI" for f in s["flags"]))
        meaning = next(f["meaning"] for f in hop["flags"] if f["code"] == "FI")
        page.goto(dashboard.url + summary["url"])
        page.wait_for_selector(READY, timeout=30_000)
        page.click(f"#waterfall .wf-row[data-span-id='{hop['spanId']}'] .wf-op")
        page.wait_for_selector("#span-panel:not([hidden])")
        flags = page.eval_on_selector_all("#span-panel .sp-flag", "els => els.map(e => e.textContent)")
        assert f"FI {meaning}" in flags
        assert "fault" in meaning
        assert "is-error" in page.get_attribute(
            f"#waterfall .wf-row[data-span-id='{hop['spanId']}']", "class"
        )
    finally:
        mesh.delete("virtualservices", "ratings")
        mesh.delete("virtualservices", "reviews")


@pytest.mark.mesh
def test_compare_of_reviews_v1_and_v3_traces_shows_ratings_only_in_v3(mesh_page, dashboard, mesh):
    page = mesh_page
    page.goto(dashboard.url + "/traces/")
    traces = {}
    for version, routing in (("v1", reviews_weights(v1=100)), ("v3", reviews_weights(v3=100))):
        mesh.apply_ok(routing)
        wait_until(lambda v=version: mesh.reviews_version() == v, timeout=30, what=f"reviews {version}")
        since = now_us()
        assert mesh.reviews_version() == version

        def served(v=version, t0=since):
            return newest_trace(page, t0, lambda s: "reviews" in served_names(s) and
                                (("ratings" in served_names(s)) == (v == "v3")))  # fmt: skip

        traces[version] = wait_until(served, timeout=40, interval=0.5, what=f"a reviews-{version} trace")
    mesh.delete("virtualservices", "reviews")
    a, b = traces["v1"]["traceId"], traces["v3"]["traceId"]
    page.goto(dashboard.url + f"/traces/compare/?a={a}&b={b}")
    page.wait_for_selector("body[data-compare-ready='1']", timeout=30_000)
    only_b = page.eval_on_selector_all("#compare-tree tr.side-b", "rows => rows.map(r => r.dataset.key)")
    only_a = page.eval_on_selector_all("#compare-tree tr.side-a", "rows => rows.map(r => r.dataset.key)")
    assert any("ratings" in key for key in only_b), only_b
    assert not any("ratings" in key for key in only_a), only_a
    both = page.eval_on_selector_all("#compare-tree tr.side-both", "rows => rows.map(r => r.dataset.key)")
    assert not any("ratings" in key for key in both)
    assert any("reviews" in key for key in both)
