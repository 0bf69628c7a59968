"""Local mesh benchmarks: config push latency, data-plane overhead, memory.

- Push latency: from the resource API returning on an apply to the first gateway request served by
  the new route (reviews flipped between v1 and v3, `/api/v1/products/0/reviews` polled back to back
  over a keep-alive connection; each sample includes one poll's own latency, a few ms).
- Data-plane overhead: productpage's `/health` (no downstream calls) directly on the app port versus
  through the gateway Envoy + productpage's inbound sidecar, at 1000 rps over one connection and
  at the maximum rate of 16 connections; rounds interleaved, medians of the rounds. The load
  generator is Python (aiohttp) on the same 2 cores, so absolute peak rates are the client's as much
  as the proxies'; compare the two columns, not with wrk-based figures.
- Memory: RSS and USS (own memory) of every process of the mesh, idle and under 100 rps.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil
import requests

from benchmarks.harness import Figure, percentile
from meshcore.traffic import TrafficGenerator
from tests.support.mesh import RunningMesh, start_mesh, stop_mesh
from tests.support.samples import reviews_weights, sample

PUSH_SAMPLES = int(os.environ.get("BENCH_PUSH_SAMPLES", "60"))
RATE_SECONDS = float(os.environ.get("BENCH_RATE_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
ISTIO_ADDED_P90_MS = 2.65  # Istio's published figure for a sidecar pair at 1000 rps


def push_latency(mesh: RunningMesh) -> list[float]:
    mesh.apply_ok(sample("destination-rule-all"))
    api = mesh.session  # sends the API token
    gateway = requests.Session()
    url = f"{mesh.gateway_url}/api/v1/products/0/reviews"
    latencies = []
    for index in range(PUSH_SAMPLES):
        target = ("v1", "v3")[index % 2]
        response = api.post(
            f"{mesh.api_url}/api/v1/apply",
            data=reviews_weights(**{target: 100}),
            headers={"Content-Type": "application/yaml"},
            timeout=10,
        )
        response.raise_for_status()
        returned = time.perf_counter()
        latencies.append(ms_until_served_by(gateway, url, target, returned))
    return latencies


def ms_until_served_by(gateway: requests.Session, url: str, version: str, since: float) -> float:
    """Poll reviews through the gateway until `version` answers; ms from `since` (perf_counter)."""
    deadline = since + 5
    while time.perf_counter() < deadline:
        if gateway.get(url, timeout=5).json().get("podname") == f"reviews-{version}":
            return (time.perf_counter() - since) * 1000
    raise RuntimeError(f"route to {version} never took effect")


async def paced(url: str, rate: float, seconds: float, headers: dict[str, str]) -> list[float]:
    """Closed loop over one connection, paced to `rate`; latency in ms of each request."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        count = int(rate * seconds)
        for index in range(count):
            slot = start + index / rate
            delay = slot - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.perf_counter()
            async with session.get(url, headers=headers) as response:
                await response.read()
            latencies.append((time.perf_counter() - sent) * 1000)
    return latencies


async def peak_rate(url: str, connections: int, seconds: float, headers: dict[str, str]) -> float:
    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            async with session.get(url, headers=headers) as response:
                await response.read()
            done += 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(connections)))
        return done / (time.perf_counter() - started)


