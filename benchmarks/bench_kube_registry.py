"""Registry sync of a synthetic cluster on a real kube-apiserver: 1,000 Services, 5,000 Pods.

The cluster (tests/support/kubeapi.py: etcd + the API server built from Debian's source) gets
1,000 Services, each with 5 pods (versions v1..v5, an istio-proxy container, Running and Ready)
and its Endpoints. Measured, with the view in a real Redis as the dashboard keeps it:

- first list: a registry() with no stored view (paged list of the four kinds, parse, store, build);
- per-poll cost with watch, no change: registry() from the stored resourceVersion (one watch step
  per kind, ended by MESHSCOPE_KUBE_WATCH_IDLE of quiet: the wall time is mostly that wait, so the
  CPU time of the process is given beside it);
- per-poll cost with 10 pod changes between polls (10 pods relabelled to another version).

Medians over several rounds; the machine is shared (2 cores), so the load average is noted.
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.harness import Figure, median

SERVICES = 1_000
PODS_PER_SERVICE = 5
NAMESPACE = "synthetic"
WATCH_IDLE = 0.25  # the default of MESHSCOPE_KUBE_WATCH_IDLE
ROUNDS_LIST = 3
ROUNDS_POLL = 10


def _populate(api) -> None:
    """Create the synthetic cluster with 8 client threads (the API server does the rest)."""
    from kubernetes import client

    from tests.support import kubebookinfo

    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": NAMESPACE}}, _request_timeout=60)
    core.create_namespaced_service_account(
        NAMESPACE, kubebookinfo.service_account("app", NAMESPACE), _request_timeout=60
    )

    def one_service(index: int) -> None:
        app = f"svc-{index:04d}"
        service = kubebookinfo.service(app, NAMESPACE)
        # Headless: the test API server's service IP range (10.0.0.0/24) holds 254 ClusterIPs, and
        # the registry reads nothing of the IP.
        service["spec"]["clusterIP"] = "None"
        core.create_namespaced_service(NAMESPACE, service, _request_timeout=60)
        running = []
        for replica in range(PODS_PER_SERVICE):
            version = f"v{replica + 1}"
            name = f"{app}-{version}-0"
            labels = {"app": app, "version": version}
            spec = kubebookinfo.pod_spec(app, version, "app")
            made = core.create_namespaced_pod(
                NAMESPACE, kubebookinfo.pod(name, NAMESPACE, labels, spec), _request_timeout=60
            )
            ip = f"10.{index // 250}.{index % 250}.{replica + 1}"
            kubebookinfo.set_pod_status(api, NAMESPACE, name, ip)
            running.append(kubebookinfo.RunningPod(name, NAMESPACE, app, version, ip, made.metadata.uid))
        kubebookinfo.write_endpoints(api, NAMESPACE, app, running)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one_service, range(SERVICES)))


def _figure(name: str, samples: list[tuple[float, float]], note: str) -> Figure:
    """Median wall time (ms) of (wall, CPU) samples, with the median CPU time in the note."""
    wall = median([w for w, _ in samples]) * 1000.0
    cpu = median([c for _, c in samples]) * 1000.0
    return Figure(name, wall, "ms", note=f"median of {len(samples)}; CPU {cpu:.0f} ms; {note}")


def _timed(call) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def run() -> list[Figure]:
    import redis as redis_client
    from kubernetes import client

    from dashboard.redis_server import start_redis
    from dashboard.sources.kubernetes import KubernetesRegistry
    from dashboard.topology.state import RedisPollState
    from tests.support.kubeapi import find_binaries, start_kube, stop_kube

    if find_binaries() is None:
        print("bench_kube_registry: no kube-apiserver here (make kube-apiserver); skipped")
        return []
    tmp = Path(tempfile.mkdtemp(prefix="bench-kube-"))
    cluster = start_kube(tmp / "kube")
    redis = start_redis(log_path=tmp / "redis.log")
    try:
        api = cluster.client()
        started = time.perf_counter()
        _populate(api)
        populate_s = time.perf_counter() - started
        connection = redis_client.Redis.from_url(redis.url)

        def source() -> KubernetesRegistry:
            return KubernetesRegistry(
                cluster.client(), RedisPollState(connection), timeout=10, watch_idle=WATCH_IDLE
            )

        first = []
        for _ in range(ROUNDS_LIST):
            connection.flushdb()
            wall, cpu, registry = _timed(source().registry)
            first.append((wall, cpu))
        workloads, services = len(registry.workloads), len(registry.services)
        view_bytes = len(connection.get("meshscope:topology:kube_registry_view") or b"")

        steady = source()
        quiet = [_timed(steady.registry)[:2] for _ in range(ROUNDS_POLL)]
        core = client.CoreV1Api(api)
        changed = []
        for round_ in range(ROUNDS_POLL):
            for index in range(10):
                name = f"svc-{(round_ * 10 + index) % SERVICES:04d}-v1-0"
                core.patch_namespaced_pod(
                    name, NAMESPACE, {"metadata": {"labels": {"version": f"r{round_}"}}}, _request_timeout=60
                )
            wall, cpu, _ = _timed(steady.registry)
            assert steady.last_sync["pods"] == "watched", steady.last_sync
            changed.append((wall, cpu))
    finally:
        redis.stop()
        stop_kube(cluster)
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    scale = f"{services:,} services, {workloads:,} workloads from {SERVICES * PODS_PER_SERVICE:,} pods"
    return [
        _figure(
            "first list (4 kinds, paged) + build",
            first,
            f"{scale}; view in Redis {view_bytes / 2**20:.1f} MiB; {load}",
        ),
        _figure(
            "per poll, watch, no change", quiet, f"of which {WATCH_IDLE * 1000:.0f} ms is the quiet wait"
        ),
        _figure("per poll, watch, 10 pod changes", changed, "the view rewritten to Redis"),
        Figure(
            "synthetic cluster creation",
            populate_s,
            "s",
            note="1,000 headless Services, 5,000 Pods + status, 1,000 Endpoints; 8 client threads",
        ),
    ]
