"""The trace pages' pure JavaScript helpers, run in a real Chromium on fixed inputs with known answers.

No Node runner exists here: each helper file is loaded into a blank page exactly as the browser
loads it for the pages, and called through `page.evaluate`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboard.test_browser import CHROMIUM_ARGS

pytestmark = pytest.mark.browser
JS = Path(__file__).resolve().parents[3] / "static" / "js"
HELPERS = ["traces/format.js", "traces/layout.js", "traces/minimap.js", "traces/callgraph.js",
           "traces/tail.js", "traces/search.js", "traces/compare.js"]  # fmt: skip

# A (0..100 µs) has children B (10..40, with child C 15..20) and D (50..150, outliving A).
SMALL = """[
  {spanId: 'a', parentId: null, service: 'productpage', name: 'GET /productpage', start_us: 0, duration_us: 100,
   depth: 0, error: false, tags: {'http.status_code': '200'}},
  {spanId: 'b', parentId: 'a', service: 'reviews', name: 'GET /reviews/0', start_us: 10, duration_us: 30,
   depth: 1, error: false, tags: {'http.status_code': '200', 'response_flags': '-'}},
  {spanId: 'c', parentId: 'b', service: 'ratings', name: 'GET /ratings/0', start_us: 15, duration_us: 5,
   depth: 2, error: true, tags: {'http.status_code': '500', 'response_flags': 'FI'}},
  {spanId: 'd', parentId: 'a', service: 'details', name: 'GET /details/0', start_us: 50, duration_us: 100,
   depth: 1, error: false, tags: {'http.status_code': '200'}},
]"""


@pytest.fixture(scope="module")
def page(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.set_content("<!doctype html><body></body>")
        for name in HELPERS:
            page.add_script_tag(path=str(JS / name))
        yield page
        browser.close()
        assert errors == [], errors


def run(page, body: str):
    """Evaluate `body` (a function body using T = MeshscopeTraces and spans = SMALL) in the page."""
    return page.evaluate(f"() => {{ const T = window.MeshscopeTraces; const spans = {SMALL}; {body} }}")


def test_index_has_parents_and_subtree_ranges(page):
    result = run(
        page,
        "const ix = T.layout.buildIndex(spans); return {parent: Array.from(ix.parent), end: Array.from(ix.subtreeEnd),"
        " bounds: [ix.traceStart, ix.traceEnd], sub: T.layout.subtreeBounds(ix, 1), all: T.layout.subtreeBounds(ix, -1)};",
    )
    assert result == {
        "parent": [-1, 0, 1, 0],
        "end": [4, 3, 3, 4],
        "bounds": [0, 150],
        "sub": [10, 40],
        "all": [0, 150],
    }


def test_visible_rows_collapse_reroot_depth_and_short_spans(page):
    result = run(
        page,
        """const ix = T.layout.buildIndex(spans);
        const rows = (view) => { const r = T.layout.visibleRows(ix, Object.assign({root: -1, collapsed: new Uint8Array(4),
              maxDepth: null, minDuration_us: 0}, view)); return [Array.from(r.rows), r.hidden]; };
        const folded = new Uint8Array(4); folded[1] = 1;
        return {all: rows({}), collapsedB: rows({collapsed: folded}), rerootB: rows({root: 1}),
                depth1: rows({maxDepth: 1}), depth0: rows({maxDepth: 0}), short10: rows({minDuration_us: 10}),
                short40: rows({minDuration_us: 40}), rerootShort: rows({root: 1, minDuration_us: 1000}),
                foldedByDepth: T.layout.isFolded(ix, {root: -1, maxDepth: 1}, 1),
                leafNeverFolded: T.layout.isFolded(ix, {root: -1, maxDepth: 0}, 2)};""",
    )
    assert result["all"] == [[0, 1, 2, 3], 0]
    assert result["collapsedB"] == [[0, 1, 3], 0]
    assert result["rerootB"] == [[1, 2], 0]
    assert result["depth1"] == [[0, 1, 3], 0]
    assert result["depth0"] == [[0], 0]
    assert result["short10"] == [[0, 1, 3], 1]
    assert result["short40"] == [[0, 3], 2]
    assert result["rerootShort"] == [[1], 1], "the root row of a re-rooted view stays"
    assert result["foldedByDepth"] is True and result["leafNeverFolded"] is False


def test_reveal_unfolds_ancestors_and_leaves_a_view_that_shows_the_span(page):
    result = run(
        page,
        """const ix = T.layout.buildIndex(spans);
        const view = {root: 3, collapsed: new Uint8Array([1, 1, 0, 0]), maxDepth: 0, minDuration_us: 50};
        T.layout.revealSpan(ix, view, 2);
        return {view: {root: view.root, collapsed: Array.from(view.collapsed), maxDepth: view.maxDepth,
                       min: view.minDuration_us}, rows: Array.from(T.layout.visibleRows(ix, view).rows)};""",
    )
    assert result["view"] == {"root": -1, "collapsed": [0, 0, 0, 0], "maxDepth": 2, "min": 0}
    assert 2 in result["rows"]


def test_a_50000_span_chain_needs_no_recursion(page):
    result = page.evaluate(
        """() => { const T = window.MeshscopeTraces; const spans = [];
        for (let i = 0; i < 50000; i++) spans.push({spanId: 's' + i, parentId: i ? 's' + (i - 1) : null, service: 'svc',
            name: 'op', start_us: i, duration_us: 50000 - i, depth: i, tags: {}});
        const ix = T.layout.buildIndex(spans);
        const all = T.layout.visibleRows(ix, {root: -1, collapsed: new Uint8Array(ix.n), maxDepth: null, minDuration_us: 0});
        const cut = T.layout.visibleRows(ix, {root: 100, collapsed: new Uint8Array(ix.n), maxDepth: 10, minDuration_us: 0});
        return [ix.subtreeEnd[0], ix.parent[49999], all.rows.length, cut.rows.length, cut.rows[0]]; }"""
    )
    assert result == [50000, 49998, 50000, 11, 100]


def test_window_range_bar_and_ticks(page):
    result = run(
        page,
        """return {range: T.layout.windowRange(100, 240, 24, 1000, 2), end: T.layout.windowRange(23900, 240, 24, 1000, 2),
                inside: T.layout.bar(50, 100, 0, 100), outside: T.layout.bar(200, 10, 0, 100),
                zero: T.layout.bar(10, 0, 0, 100).width > 0, ticks: T.layout.ticks(100, 300, 50, 2)};""",
    )
    assert result["range"] == [2, 17]
    assert result["end"] == [993, 1000]
    assert result["inside"] == {"left": 0.5, "width": 0.5}
    assert result["outside"]["width"] == 0
    assert result["zero"] is True
    assert result["ticks"] == [
        {"fraction": 0, "offset_us": 50},
        {"fraction": 0.5, "offset_us": 150},
        {"fraction": 1, "offset_us": 250},
    ]


def test_span_search_tag_highlight_and_critical_marks(page):
    result = run(
        page,
        """const ix = T.layout.buildIndex(spans);
        const s = (q) => Array.from(T.layout.searchSpans(spans, q).marks);
        const t = (q) => Array.from(T.layout.tagSpans(spans, q).marks);
        const critical = T.layout.markIds(ix, ['a', 'b', 'c', 'unknown']);
        return {ratings: s('RATINGS'), two: s('reviews status_code=200'), tag: s('response_flags=fi'), none: s('  '),
                tagExact: t('http.status_code=500'), tagKey: t('response_flags'), tagMissing: t('nope'),
                critical: Array.from(critical), next: T.layout.nextMarked(new Int32Array([0, 1, 2, 3]), critical, 2, 1),
                prev: T.layout.nextMarked(new Int32Array([0, 1, 2, 3]), critical, 0, -1),
                nothing: T.layout.nextMarked(new Int32Array([3]), critical, 0, 1)};""",
    )
    assert result["ratings"] == [0, 0, 1, 0]
    assert result["two"] == [0, 1, 0, 0]
    assert result["tag"] == [0, 0, 1, 0]
    assert result["none"] == [0, 0, 0, 0]
    assert result["tagExact"] == [0, 0, 1, 0]
    assert result["tagKey"] == [0, 1, 1, 0]
    assert result["tagMissing"] == [0, 0, 0, 0]
    assert result["critical"] == [1, 1, 1, 0]
    assert result["next"] == 0, "wraps past the end"
    assert result["prev"] == 2, "wraps before the start"
    assert result["nothing"] == -1


def test_formatting(page):
    result = run(
        page,
        """const f = T.format; const colour = f.serviceColours(['a', 'b']);
        return [f.duration(850), f.duration(1500), f.duration(12345), f.duration(1250000), f.duration(125e6),
                f.sidecarName({node_id: 'sidecar~127.0.0.1~reviews-v1.default~default.svc.cluster.local'}),
                f.sidecarName({}), f.sidecarName({node_id: 'garbage'}), colour('a') === colour('a'), colour('a') !== colour('b'),
                f.percent(0.1234), f.meshService('reviews.default'), f.meshService('istio-ingressgateway.istio-system'),
                f.meshService('plain')];""",
    )
    assert result == ["850 µs", "1.5 ms", "12.3 ms", "1.25 s", "2 min 5 s", "reviews-v1", None, None, True, True,
                      "12.3 %", "reviews", "istio-ingressgateway", "plain"]  # fmt: skip


def test_minimap_drag_selects_a_time_window(page):
    result = run(page, "return [T.minimap.zoomWindow(60, 10, 100, 0, 1000), T.minimap.zoomWindow(10, 11, 100, 0, 1000),"
                       " T.minimap.zoomWindow(-20, 500, 100, 1000, 2000)];")  # fmt: skip
    assert result == [[100, 600], None, [1000, 2000]]


def test_call_graph_columns_survive_cycles(page):
    result = run(
        page,
        """const cols = T.callgraph.layers({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c'}, {id: 'x'}],
             edges: [{source: 'a', target: 'b'}, {source: 'b', target: 'c'}, {source: 'a', target: 'c'},
                     {source: 'c', target: 'a'}, {source: 'x', target: 'x'}]});
        const cycle = T.callgraph.layers({nodes: [{id: 'p'}, {id: 'q'}], edges: [{source: 'p', target: 'q'}, {source: 'q', target: 'p'}]});
        return [Object.fromEntries(cols), Object.fromEntries(cycle)];""",
    )
    assert result == [{"a": 0, "b": 1, "c": 1, "x": 0}, {"p": 0, "q": 1}]


def test_tail_buffer_caps_dedupes_and_pauses(page):
    result = run(
        page,
        """const b = new T.tail.TailBuffer(3);
        b.seed([{traceId: 's1'}, {traceId: 's1'}, {traceId: 's2'}]);
        const seeded = b.rows.map(r => r.traceId);
        ['t1', 't2', 't3', 't4'].forEach(id => b.add({traceId: id}));
        const capped = b.rows.map(r => r.traceId);
        b.add({traceId: 't3', spanCount: 9});
        const moved = b.rows.map(r => r.traceId);
        b.pause(); const changed = b.add({traceId: 'p1'}); b.add({traceId: 'p2'});
        const whilePaused = b.rows.map(r => r.traceId);
        b.resume();
        return {seeded, capped, moved, changed, whilePaused, resumed: b.rows.map(r => r.traceId), dropped: b.dropped,
                of: [T.tail.summariesOf({traceId: 'x'}).length, T.tail.summariesOf([{traceId: 'x'}, {traceId: 'y'}]).length,
                     T.tail.summariesOf({traces: [{traceId: 'z'}]}).length, T.tail.summariesOf(null).length]};""",
    )
    assert result["seeded"] == ["s1", "s2"]
    assert result["capped"] == ["t4", "t3", "t2"]
    assert result["moved"] == ["t3", "t4", "t2"]
    assert result["changed"] is False
    assert result["whilePaused"] == ["t3", "t4", "t2"]
    assert result["resumed"] == ["p2", "p1", "t3"]
    assert result["of"] == [1, 2, 1, 0]


def test_tail_status_banner_text(page):
    result = run(
        page,
        """return [T.tail.statusText({behind: false, source_down: false, error: null, cursor_age_s: 0.4}),
                   T.tail.statusText({behind: true, source_down: false, error: null, cursor_age_s: 12.4}),
                   T.tail.statusText({behind: false, source_down: true, error: 'connection refused', cursor_age_s: 30})];""",
    )
    assert result[0] is None
    assert result[1] == "The live tail is behind by 12 s."
    assert result[2].startswith("The trace source is down: connection refused")


def test_search_sorts_params_and_scatter(page):
    result = run(
        page,
        """const rows = [{traceId: 'a', start_us: 1, duration_us: 50, spanCount: 3, errorCount: 0, url: '/a'},
                         {traceId: 'b', start_us: 3, duration_us: 10, spanCount: 9, errorCount: 2, url: '/b'},
                         {traceId: 'c', start_us: 2, duration_us: 90, spanCount: 1, errorCount: 1, url: '/c'}];
        const ids = (sort) => T.search.sortSummaries(rows, sort).map(r => r.traceId);
        const plot = T.search.scatterTraces(rows);
        return {recent: ids('recent'), longest: ids('longest'), spans: ids('spans'), errors: ids('errors'), bogus: ids('x'),
                params: T.search.params('?service=reviews&tags=&limit=20&q='),
                plot: plot.map(p => [p.name, p.customdata, p.y])};""",
    )
    assert result["recent"] == ["b", "c", "a"]
    assert result["longest"] == ["c", "a", "b"]
    assert result["spans"] == ["b", "a", "c"]
    assert result["errors"] == ["b", "c", "a"]
    assert result["bogus"] == ["b", "c", "a"]
    assert result["params"] == {"service": "reviews", "limit": "20"}
    assert result["plot"] == [["traces", ["/a"], [0.05]], ["with errors", ["/b", "/c"], [0.01, 0.09]]]


def test_compare_merges_paths_in_tree_order(page):
    result = run(
        page,
        """const r = {onlyA: ['p:GET / > r:GET /r > ra:GET /ra'], onlyB: ['p:GET / > d:GET /d'],
                     both: [{key: 'p:GET /', a_us: 100, b_us: 300, diff_us: 200},
                            {key: 'p:GET / > r:GET /r', a_us: 50, b_us: 40, diff_us: -10}]};
        return {rows: T.compare.mergedRows(r).map(x => [x.label, x.depth, x.side]),
                diffs: T.compare.biggestDiffs(r, 1).map(x => x.key)};""",
    )
    assert result["rows"] == [
        ["p:GET /", 0, "both"],
        ["d:GET /d", 1, "b"],
        ["r:GET /r", 1, "both"],
        ["ra:GET /ra", 2, "a"],
    ]
    assert result["diffs"] == ["p:GET /"]