def data_plane(mesh: RunningMesh) -> list[Figure]:
    productpage = next(w for w in mesh.registry()["workloads"] if w["name"] == "productpage-v1")
    # x-b3-sampled: 0 asks the gateway not to trace: the proxies' cost without the tracer's.
    targets = {
        "direct": (f"http://127.0.0.1:{productpage['app_port']}/health", {}),
        "mesh": (f"{mesh.gateway_url}/health", {}),
        "mesh untraced": (f"{mesh.gateway_url}/health", {"x-b3-sampled": "0"}),
    }
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for _ in range(ROUNDS):
        for name, (url, headers) in targets.items():
            latencies = asyncio.run(paced(url, 1000, RATE_SECONDS, headers))
            rate = asyncio.run(peak_rate(url, 16, RATE_SECONDS / 2, headers))
            rounds[name].append(
                {"p50": percentile(latencies, 0.5), "p90": percentile(latencies, 0.9),
                 "p99": percentile(latencies, 0.99), "rps": rate}
            )  # fmt: skip

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds[name])

    added_p90 = med("mesh", "p90") - med("direct", "p90")
    added_p90_untraced = med("mesh untraced", "p90") - med("direct", "p90")
    figures = [
        Figure(f"{key} at 1000 rps, {name}", med(name, key), "ms", note=f"median of {ROUNDS} rounds")
        for name in targets
        for key in ("p50", "p99")
    ]
    figures += [
        Figure("added p90 by gateway + sidecar at 1000 rps", added_p90, "ms",
               f"Istio publishes {ISTIO_ADDED_P90_MS} ms", added_p90 <= ISTIO_ADDED_P90_MS, "100% traced"),
        Figure("added p90 by gateway + sidecar at 1000 rps, untraced", added_p90_untraced, "ms",
               f"Istio publishes {ISTIO_ADDED_P90_MS} ms", added_p90_untraced <= ISTIO_ADDED_P90_MS),
        Figure("peak rps, 16 connections, direct", med("direct", "rps"), "rps", note="Python client"),
        Figure("peak rps, 16 connections, gateway + sidecar", med("mesh", "rps"), "rps", note="100% traced"),
        Figure("peak rps, 16 connections, gateway + sidecar, untraced", med("mesh untraced", "rps"), "rps", note="Python client"),
    ]  # fmt: skip
    return figures


def mesh_memory(mesh: RunningMesh) -> tuple[float, float, float]:
    """(total RSS MB, total USS MB, mean Envoy USS MB) over the mesh's whole process tree."""
    root = psutil.Process(mesh.process.pid)
    processes = [root, *root.children(recursive=True)]
    rss = uss = 0.0
    envoy_uss: list[float] = []
    for process in processes:
        try:
            info = process.memory_full_info()
            is_envoy = "envoy" in process.name()
        except psutil.NoSuchProcess:
            continue
        rss += info.rss / 2**20
        uss += info.uss / 2**20
        if is_envoy:
            envoy_uss.append(info.uss / 2**20)
    return rss, uss, statistics.mean(envoy_uss)


async def under_load(
    mesh: RunningMesh, rate: float, seconds: float
) -> tuple[tuple[float, float, float], dict]:
    generator = TrafficGenerator(mesh.gateway_url, rate)
    await generator.start()
    await asyncio.sleep(seconds)
    memory = mesh_memory(mesh)
    await generator.stop()
    return memory, generator.report()


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as root:
        mesh = start_mesh(Path(root))
        try:
            idle_rss, idle_uss, envoy_uss = mesh_memory(mesh)
            pushes = push_latency(mesh)
            mesh.reset()
            figures = [
                Figure("config push p50", percentile(pushes, 0.5), "ms", note=f"{len(pushes)} applies"),
                Figure(
                    "config push p95",
                    percentile(pushes, 0.95),
                    "ms",
                    "<= 100 ms",
                    percentile(pushes, 0.95) <= 100,
                ),
            ]
            figures += data_plane(mesh)
            (load_rss, load_uss, _), report = asyncio.run(under_load(mesh, 100, 15))
            figures += [
                Figure("Envoy own memory (USS) per proxy, idle", envoy_uss, "MB", note="RSS also counts the shared binary"),
                Figure("whole mesh RSS, idle", idle_rss, "MB", note=f"USS {idle_uss:.0f} MB, 7 Envoys + 6 apps + tracer + control plane"),
                Figure("whole mesh RSS, 100 rps", load_rss, "MB", note=f"USS {load_uss:.0f} MB; {report['completed']} pages served, statuses {report['by_status']}"),
            ]  # fmt: skip
            return figures
        finally:
            stop_mesh(mesh)
