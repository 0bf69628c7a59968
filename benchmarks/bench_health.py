"""Health report benchmark: how long one report of every source takes on the real local mesh.

The report's probes (the control plane's /healthz, the tracer's /health, every Envoy's /ready on
its admin socket) run at once in threads (dashboard.health.report.run_checks); measured against the
same probes one after the other (max_workers=1) in the same run, interleaved, median of several
rounds. Target: a full report within 500 ms on the 2-core machine (the page refreshes every 3 s;
the deadline MESHSCOPE_HEALTH_DEADLINE is 2 s).

MESHSCOPE_BENCH_QUICK=1 runs fewer rounds.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.harness import Figure, median
from dashboard.health.report import Check, ProbeFailed, run_checks
from dashboard.sources.envoy import HttpEnvoyAdmin
from dashboard.sources.http import get_json
from tests.support.mesh import RunningMesh, start_mesh, stop_mesh

QUICK = os.environ.get("MESHSCOPE_BENCH_QUICK") == "1"
ROUNDS = 5 if QUICK else 20
TIMEOUT_S = 0.8
TARGET_MS = 500.0


def mesh_checks(mesh: RunningMesh) -> list[Check]:
    envoy = HttpEnvoyAdmin(TIMEOUT_S)

    def ready(address: str):
        def probe() -> str:
            state = envoy.ready(address)
            if state != "LIVE":
                raise ProbeFailed(state)
            return state

        return probe

    checks = [
        Check("controlplane", "source", lambda: str(get_json(mesh.api_url + "/healthz", TIMEOUT_S))),
        Check("tracer", "source", lambda: str(get_json(mesh.tracer_url + "/health", TIMEOUT_S))),
    ]
    registry = mesh.registry()
    names = [w["name"] for w in registry["workloads"]] + [registry["gateway"]["name"]]
    checks += [Check(f"sidecar:{name}", "sidecar", ready(mesh.admin_address(name))) for name in names]
    return checks


def timed_report(checks: list[Check], workers: int) -> tuple[float, int]:
    """(milliseconds, checks down) for one report."""
    started = time.perf_counter()
    results = run_checks(checks, deadline=5.0, max_workers=workers)
    return (time.perf_counter() - started) * 1000, sum(1 for r in results if not r.up)


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        mesh = start_mesh(Path(tmp))
        try:
            checks = mesh_checks(mesh)
            parallel, sequential, down = [], [], 0
            for _ in range(ROUNDS):
                took, failed = timed_report(checks, workers=16)
                parallel.append(took)
                down += failed
                took, failed = timed_report(checks, workers=1)
                sequential.append(took)
                down += failed
        finally:
            stop_mesh(mesh)
    p, s = median(parallel), median(sequential)
    return [
        Figure(
            f"health report, {len(checks)} probes in parallel (median of {ROUNDS})",
            round(p, 1),
            "ms",
            f"<= {TARGET_MS:g} ms",
            p <= TARGET_MS,
            f"{down} probe answers were down" if down else "every probe up",
        ),
        Figure(f"same probes one after the other (median of {ROUNDS})", round(s, 1), "ms", note="baseline"),
        Figure("sequential / parallel", round(s / p, 2), "x", note="same run, interleaved"),
    ]
