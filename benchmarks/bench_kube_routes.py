"""Route editing in cluster mode, against a real kube-apiserver and the real dashboard (Daphne +
Celery + Redis, MESHSCOPE_CLUSTER=kubernetes) whose account has exactly the shipped ClusterRole; the
registry is read from the same API server, loaded with BookInfo's Kubernetes objects.

- Form POST -> object replaced: the traffic-shifting form is POSTed (reviews flipped between 100 %
  v1 and 100 % v3). The dashboard answers once the API server has stored the replaced
  VirtualService (checks, server dry run, replace, audit revision), so the POST's duration is the
  figure; after each POST the object is read back with the client to prove it (not timed).
- Revision read: `KubernetesRouteStore.revision()`, what every topology poll and every sync tick
  pays (one watch-cache list per Istio kind), with 50 VirtualServices stored.
- kubectl-style change -> audit log: a VirtualService created straight in the API server until it
  is listed in /api/routes/revisions?source=external (bounded by the beat's sync interval, 2 s).

Skipped (no figures) where no kube-apiserver was built (`make kube-apiserver`).
MESHSCOPE_BENCH_QUICK=1: 10 edits, 3 external changes (a smoke run, not a figure).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.bench_routes import post_flip
from benchmarks.harness import Figure, percentile
from tests.dashboard.procs import Dashboard
from tests.support import kubebookinfo
from tests.support.kubeapi import find_binaries, start_kube, stop_kube
from tests.support.kubeistio import custom_api, read_object, virtual_service
from tests.support.kuberoles import bind_shipped_role
from tests.support.ports import free_port
from tests.support.waiting import wait_until

QUICK = os.environ.get("MESHSCOPE_BENCH_QUICK") == "1"
EDITS = 10 if QUICK else int(os.environ.get("BENCH_KUBE_ROUTE_EDITS", "60"))
EXTERNAL = 3 if QUICK else 10
REVISION_READS = 20 if QUICK else 200
NETWORKING = ("networking.istio.io", "v1")


def form_posts(kube, dashboard: Dashboard, namespace: str) -> list[float]:
    http = dashboard.requests_session()
    times = []
    for index in range(EDITS):
        target, sent, returned = post_flip(http, dashboard, index)
        times.append((returned - sent) * 1000)
        served = read_object(kube, "virtualservices", "reviews", namespace)
        subsets = {
            d["destination"]["subset"] for d in served["spec"]["http"][0]["route"] if d.get("weight", 100)
        }
        if subsets != {target}:
            raise RuntimeError(f"the API server holds {subsets}, not {target}, after the POST")
    return times


def revision_reads(kube) -> list[float]:
    from dashboard.sources.kuberoutes import KubernetesRouteStore

    api = custom_api(kube)
    for index in range(50):
        api.create_namespaced_custom_object(
            *NETWORKING, "default", "virtualservices", virtual_service(f"bench-{index}", f"bench-{index}")
        )
    store = KubernetesRouteStore(kube.client(), 10.0)
    times = []
    for _ in range(REVISION_READS):
        started = time.perf_counter()
        store.revision()
        times.append((time.perf_counter() - started) * 1000)
    return times


def external_to_audit(kube, dashboard: Dashboard) -> list[float]:
    http = dashboard.requests_session()
    api = custom_api(kube)
    times = []
    for index in range(EXTERNAL):
        name = f"external-{index}"
        started = time.perf_counter()
        api.create_namespaced_custom_object(
            *NETWORKING, "default", "virtualservices", virtual_service(name, name)
        )

        def listed(name: str = name) -> bool:
            answer = http.get(
                dashboard.url + "/api/routes/revisions",
                params={"source": "external", "name": name},
                timeout=10,
            )
            return bool(answer.json()["items"])

        wait_until(listed, timeout=60, interval=0.05, what=f"{name} in the audit log")
        times.append((time.perf_counter() - started) * 1000)
    return times


def run() -> list[Figure]:
    from dashboard.redis_server import start_redis

    if find_binaries() is None:
        print("bench_kube_routes skipped: no kube-apiserver (make kube-apiserver)")
        return []
    with tempfile.TemporaryDirectory() as root:
        redis = start_redis(log_path=Path(root) / "redis.log")
        kube = start_kube(Path(root) / "kube")
        dashboard = None
        try:
            api = kube.client()
            bookinfo = kubebookinfo.load_bookinfo(api, kubebookinfo.fresh_namespace(api))
            bind_shipped_role(kube, "meshscope-dashboard", "meshscope-dashboard")
            (Path(root) / "dash").mkdir()
            dashboard = Dashboard(
                Path(root) / "dash",
                redis.url,
                f"http://127.0.0.1:{free_port()}",  # no local control plane in cluster mode
                # The map is not measured here: nothing listens there, its polls just fail.
                MESHSCOPE_PROMETHEUS_URL=f"http://127.0.0.1:{free_port()}",
                MESHSCOPE_CLUSTER="kubernetes",
                MESHSCOPE_KUBECONFIG=str(kube.kubeconfig("meshscope-dashboard")),
                MESHSCOPE_KUBE_NAMESPACES=bookinfo.namespace,
            )
            posts = form_posts(kube, dashboard, bookinfo.namespace)
            external = external_to_audit(kube, dashboard)
            revisions = revision_reads(kube)
        finally:
            if dashboard is not None:
                dashboard.stop()
            stop_kube(kube)
            redis.stop()
    note = "smoke run (MESHSCOPE_BENCH_QUICK)" if QUICK else ""
    return [
        Figure(
            "form POST -> VirtualService replaced in the API server p50",
            percentile(posts, 0.5),
            "ms",
            note=f"{len(posts)} edits {note}",
        ),
        Figure(
            "form POST -> VirtualService replaced in the API server p95",
            percentile(posts, 0.95),
            "ms",
            note=note,
        ),
        Figure(
            "revision() read p50 (6 kinds, 50 VirtualServices)",
            percentile(revisions, 0.5),
            "ms",
            note=f"{len(revisions)} reads {note}",
        ),
        Figure("revision() read p95", percentile(revisions, 0.95), "ms", note=note),
        Figure(
            "direct API server change -> external revision listed p50",
            percentile(external, 0.5),
            "ms",
            note=f"{len(external)} changes, beat sync every 2 s {note}",
        ),
    ]
