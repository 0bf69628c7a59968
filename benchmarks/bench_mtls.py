"""mTLS benchmarks: latency mTLS adds to the data plane, and what certificate rotation costs.

- Data plane: productpage's `/health` (no downstream calls) directly on the app port, and through
  the gateway Envoy + productpage's inbound sidecar with the mesh-wide PeerAuthentication DISABLE
  (plaintext hop) and STRICT (mTLS hop), untraced, at 1000 rps over one connection; the three
  interleaved per round, medians of the rounds (bench_mesh's method). Beside Istio's published
  2.65 ms p90 for a sidecar pair; the goal is <= 1.0 ms p90 added by mTLS over plaintext.
- Rotation cost: control-plane CPU time (process time) to issue 100 workload certificates and turn
  them into SDS secrets; push time of a rotated secret, from the control plane publishing it to
  the Envoy's ACK (in-process control plane + one real Envoy, so both ends are timed on one clock).

MESHSCOPE_BENCH_QUICK=1 runs a small smoke version (one round, two seconds, fewer samples).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.bench_mesh import ISTIO_ADDED_P90_MS, paced
from benchmarks.harness import Figure, percentile
from meshcore.bookinfo.topology import bookinfo_registry, port_span
from meshcore.controlplane.builders.proto import SECRET_TYPE
from meshcore.controlplane.ca import CertificateAuthority
from meshcore.controlplane.identities import WorkloadIdentities
from meshcore.controlplane.service import ControlPlane
from meshcore.controlplane.store import ResourceStore
from meshcore.controlplane.xds_server import start_xds_server
from meshcore.sidecar.binary import envoy_binary
from meshcore.sidecar.bootstrap import MeshEndpoints, ProxyIdentity, make_bootstrap
from tests.support.mesh import RunningMesh, start_mesh, stop_mesh
from tests.support.ports import free_port, free_port_block
from tests.support.processes import start_process, stop_process

QUICK = os.environ.get("MESHSCOPE_BENCH_QUICK") == "1"
ROUNDS = 1 if QUICK else int(os.environ.get("BENCH_ROUNDS", "3"))
RATE_SECONDS = 2.0 if QUICK else float(os.environ.get("BENCH_RATE_SECONDS", "8"))
CERTIFICATES = 20 if QUICK else 100
PUSHES = 5 if QUICK else 40
MTLS_GOAL_MS = 1.0
UNTRACED = {"x-b3-sampled": "0"}


def mesh_wide(mode: str) -> str:
    return (
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        f"metadata: {{name: default, namespace: istio-system}}\nspec: {{mtls: {{mode: {mode}}}}}\n"
    )


def latency_round(mesh: RunningMesh, direct_url: str, index: int) -> dict[str, dict[str, float]]:
    """One round; odd rounds measure mTLS before plaintext so neither always runs second."""
    configs = [("plaintext", "DISABLE"), ("mTLS", "STRICT")]
    results = {}
    for name, mode in [("direct", None), *(configs if index % 2 == 0 else configs[::-1])]:
        url = direct_url if mode is None else f"{mesh.gateway_url}/health"
        if mode is not None:
            mesh.apply_ok(mesh_wide(mode))
            # Let the old connections drain and the new ones (and TLS sessions) open before timing.
            asyncio.run(paced(url, 200, 1.5, UNTRACED))
        latencies = asyncio.run(paced(url, 1000, RATE_SECONDS, UNTRACED))
        results[name] = {q: percentile(latencies, f) for q, f in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))}
    return results


def data_plane() -> list[Figure]:
    with tempfile.TemporaryDirectory() as root:
        mesh = start_mesh(Path(root))
        try:
            productpage = next(w for w in mesh.registry()["workloads"] if w["name"] == "productpage-v1")
            direct = f"http://127.0.0.1:{productpage['app_port']}/health"
            rounds = [latency_round(mesh, direct, index) for index in range(ROUNDS)]
        finally:
            stop_mesh(mesh)

    def med(name: str, key: str) -> float:
        return statistics.median(r[name][key] for r in rounds)

    figures = []
    for key in ("p50", "p90", "p99"):
        for name in ("plaintext", "mTLS"):
            added = med(name, key) - med("direct", key)
            target, met = "", None
            if key == "p90":
                target, met = f"Istio publishes {ISTIO_ADDED_P90_MS} ms", added <= ISTIO_ADDED_P90_MS
            figures.append(
                Figure(f"added {key} by gateway + sidecar at 1000 rps, {name}", added, "ms", target, met,
                       f"untraced; median of {ROUNDS} rounds")
            )  # fmt: skip
    by_mtls = med("mTLS", "p90") - med("plaintext", "p90")
    figures.append(
        Figure("p90 added by mTLS over plaintext at 1000 rps", by_mtls, "ms", f"<= {MTLS_GOAL_MS} ms",
               by_mtls <= MTLS_GOAL_MS, "STRICT vs DISABLE, same hops")
    )  # fmt: skip
    return figures


def issuing_cost() -> Figure:
    identities = WorkloadIdentities(CertificateAuthority.self_signed())
    started = time.process_time()
    for index in range(CERTIFICATES):
        identities.secrets(f"node-{index}", f"spiffe://cluster.local/ns/default/sa/sa-{index}")
    per_100 = (time.process_time() - started) * 1000 * 100 / CERTIFICATES
    return Figure(
        "control-plane CPU per 100 certificates issued", per_100, "ms",
        note=f"P-256 key + signature + SDS secret each; {CERTIFICATES} issued",
    )  # fmt: skip


async def secret_pushes(root: Path) -> list[float]:
    """Milliseconds from publishing a rotated secret to the Envoy's ACK, PUSHES times."""
    registry = bookinfo_registry(base_port=free_port_block(port_span()))
    workload = registry.workloads[1]
    clock = [time.time()]
    identities = WorkloadIdentities(CertificateAuthority.self_signed(), 3600, clock=lambda: clock[0])
    control_plane = ControlPlane(registry, ResourceStore(root / "resources.json"), identities=identities)
    xds_port = free_port()
    server, _ = await start_xds_server(control_plane.cache, control_plane.board, "127.0.0.1", xds_port)
    identity = ProxyIdentity(workload.node_id, workload.node_cluster, str(root / "admin.sock"), {})
    bootstrap = root / "bootstrap.json"
    bootstrap.write_text(
        json.dumps(make_bootstrap(identity, MeshEndpoints("127.0.0.1", xds_port, "127.0.0.1", free_port())))
    )
    envoy = start_process(
        [envoy_binary(), "-c", str(bootstrap), "--disable-hot-restart", "--concurrency", "1",
         "--log-level", "error"],
        root / "envoy.log",
    )  # fmt: skip
    status = control_plane.board.node(workload.node_id)

    async def acked(version: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while status.acked.get(SECRET_TYPE) != version:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Envoy never ACKed secret version {version}")
            await asyncio.sleep(0.0005)

    try:
        await acked(control_plane.cache.get(workload.node_id).types[SECRET_TYPE].version, timeout=30)
        pushes = []
        for _ in range(PUSHES):
            clock[0] += 1801  # past half of the lifetime: every certificate is due
            started = time.perf_counter()
            await control_plane.rotate_due_certificates()
            await acked(control_plane.cache.get(workload.node_id).types[SECRET_TYPE].version)
            pushes.append((time.perf_counter() - started) * 1000)
        return pushes
    finally:
        stop_process(envoy)
        await server.stop(grace=0.2)


def run() -> list[Figure]:
    load_before = os.getloadavg()[0]
    figures = [issuing_cost()]
    with tempfile.TemporaryDirectory() as root:
        pushes = asyncio.run(secret_pushes(Path(root)))
    figures += [
        Figure("rotated secret push to ACK, p50", percentile(pushes, 0.5), "ms",
               note=f"{len(pushes)} rotations of 7 proxies' certificates; includes issuing them"),
        Figure("rotated secret push to ACK, p95", percentile(pushes, 0.95), "ms"),
    ]  # fmt: skip
    figures += data_plane()
    # Other work on the machine moves these figures: say how busy it was (1-minute load average).
    load = f"load {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    return [replace(f, note=f"{f.note}; {load}" if f.note else load) for f in figures]
