"""Safety benchmarks: how fast hostile inputs are refused, and what an attack costs everyone else.

- Refusal time: each hostile input of `tests.support.hostile` sent to the real mesh (resource API
  with its token; tracer) until its 4xx answer arrives; median of several sends. Target <= 100 ms.
- Gateway p99 under attack: productpage's /health through the gateway Envoy and its sidecar at a
  paced rate over one connection, with and without a thread sending the hostile applies back to
  back meanwhile (rounds interleaved, in one run). The control plane checks input in a worker
  process, so the gateway (and the event loop serving ADS) should not notice.
- Config push during the attack: from the apply returning to the gateway serving the new route,
  with the same attack running, against the same without it.

MESHSCOPE_BENCH_QUICK=1 runs a small smoke version (one round, short windows, fewer samples).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path

import requests

from benchmarks.bench_mesh import paced
from benchmarks.harness import Figure, median, percentile
from tests.support.hostile import HOSTILE_APPLIES, hostile_span_uploads
from tests.support.mesh import RunningMesh, start_mesh, stop_mesh
from tests.support.samples import reviews_weights, sample

QUICK = os.environ.get("MESHSCOPE_BENCH_QUICK") == "1"
REPEATS = 1 if QUICK else 5
ROUNDS = 1 if QUICK else 3
LOAD_SECONDS = 2.0 if QUICK else 8.0
LOAD_RPS = 200
PUSHES = 4 if QUICK else 30
REFUSAL_TARGET_MS = 100.0


def refusal_ms(send) -> tuple[float, int]:
    """Median milliseconds from sending to the complete answer, and the last status."""
    times, status = [], 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        status = send()
        times.append((time.perf_counter() - started) * 1000)
    return median(times), status


def refusal_figures(mesh: RunningMesh) -> list[Figure]:
    figures = []
    for name, body in HOSTILE_APPLIES.items():
        value, status = refusal_ms(lambda body=body: mesh.apply(body, wait=0).status_code)
        figures.append(_refusal_figure(f"refuse apply: {name}", value, status, len(body)))
    tracer = requests.Session()
    for name, (path, body) in hostile_span_uploads(int(time.time() * 1_000_000)).items():

        def send(path: str = path, body: bytes = body) -> int:
            headers = {"Content-Type": "application/json"}
            return tracer.post(f"{mesh.tracer_url}{path}", data=body, headers=headers, timeout=30).status_code

        value, status = refusal_ms(send)
        figures.append(_refusal_figure(f"refuse spans: {name}", value, status, len(body)))
    return figures


def _refusal_figure(name: str, value: float, status: int, size: int) -> Figure:
    refused = 400 <= status < 500
    return Figure(
        name,
        value,
        "ms",
        f"<= {REFUSAL_TARGET_MS:g} ms",
        refused and value <= REFUSAL_TARGET_MS,
        f"HTTP {status}, {size:,} bytes, median of {REPEATS}",
    )


class Attack:
    """Sends the hostile applies back to back from a thread while active (bounded by `max_seconds`)."""

    def __init__(self, mesh: RunningMesh, max_seconds: float = 600.0) -> None:
        self.mesh = mesh
        self.max_seconds = max_seconds
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Attack:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        bodies = list(HOSTILE_APPLIES.values())
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.mesh.apply(bodies[self.sent % len(bodies)], wait=0)
            self.sent += 1


def push_ms(mesh: RunningMesh, samples: int) -> list[float]:
    """Apply-returned to first gateway answer from the new route (reviews flipped v1 <-> v3)."""
    gateway = requests.Session()
    url = f"{mesh.gateway_url}/api/v1/products/0/reviews"
    latencies = []
    for index in range(samples):
        target = ("v1", "v3")[index % 2]
        assert mesh.apply(reviews_weights(**{target: 100}), wait=0).status_code == 200
        returned = time.perf_counter()
        deadline = returned + 10
        while gateway.get(url, timeout=5).json().get("podname") != f"reviews-{target}":
            if time.perf_counter() > deadline:
                raise RuntimeError(f"route to {target} never took effect")
        latencies.append((time.perf_counter() - returned) * 1000)
    return latencies


def attack_figures(mesh: RunningMesh) -> list[Figure]:
    url = f"{mesh.gateway_url}/health"
    p99 = {"quiet": [], "attack": []}
    pushes = {"quiet": [], "attack": []}
    sent = 0
    mesh.apply_ok(sample("destination-rule-all"))
    for _ in range(ROUNDS):
        for mode in ("quiet", "attack"):
            if mode == "attack":
                with Attack(mesh) as attack:
                    latencies = asyncio.run(paced(url, LOAD_RPS, LOAD_SECONDS, {"x-b3-sampled": "0"}))
                    pushes[mode] += push_ms(mesh, PUSHES)
                sent += attack.sent
            else:
                latencies = asyncio.run(paced(url, LOAD_RPS, LOAD_SECONDS, {"x-b3-sampled": "0"}))
                pushes[mode] += push_ms(mesh, PUSHES)
            p99[mode].append(percentile(latencies, 0.99))
    quiet, attacked = median(p99["quiet"]), median(p99["attack"])
    note = f"{LOAD_RPS} rps over one connection, {LOAD_SECONDS:g} s per round, median of {ROUNDS} rounds"
    return [
        Figure("gateway p99 without attack", quiet, "ms", note=note),
        Figure("gateway p99 during the attack", attacked, "ms", note=f"{note}; {sent} hostile applies sent"),
        Figure("gateway p99 attack / quiet", attacked / quiet, "x", "<= 1.5 x", attacked / quiet <= 1.5),
        Figure("config push p50 without attack", percentile(pushes["quiet"], 0.5), "ms",
               note=f"{len(pushes['quiet'])} applies"),
        Figure("config push p50 during the attack", percentile(pushes["attack"], 0.5), "ms",
               note=f"{len(pushes['attack'])} applies"),
        Figure("config push p95 during the attack", percentile(pushes["attack"], 0.95), "ms", "<= 100 ms",
               percentile(pushes["attack"], 0.95) <= 100),
    ]  # fmt: skip


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-safety-") as root:
        mesh = start_mesh(Path(root))
        try:
            return refusal_figures(mesh) + attack_figures(mesh)
        finally:
            stop_mesh(mesh)
