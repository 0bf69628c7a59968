"""Route editing benchmarks, against the real mesh and the real dashboard (Daphne + Celery + Redis).

- Form to traffic: the traffic-shifting form is POSTed (reviews flipped between 100 % v1 and 100 %
  v3); from the POST returning (the dashboard waits for the proxies' ACKs before answering) to the
  first gateway request served by the new rule (`/api/v1/products/0/reviews` polled back to back on
  a keep-alive connection; each sample includes one poll's own latency). The POST's own duration
  (dry-run-free apply: validation, translation, push, ACKs, the audit revision) is reported too.
- Preview: POST /api/routes/preview of a jason -> v2 rule after 5 minutes of BookInfo traffic at
  5 rps (the built-in generator, 30 % jason): dry run, YAML diff, Envoy route diff and the what-if
  over every recorded call to reviews in the window.

MESHSCOPE_BENCH_QUICK=1: 10 edits and 30 s of traffic at 10 rps (a smoke run, not a figure).
"""

from __future__ import annotations

import os
import time

import requests

from benchmarks.bench_mesh import ms_until_served_by
from benchmarks.harness import Figure, percentile
from benchmarks.meshstack import mesh_and_dashboard
from tests.dashboard.procs import Dashboard
from tests.support.mesh import RunningMesh
from tests.support.samples import sample
from tests.support.waiting import wait_until

QUICK = os.environ.get("MESHSCOPE_BENCH_QUICK") == "1"
EDITS = 10 if QUICK else int(os.environ.get("BENCH_ROUTE_EDITS", "60"))
TRAFFIC_SECONDS = 30 if QUICK else 300
TRAFFIC_RPS = 10 if QUICK else 5
PREVIEWS = 5 if QUICK else 30
FORM = "/routes/services/reviews/traffic-shifting/"


def logged_in(dashboard: Dashboard) -> requests.Session:
    return dashboard.requests_session()


def post_flip(http: requests.Session, dashboard: Dashboard, index: int) -> tuple[str, float, float]:
    """POST the traffic-shifting form sending all of reviews to v1 (even `index`) or v3 (odd):
    (the version, perf_counter before the POST, perf_counter when it returned its 302)."""
    target = ("v1", "v3")[index % 2]
    weights = {f"weight_{v}": 100 if v == target else 0 for v in ("v1", "v2", "v3")}
    sent = time.perf_counter()
    response = http.post(
        dashboard.url + FORM, data={**weights, "apply": "1"}, allow_redirects=False, timeout=30
    )
    returned = time.perf_counter()
    if response.status_code != 302:
        raise RuntimeError(f"the form answered {response.status_code}: {response.text[:500]}")
    return target, sent, returned


def form_to_traffic(mesh: RunningMesh, dashboard: Dashboard) -> tuple[list[float], list[float]]:
    """(ms from the POST returning to the first request on the new rule, ms the POST took) per edit."""
    http = logged_in(dashboard)
    gateway = requests.Session()
    url = f"{mesh.gateway_url}/api/v1/products/0/reviews"
    effects, posts = [], []
    for index in range(EDITS):
        target, sent, returned = post_flip(http, dashboard, index)
        effects.append(ms_until_served_by(gateway, url, target, returned))
        posts.append((returned - sent) * 1000)
    return effects, posts


def preview_times(mesh: RunningMesh, dashboard: Dashboard) -> tuple[list[float], int]:
    mesh.set_traffic(TRAFFIC_RPS)
    time.sleep(TRAFFIC_SECONDS)
    mesh.set_traffic(0)
    http = logged_in(dashboard)
    body = sample("virtual-service-reviews-test-v2").encode()
    times, replayed = [], 0
    for _ in range(PREVIEWS):
        started = time.perf_counter()
        response = http.post(
            dashboard.url + "/api/routes/preview",
            data=body,
            headers={"Content-Type": "application/yaml"},
            timeout=30,
        )
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        whatif = response.json()["whatif"]
        replayed = whatif[0]["total"] if whatif else 0
    return times, replayed


def run() -> list[Figure]:
    with mesh_and_dashboard(MESHSCOPE_WHATIF_MINUTES=str(max(1, TRAFFIC_SECONDS // 60))) as (mesh, dashboard):
        wait_until(mesh.all_in_sync, timeout=30, what="every proxy in sync")
        effects, posts = form_to_traffic(mesh, dashboard)
        mesh.reset()
        mesh.apply_ok(sample("destination-rule-all"))
        previews, replayed = preview_times(mesh, dashboard)
        note = "smoke run (MESHSCOPE_BENCH_QUICK)" if QUICK else ""
        return [
            Figure(
                "form POST return -> first request on the new rule p50",
                percentile(effects, 0.5),
                "ms",
                note=f"{len(effects)} edits {note}",
            ),
            Figure(
                "form POST return -> first request on the new rule p95",
                percentile(effects, 0.95),
                "ms",
                "<= 150 ms",
                percentile(effects, 0.95) <= 150,
                note,
            ),
            Figure(
                "form POST duration p50 (apply, push, ACKs, revision)",
                percentile(posts, 0.5),
                "ms",
                note=note,
            ),
            Figure(
                "preview p50 (YAML diff + Envoy diff + what-if)",
                percentile(previews, 0.5),
                "ms",
                note=f"{replayed} recorded calls replayed, {TRAFFIC_SECONDS} s at {TRAFFIC_RPS} rps {note}",
            ),
            Figure(
                "preview p95 (YAML diff + Envoy diff + what-if)",
                percentile(previews, 0.95),
                "ms",
                "<= 500 ms",
                percentile(previews, 0.95) <= 500,
                note,
            ),
        ]
