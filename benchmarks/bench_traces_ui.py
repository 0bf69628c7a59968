"""Trace explorer in the browser: time to interactive of large traces, and live-tail latency.

Real parts throughout: the local mesh (its tracer, gateway and sidecars), the dashboard (Daphne +
Celery worker + beat + Redis) and Debian's Chromium driven by Playwright.

- Time to interactive, 10,000 / 50,000 / 200,000-span synthetic traces (tests/support/largetrace.py,
  stored in the mesh's tracer): from navigation start of /traces/<id>/ to the first paint of rows
  with the scroll handler attached (the page sets body[data-trace-ready-ms] in the frame after it
  painted them; performance.now() counts from navigation start). Each run then scrolls to the
  middle and checks the rows there were drawn, so the figure is only kept for a page that scrolls.
  Median of RUNS page loads. The split of one load (API answer received, JSON parsed, laid out) is
  given in the note. Targets: <= 1 s at 10k, <= 3 s at 50k, opens at 200k. Jaeger UI's published
  behaviour beside them (anchors: jaeger-ui#645 slow > 2,000 spans, #630 20k+ break the browser,
  #562 / jaeger#2183 ~40k fail to load).
- Live tail: a request at the gateway (no other traffic) to its row on the open /traces/ page,
  REQUESTS requests one after the other; the page records when each row was added (Date.now() in
  a MutationObserver, same machine clock as the request's start). Target p95 <= 2 s; neither Jaeger
  nor Zipkin has a live tail.

MESHSCOPE_BENCH_QUICK=1: 10k and 50k only, one load each, 10 tail requests (a smoke run).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request

from benchmarks.harness import Figure, median, percentile
from benchmarks.meshstack import mesh_and_dashboard
from tests.conftest import find_chromium
from tests.dashboard.procs import Dashboard
from tests.dashboard.routes.test_routes_browser import log_in
from tests.dashboard.test_browser import CHROMIUM_ARGS
from tests.support.largetrace import large_trace, store_in_batches
from tests.support.waiting import wait_until

QUICK = os.environ.get("MESHSCOPE_BENCH_QUICK") == "1"
SIZES = (10_000, 50_000) if QUICK else (10_000, 50_000, 200_000)
RUNS = 1 if QUICK else 3
REQUESTS = 10 if QUICK else 30
TARGET_MS = {10_000: 1000, 50_000: 3000}
JAEGER = {
    10_000: "Jaeger UI: 'extremely slow' past 2,000 spans, ~5 s to open a span's tags at 5,000 (#645)",
    50_000: "Jaeger UI: 20k+ spans break the browser (#630), ~40k fail to load (#562, jaeger#2183)",
    200_000: "Jaeger UI: does not load (fails ~40k); Zipkin Lens fails ~10k (zipkin#3565)",
}
ROWS_JS = """() => Array.from(document.querySelectorAll('#waterfall .wf-row'))
    .filter(r => r.style.display !== 'none').map(r => Number(r.dataset.pos))"""
SPLIT_JS = """() => {
  const mark = name => { const m = performance.getEntriesByName(name)[0]; return m ? Math.round(m.startTime) : null; };
  const api = performance.getEntriesByType('resource').find(r => r.name.includes('/api/traces/'));
  return {response: api ? Math.round(api.responseEnd) : null, bytes: api ? api.encodedBodySize : null,
          parsed: mark('trace-parsed'), laidOut: mark('trace-laid-out')};
}"""
TAIL_OBSERVER_JS = """() => {
  window.__arrived = {};
  new MutationObserver(records => {
    for (const record of records) for (const node of record.addedNodes) {
      if (node.dataset && node.dataset.traceId && !(node.dataset.traceId in window.__arrived))
        window.__arrived[node.dataset.traceId] = Date.now();
    }
  }).observe(document.getElementById('results-body'), {childList: true});
}"""


def store_trace(tracer_url: str, spans: list[dict]) -> None:
    """POST the spans to the tracer in accepted batches, then wait until it answers all of them."""

    def post(batch: list[dict]) -> None:
        request = urllib.request.Request(
            tracer_url + "/api/v2/spans",
            data=json.dumps(batch).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 202

    store_in_batches(post, spans)
    trace_id = spans[0]["traceId"]

    def complete() -> bool:
        with urllib.request.urlopen(f"{tracer_url}/api/v2/trace/{trace_id}", timeout=120) as response:
            return len(json.loads(response.read())) >= len(spans)

    wait_until(complete, timeout=300, interval=1, what=f"{len(spans)} spans stored")


def time_to_interactive(page, url: str, size: int) -> tuple[float, dict]:
    page.goto(url, wait_until="commit", timeout=600_000)
    page.wait_for_selector("body[data-trace-ready='1']", timeout=600_000)
    ready_ms = float(page.evaluate("() => document.body.dataset.traceReadyMs"))
    split = page.evaluate(SPLIT_JS)
    assert page.text_content("#row-count").startswith(f"{size} of {size} spans shown")
    # Interactive means it scrolls: the rows in the middle get drawn.
    page.evaluate("(row) => { document.getElementById('waterfall').scrollTop = 24 * row; }", size // 2)
    wait_until(lambda: size // 2 in page.evaluate(ROWS_JS), timeout=30, what="rows drawn after scrolling")
    return ready_ms, split


def tail_latencies(page, dashboard: Dashboard, mesh) -> list[float]:
    page.goto(dashboard.url + "/traces/?lookback=5m&limit=20")
    page.wait_for_selector("#results[data-loaded='1']", timeout=60_000)
    wait_until(lambda: page.get_attribute("#connection", "data-state") == "live", timeout=30, what="live")
    page.evaluate(TAIL_OBSERVER_JS)
    latencies: list[float] = []
    for _ in range(REQUESTS):
        before = set(page.evaluate("() => Object.keys(window.__arrived)"))
        sent_ms = time.time() * 1000
        assert mesh.page().status_code == 200

        def arrived(seen=before):
            times = page.evaluate("() => window.__arrived")
            fresh = [t for trace_id, t in times.items() if trace_id not in seen]
            return min(fresh) if fresh else None

        latencies.append(wait_until(arrived, timeout=60, interval=0.02, what="the request's row") - sent_ms)
        time.sleep(0.2)
    return latencies


def run() -> list[Figure]:
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("no Chromium: install Debian's chromium to run this benchmark")
    figures: list[Figure] = []
    with mesh_and_dashboard() as (mesh, dashboard):
        traces = {}
        for size in SIZES:
            # An hour old: the tail and the searches never look at it.
            trace_id, spans = large_trace(size, int(time.time() * 1e6) - 3600 * 1_000_000, seed=size)
            store_trace(mesh.tracer_url, spans)
            traces[size] = trace_id
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            context, page, errors = log_in(browser, dashboard, Dashboard.USER, Dashboard.PASSWORD)
            for size in SIZES:
                samples, browser_parts, split = [], [], {}
                for _ in range(RUNS):
                    ready_ms, split = time_to_interactive(
                        page, f"{dashboard.url}/traces/{traces[size]}/", size
                    )
                    samples.append(ready_ms)
                    browser_parts.append(ready_ms - (split.get("response") or 0))
                value = median(samples)
                target = TARGET_MS.get(size)
                load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
                note = (
                    f"median of {len(samples)} ({', '.join(f'{s:.0f}' for s in samples)} ms); last load: API answer "
                    f"{split.get('response')} ms, {(split.get('bytes') or 0) / 1e6:.1f} MB on the wire, parsed "
                    f"{split.get('parsed')} ms, rows laid out {split.get('laidOut')} ms; {load}; {JAEGER[size]}"
                )
                figures.append(
                    Figure(
                        f"trace page, browser part after the API answer, {size:,} spans",
                        median(browser_parts),
                        "ms",
                        note=f"median of {len(browser_parts)}: JSON parse + index + layout + first rows painted "
                        f"(the rest is the API's time, see bench_traces_api); {load}",
                    )
                )
                figures.append(
                    Figure(
                        f"trace page time to interactive, {size:,} spans",
                        value,
                        "ms",
                        f"<= {target} ms" if target else "opens and scrolls",
                        value <= target if target else True,
                        note,
                    )
                )
            latencies = tail_latencies(page, dashboard, mesh)
            context.close()
            browser.close()
            assert errors == [], errors
        p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
        note = (
            f"{len(latencies)} gateway requests; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
            "cores; Jaeger and Zipkin have no live tail"
        )
        figures.append(Figure("live tail: gateway request -> row in the browser p50", p50, "ms", note=note))
        figures.append(
            Figure(
                "live tail: gateway request -> row in the browser p95",
                p95,
                "ms",
                "<= 2000 ms",
                p95 <= 2000,
                note,
            )
        )

    return figures
