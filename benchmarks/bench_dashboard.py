"""Dashboard benchmarks: freshness, scale, websocket fan-out and the poller's cost.

freshness  a burst of requests at the real mesh's gateway -> the edge's rate changes in a real
           Chromium showing the live map (real Daphne, Celery worker + beat at 1 s, Redis).
           p95 over BURSTS bursts; Kiali's fastest refresh is 10 s (default 60 s).
scale      a synthetic mesh (generated Envoy stats, no real Envoys) of 1,000 services with one
           workload each and 5,000 edges: one poll (parse stats + TrafficMap + appenders + layout)
           and the figure render, median of several polls; then Plotly.newPlot / Plotly.react of
           that figure in Chromium.
fan-out    200 websocket clients on a real Daphne; the time from publication (group_send on the
           Redis channel layer) to the last client receiving it, over several publications.
cost       CPU seconds and memory of polling the real mesh's Envoys in this process, per sidecar
           polled per second (at the default 1 s interval), and the synthetic mesh for comparison.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

from benchmarks.harness import Figure, median, percentile  # noqa: E402

BURSTS = 12
BURST_REQUESTS = 20
FANOUT_CLIENTS = 200
FANOUT_PUBLICATIONS = 5
SCALE_SERVICES = 1000
SCALE_EDGES = 5000
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip


def chromium() -> str | None:
    from tests.conftest import find_chromium

    return find_chromium()


# --- synthetic mesh ---------------------------------------------------------------------------


def synthetic_mesh(services: int = SCALE_SERVICES, edges: int = SCALE_EDGES):
    """A registry of `services` services (one v1 workload each) and an admin whose stats grow.

    Edges: one service -> workload edge per service (from each workload's inbound cluster) and
    `edges - services` caller -> service edges spread over the workloads' outbound clusters.
    Returns (registry source, envoy admin, advance(seconds)) where advance moves every counter.
    """
    from dashboard.sources.envoy import RecordedEnvoyAdmin
    from dashboard.sources.registry import (
        GatewayInfo,
        MeshRegistry,
        ServiceInfo,
        StaticRegistry,
        WorkloadInfo,
    )

    names = [f"svc-{i:04d}" for i in range(services)]
    registry = MeshRegistry(
        services=tuple(ServiceInfo(n, fqdn=f"{n}.default.svc.cluster.local") for n in names),
        workloads=tuple(
            WorkloadInfo(f"{n}-v1", n, n, "v1", admin_port=20000 + i, inbound_port=30000 + i)
            for i, n in enumerate(names)
        ),
        gateway=GatewayInfo(admin_port=19999),
    )
    outbound_per_workload = (edges - services) // services
    # Workload i calls the next `outbound_per_workload` services: a layered-ish call graph.
    calls = {
        f"{n}-v1": [names[(i + k + 1) % services] for k in range(outbound_per_workload)]
        for i, n in enumerate(names)
    }
    calls[registry.gateway.name] = [names[0]]
    counters = {"n": 0.0}
    quantiles = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]

    def document(envoy: str) -> str:
        total = int(counters["n"])
        clusters = [f"outbound|9080||{target}.default.svc.cluster.local" for target in calls.get(envoy, [])]
        if envoy != registry.gateway.name:
            clusters.append("inbound|9080||")
        stats = []
        histograms = []
        for cluster in clusters:
            stats += [
                {"name": f"cluster.{cluster}.upstream_rq_total", "value": total},
                {"name": f"cluster.{cluster}.upstream_rq_2xx", "value": total - total // 100},
                {"name": f"cluster.{cluster}.upstream_rq_5xx", "value": total // 100},
            ]
            histograms.append({"name": f"cluster.{cluster}.upstream_rq_time",
                               "values": [{"interval": 1 + q / 10, "cumulative": 1 + q / 10} for q in quantiles]})  # fmt: skip
        stats.append({"histograms": {"supported_quantiles": quantiles, "computed_quantiles": histograms}})
        return json.dumps({"stats": stats})

    cache: dict[tuple[str, int], str] = {}

    def stats_of(envoy: str):
        def answer():
            key = (envoy, int(counters["n"]))
            if key not in cache:
                cache[key] = document(envoy)
            # Decode JSON on every poll as the real adapter does.
            return json.loads(cache[key])

        return answer

    addresses = {registry.gateway.admin_address: registry.gateway.name}
    addresses.update({w.admin_address: w.name for w in registry.workloads})
    admin = RecordedEnvoyAdmin({address: {"stats": stats_of(name)} for address, name in addresses.items()})

    def advance(requests: float) -> None:
        counters["n"] += requests
        cache.clear()

    return StaticRegistry(registry), admin, advance


def bench_scale() -> tuple[list[Figure], dict]:
    """Two views of one poll at scale: the map build alone (deltas -> TrafficMap -> appenders ->
    layout, from already-decoded samples: the target), and the whole poll_once including decoding
    1,001 /stats answers and the state round trips (what one worker spends per poll)."""
    from dashboard.topology.appenders import AppenderContext
    from dashboard.topology.poll import PollConfig, build_map, envoy_targets, poll_once, read_envoys
    from dashboard.topology.render import render_figure
    from dashboard.topology.state import MemoryPollState

    source, admin, advance = synthetic_mesh()
    registry = source.registry()
    targets = envoy_targets(registry)
    clock = {"t": 1000.0}

    def tick() -> float:
        return clock["t"]

    build_times, poll_times, render_times, cpu_times = [], [], [], []
    advance(50)
    previous, _ = read_envoys(admin, targets, 1, clock=tick)
    positions = None
    traffic_map = None
    for _ in range(8):
        advance(50)
        clock["t"] += 1.0
        current, _ = read_envoys(admin, targets, 1, clock=tick)
        started = time.perf_counter()
        traffic_map, positions = build_map(
            AppenderContext(registry=registry),
            current,
            previous,
            taken_at=clock["t"],
            previous_positions=positions,
        )
        build_times.append(time.perf_counter() - started)
        previous = current
        started = time.perf_counter()
        figure = render_figure(traffic_map)
        render_times.append(time.perf_counter() - started)
    state = MemoryPollState()
    for i in range(8):
        advance(50)
        clock["t"] += 1.0
        started, cpu_started = time.perf_counter(), time.process_time()
        poll_once(source, admin, state, PollConfig(concurrency=1), clock=tick)
        if i:  # the first poll places every node and has no rates: not a steady-state poll
            poll_times.append(time.perf_counter() - started)
            cpu_times.append(time.process_time() - cpu_started)
    assert traffic_map is not None
    nodes, edges = len(traffic_map.nodes), len(traffic_map.edges)
    envoys = len(targets)
    build = median(build_times[1:])
    figures = [
        Figure("scale: build the map (1k services, 5k edges)", build * 1000, "ms", "<= 200 ms", build <= 0.2,
               f"median of {len(build_times) - 1} polls; {nodes} nodes, {edges} edges; deltas+TrafficMap+appenders+layout"),
        Figure("scale: whole poll incl. decoding 1,001 stats answers", median(poll_times) * 1000, "ms", "", None,
               "poll_once in one thread, in-memory state; JSON decode of the Envoy answers dominates"),
        Figure("scale: render Plotly figure (server)", median(render_times) * 1000, "ms", "", None, "median"),
        Figure("cost: synthetic poller CPU per sidecar per poll", median(cpu_times) / envoys * 1000, "ms", "", None,
               f"{envoys} Envoys, stats in memory (no HTTP)"),
    ]  # fmt: skip
    return figures, {"figure": figure}


def bench_browser_render(figure: dict) -> list[Figure]:
    path = chromium()
    if not path:
        return [
            Figure("scale: Chromium render", float("nan"), "ms", "<= 1500 ms", None, "skipped: no Chromium")
        ]
    import plotly
    from playwright.sync_api import sync_playwright

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    firsts, updates = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        for _ in range(3):
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_content('<div id="map" style="width:1500px;height:950px"></div>')
            page.add_script_tag(path=str(plotly_js))
            page.evaluate("(fig) => { window.fig = fig; }", figure)
            first = page.evaluate("""async () => { const t = performance.now();
                await Plotly.newPlot('map', window.fig.data, window.fig.layout); return performance.now() - t; }""")
            update = page.evaluate("""async () => {
                const fig = JSON.parse(JSON.stringify(window.fig));
                const labels = fig.data.find(t => t.meta.role === 'labels');
                labels.text = labels.text.map(t => t + ' ');
                const t = performance.now();
                await Plotly.react('map', fig.data, fig.layout); return performance.now() - t; }""")
            firsts.append(first)
            updates.append(update)
            page.close()
        browser.close()
    return [
        Figure("scale: Chromium first render (5k edges)", median(firsts), "ms", "<= 1500 ms", median(firsts) <= 1500, "Plotly.newPlot, median of 3"),
        Figure("scale: Chromium update (5k edges)", median(updates), "ms", "<= 1500 ms", median(updates) <= 1500, "Plotly.react, median of 3"),
    ]  # fmt: skip


# --- real processes ---------------------------------------------------------------------------


def bench_fanout(dashboard, redis_url: str) -> list[Figure]:
    import aiohttp
    from channels_redis.core import RedisChannelLayer

    opener = dashboard.login()
    jar = next(h.cookiejar for h in opener.handlers if hasattr(h, "cookiejar"))
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    ws_url = dashboard.url.replace("http://", "ws://") + "/ws/topology/"

    async def run() -> tuple[list[float], int]:
        layer = RedisChannelLayer(hosts=[redis_url])
        latencies: list[float] = []
        complete = 0
        # aiohttp allows 100 connections per session by default; websockets hold theirs.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            sockets = await asyncio.gather(
                *(session.ws_connect(ws_url, headers={"Cookie": cookie, "Origin": dashboard.url}, max_msg_size=0)
                  for _ in range(FANOUT_CLIENTS))
            )  # fmt: skip

            async def receive_marker(ws, marker: int) -> float:
                while True:
                    message = await ws.receive_json(timeout=10)
                    if message.get("type") == "topology.updated" and message["data"].get("marker") == marker:
                        return time.time()

            print(f"fan-out: {len(sockets)} clients connected", file=sys.stderr, flush=True)
            await asyncio.sleep(1.0)
            for marker in range(FANOUT_PUBLICATIONS):
                receivers = [asyncio.create_task(receive_marker(ws, marker)) for ws in sockets]
                await asyncio.sleep(0.2)
                published = time.time()
                await layer.group_send("topology", {"type": "topology.updated", "data": {"marker": marker}})
                done = await asyncio.gather(*receivers, return_exceptions=True)
                arrivals = [t for t in done if isinstance(t, float)]
                complete += len(arrivals) == FANOUT_CLIENTS
                latencies.append((max(arrivals) - published) * 1000 if arrivals else float("inf"))
            print(f"fan-out: latencies {latencies}", file=sys.stderr, flush=True)
            await asyncio.wait_for(
                asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True), 30
            )
        await layer.flush()
        return latencies, complete

    latencies, complete = asyncio.run(run())
    worst = max(latencies)
    return [
        Figure("fan-out: last of 200 clients receives", median(latencies), "ms", "<= 500 ms", worst <= 500 and complete == FANOUT_PUBLICATIONS,
               f"median over {FANOUT_PUBLICATIONS} publications; worst {worst:.0f} ms; all clients got all: {complete == FANOUT_PUBLICATIONS}"),
    ]  # fmt: skip


def bench_freshness(dashboard, mesh) -> list[Figure]:
    path = chromium()
    if not path:
        return [
            Figure(
                "freshness: burst -> browser map", float("nan"), "s", "<= 1.5 s", None, "skipped: no Chromium"
            )
        ]
    from playwright.sync_api import sync_playwright

    from tests.support.waiting import wait_until

    edge = "gw:istio-ingressgateway->svc:productpage"
    rate_js = """(edgeId) => { const div = document.getElementById('map'); if (!div.data) return null;
        const l = div.data.find(t => t.meta && t.meta.role === 'labels'); if (!l) return null;
        const i = l.customdata.findIndex(cd => cd[0] === edgeId); return i < 0 ? null : l.text[i]; }"""
    # The page records when the label of the gateway edge last went from idle to busy.
    watcher_js = """(edgeId) => { window.__busySince = null; const div = document.getElementById('map');
        const check = () => { const l = div.data && div.data.find(t => t.meta && t.meta.role === 'labels');
          if (!l) return; const i = l.customdata.findIndex(cd => cd[0] === edgeId);
          const busy = i >= 0 && parseFloat(l.text[i]) > 0;
          if (busy && window.__busySince === null) window.__busySince = Date.now(); };
        div.on('plotly_afterplot', check); }"""

    def rate(page) -> float | None:
        text = page.evaluate(rate_js, edge)
        try:
            return float(text.split()[0]) if text else None
        except ValueError:
            return None

    delays = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(dashboard.url + "/")
        page.fill("input[name=username]", dashboard.USER)
        page.fill("input[name=password]", dashboard.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#map .main-svg", timeout=30_000)
        wait_until(lambda: page.get_attribute("#connection", "data-state") == "live", timeout=30)
        page.evaluate(watcher_js, edge)
        for _ in range(BURSTS):
            wait_until(
                lambda: rate(page) == 0.0 or rate(page) is None, timeout=30, interval=0.1, what="idle edge"
            )
            page.evaluate("() => { window.__busySince = null; }")
            started = time.time()
            for _ in range(BURST_REQUESTS):
                urllib.request.urlopen(mesh.gateway_url + "/productpage", timeout=10).read()
            wait_until(
                lambda: page.evaluate("() => window.__busySince") is not None, timeout=30, interval=0.02
            )
            delays.append(page.evaluate("() => window.__busySince") / 1000 - started)
        browser.close()
    p95 = percentile(delays, 0.95)
    return [
        Figure("freshness: burst at gateway -> browser map (p95)", p95, "s", "<= 1.5 s", p95 <= 1.5,
               f"{BURSTS} bursts of {BURST_REQUESTS} requests; median {median(delays):.2f} s; poll every 1 s; Kiali refresh >= 10 s"),
    ]  # fmt: skip


def bench_cost(mesh, dashboard) -> list[Figure]:
    import psutil

    from dashboard.sources.envoy import HttpEnvoyAdmin
    from dashboard.sources.registry import ControlPlaneRegistry
    from dashboard.topology.poll import envoy_targets, poll_once
    from dashboard.topology.state import MemoryPollState
    from meshcore.apitoken import read_token

    source = ControlPlaneRegistry(mesh.api_url, 2.0, token=read_token(mesh.token_file))
    envoys = len(envoy_targets(source.registry()))
    state = MemoryPollState()
    poll_once(source, HttpEnvoyAdmin(2.0), state)
    cpu, wall = [], []
    for _ in range(20):
        started, cpu_started = time.perf_counter(), time.process_time()
        poll_once(source, HttpEnvoyAdmin(2.0), state)
        cpu.append(time.process_time() - cpu_started)
        wall.append(time.perf_counter() - started)
    per_sidecar_ms = median(cpu) / envoys * 1000
    worker = psutil.Process(dashboard.worker.pid)
    rss = worker.memory_info().rss / 2**20
    return [
        Figure("cost: poller CPU per sidecar polled per second", per_sidecar_ms / 10, "% of a core", "", None,
               f"{per_sidecar_ms:.2f} ms CPU per sidecar per poll at 1 poll/s; {envoys} real Envoys over HTTP; poll wall {median(wall) * 1000:.0f} ms"),
        Figure("cost: Celery worker RSS (polling the mesh)", rss, "MiB", "", None,
               f"{rss / envoys:.1f} MiB per sidecar polled (fixed cost dominates at {envoys})"),
        Figure("cost: this process max RSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MiB", "", None,
               "includes the 1k-service synthetic mesh"),
    ]  # fmt: skip


def run() -> list[Figure]:
    import django

    django.setup()
    from dashboard.redis_server import start_redis
    from tests.dashboard.procs import Dashboard
    from tests.support.mesh import start_mesh, stop_mesh

    figures, scale = bench_scale()
    figures += bench_browser_render(scale["figure"])
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp_name:
        tmp = Path(tmp_name)
        redis = start_redis(log_path=tmp / "redis.log")
        mesh = dashboard = None
        try:
            (tmp / "dash").mkdir()
            mesh = start_mesh(tmp)
            dashboard = Dashboard(
                tmp / "dash", redis.url, mesh.api_url, MESHCORE_API_TOKEN_FILE=str(mesh.token_file)
            )
            figures += bench_freshness(dashboard, mesh)
            figures += bench_cost(mesh, dashboard)
            figures += bench_fanout(dashboard, redis.url)
        finally:
            if dashboard is not None:
                dashboard.stop()
            if mesh is not None:
                stop_mesh(mesh)
            redis.stop()
    return figures


if __name__ == "__main__":
    for figure in run():
        print(figure)
