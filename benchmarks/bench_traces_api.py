"""Trace API benchmark: `GET /api/traces/<id>` for synthetic traces of 10,000 / 50,000 / 200,000 spans.

The trace lives in a real tracer (meshcore's app and SQLite store, served on a loopback port);
the dashboard's view runs in this process with its real trace source, so each request reads the
trace over HTTP, converts it to the span model, computes self times, the critical path, statistics
and the call graph, and serializes the document. Median of RUNS requests per size, with the payload
size and the split (tracer read / model + analysis / JSON) of one extra request. The process CPU
time (the tracer's thread included) is given too: on a shared machine it varies less than wall time.
Target: <= 1 s at 50,000 spans. Jaeger's figures, from its issues, for comparison: slow past ~2,000
spans (jaeger-ui#645), breaking at 20,000+ (#630), failing to load at ~40,000 (#562, jaeger#2183).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

from benchmarks.harness import Figure, median  # noqa: E402

SIZES = (10_000, 50_000, 200_000)
RUNS = 5
SERVICES = [f"svc-{i:02d}" for i in range(12)]
TARGET_S = {50_000: 1.0}


def synthetic_trace(spans: int, seed: int = 1) -> list[dict[str, Any]]:
    """A Zipkin v2 trace of `spans` spans: a tree (fan-out 1-6) whose children nest in their parents,
    a few error spans and Envoy-like tags (response flags, route rule) on some of them."""
    rng = random.Random(seed)
    trace_id = f"{rng.getrandbits(64) | 1:016x}"
    start = int(time.time() * 1_000_000) - 60_000_000
    result: list[dict[str, Any]] = []
    frontier = [(None, start, 30_000_000, 0)]  # (parent id, start, duration, depth)
    while frontier and len(result) < spans:
        parent, begin, duration, depth = frontier.pop(0)
        span_id = f"{len(result) + 1:016x}"
        service = SERVICES[(depth + len(result)) % len(SERVICES)]
        tags = {"http.status_code": "200", "response_flags": "-", "node_id": f"sidecar~{service}"}
        if rng.random() < 0.01:
            tags.update({"http.status_code": "503", "error": "true", "response_flags": "UH"})
        if rng.random() < 0.05:
            tags.update(
                {
                    "meshscope.route.namespace": "default",
                    "meshscope.route.name": service,
                    "meshscope.route.rule": "0",
                }
            )
        span: dict[str, Any] = {
            "traceId": trace_id,
            "id": span_id,
            "name": f"GET /{service}/{depth}",
            "kind": "CLIENT" if depth % 2 else "SERVER",
            "timestamp": begin,
            "duration": max(1, duration),
            "localEndpoint": {"serviceName": service, "ipv4": "127.0.0.1"},
            "tags": tags,
        }
        if parent:
            span["parentId"] = parent
        result.append(span)
        children = rng.randint(1, 6)
        slot = max(1, duration // (children + 1))
        for k in range(children):
            frontier.append((span_id, begin + k * slot + slot // 4, slot, depth + 1))
    return result


def run() -> list[Figure]:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory

    from dashboard.core.memory import gc_paused
    from dashboard.sources.traces import ZipkinTraceSource
    from dashboard.traces import api, service
    from meshcore.tracer.store import TraceStore
    from meshcore.tracer.validation import normalize_span
    from tests.meshcore.tracer.conftest import ServedTracer

    class User(AnonymousUser):
        is_authenticated = True  # the view itself checks nothing; login is the middleware's job

    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-traces-api-") as tmp:
        store = TraceStore(Path(tmp) / "traces.sqlite3", writer="thread")
        tracer = ServedTracer(store)
        settings.MESHCORE_TRACER_URL = tracer.url
        factory = RequestFactory()
        try:
            for size in SIZES:
                spans = synthetic_trace(size, seed=size)
                trace_id = spans[0]["traceId"]
                for k in range(0, len(spans), 5000):
                    store.write([normalize_span(s) for s in spans[k : k + 5000]])
                assert store.flush(300)
                timings: list[float] = []
                cpu: list[float] = []
                payload = 0
                for _ in range(RUNS):
                    request = factory.get(f"/api/traces/{trace_id}")
                    request.user = User()
                    began, began_cpu = time.perf_counter(), time.process_time()
                    response = api.trace(request, trace_id)
                    timings.append(time.perf_counter() - began)
                    cpu.append(time.process_time() - began_cpu)
                    assert response.status_code == 200, response.content[:200]
                    payload = len(response.content)
                source = ZipkinTraceSource(tracer.url, 120)
                with gc_paused():  # as the view does
                    t0 = time.perf_counter()
                    _, model = service.load_trace(source, trace_id)
                    t1 = time.perf_counter()
                    document = service.trace_detail(model, api.route_url)
                    t2 = time.perf_counter()
                    api.json_response(document)
                    t3 = time.perf_counter()
                target = TARGET_S.get(size)
                best = median(timings)
                split = (
                    f"CPU {median(cpu):.2f} s (tracer thread included); one request: read+convert {t1 - t0:.2f} s, "
                    f"analysis {t2 - t1:.2f} s, JSON {t3 - t2:.2f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
                )
                print(
                    f"{size} spans: median {best:.3f} s ({split}), {payload / 1e6:.1f} MB",
                    file=sys.stderr,
                    flush=True,
                )
                figures.append(
                    Figure(
                        f"GET /api/traces/<id>, {size:,} spans",
                        best * 1000,
                        "ms",
                        f"<= {target * 1000:.0f} ms" if target else "opens",
                        best <= target if target else True,
                        f"median of {RUNS}; {split}; Jaeger UI: slow > 2,000, fails ~40,000",
                    )
                )
                figures.append(
                    Figure(
                        f"payload, {size:,} spans",
                        payload / 1e6,
                        "MB",
                        note=f"{payload / size:.0f} bytes per span",
                    )
                )
        finally:
            tracer.stop()
            store.close()
    return figures
