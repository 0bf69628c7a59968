"""The TrafficMap from Prometheus at cluster scale: 1,000 services, 5,000 edges.

A real Prometheus (Debian's `prometheus`) scrapes a synthetic exporter of Istio's standard metrics
(a child process, so its rendering does not compete with the measured poll for the GIL): 1,000
services with one workload each; the gateway calls the first, each workload calls the next four
services, so 4,000 caller edges + 1,000 service -> workload edges. Every caller edge is reported
by both sidecars: 8,000 `istio_requests_total` series and 8,000 histograms of 8 buckets (~96,000
series). Scraped every 5 s (a ~100,000-line exposition takes about a second to render), rate()
over 30 s.

Per poll (`poll_prometheus`: the four whole-mesh queries + map + appenders + layout), median of
POLLS polls: the query time, the build time and their sum (target <= 500 ms; Kiali's graph fails
at about 1,000 nodes, kiali#4271). Also each query's own median.

Run: `python -m benchmarks.run prometheus_map` (or `make bench`).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

from benchmarks.harness import Figure, median  # noqa: E402

SERVICES = 1000
CALLS_PER_WORKLOAD = 4
POLLS = 9
WINDOW = "30s"
SCRAPE_INTERVAL = "5s"
TARGET_MS = 500.0
GATEWAY = "istio-ingressgateway"


def service_name(index: int) -> str:
    return f"svc-{index % SERVICES:04d}"


def flows():
    """Both reporters' series of every caller edge (see the module docstring)."""
    from tests.support.prometheus import Flow

    result = []
    calls = [(GATEWAY, 0)] + [
        (f"{service_name(i)}-v1", i + step)
        for i in range(SERVICES)
        for step in range(1, CALLS_PER_WORKLOAD + 1)
    ]
    for caller, target in calls:
        service = service_name(target)
        for reporter in ("source", "destination"):
            result.append(Flow(reporter, caller, service, f"{service}-v1", 2.0, latency_ms=20.0))
    return result


def registry():
    from dashboard.sources.registry import GatewayInfo, MeshRegistry, ServiceInfo, WorkloadInfo

    names = [service_name(i) for i in range(SERVICES)]
    return MeshRegistry(
        services=tuple(ServiceInfo(name=n, fqdn=f"{n}.default.svc.cluster.local") for n in names),
        workloads=tuple(WorkloadInfo(name=f"{n}-v1", service=n, app=n, version="v1") for n in names),
        gateway=GatewayInfo(name=GATEWAY, backend_service=names[0]),
    )


def serve_exporter(port_file: str) -> None:
    """Child process: serve the synthetic exporter and write its address to `port_file`."""
    from tests.support.prometheus import IstioExporter

    exporter = IstioExporter(flows())
    Path(port_file).write_text(exporter.address)
    while True:
        time.sleep(3600)


def run() -> list[Figure]:
    if not (os.environ.get("MESHSCOPE_PROMETHEUS") or shutil.which("prometheus")):
        return [
            Figure(
                "TrafficMap from Prometheus",
                0,
                "ms",
                f"<= {TARGET_MS:g} ms",
                None,
                "SKIPPED: no prometheus binary",
            )
        ]
    import django

    django.setup()
    from dashboard.sources.prometheus import PrometheusSource
    from dashboard.sources.registry import StaticRegistry
    from dashboard.topology.poll import poll_prometheus
    from dashboard.topology.state import MemoryPollState
    from tests.support.processes import log_tail, start_process, stop_process
    from tests.support.prometheus import start_prometheus, wait_for_series
    from tests.support.waiting import wait_until

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        port_file = tmp_path / "exporter-address"
        exporter = start_process(
            [
                sys.executable,
                "-c",
                f"from benchmarks.bench_prometheus_map import serve_exporter; serve_exporter({str(port_file)!r})",
            ],
            tmp_path / "exporter.log",
            cwd=REPO,
        )
        try:
            try:
                address = wait_until(
                    lambda: port_file.exists() and port_file.read_text(), timeout=120, interval=0.2
                )
            except TimeoutError:
                raise RuntimeError(
                    f"exporter did not start:\n{log_tail(tmp_path / 'exporter.log')}"
                ) from None
            series = len(flows())
            with start_prometheus(
                tmp_path, [address], scrape_interval=SCRAPE_INTERVAL, scrape_timeout="4s"
            ) as prom:
                wait_for_series(prom.url, f"rate(istio_requests_total[{WINDOW}]) > 0", series, timeout=180)
                # Generous: the figure is what a poll takes, not whether it fits a deadline.
                source = PrometheusSource(prom.url, 60.0)
                registry_source = StaticRegistry(registry())
                state = MemoryPollState()
                poll_prometheus(registry_source, source, state, window=WINDOW)  # warm-up
                totals, queries, builds, per_query = [], [], [], {}
                edges = 0
                for _ in range(POLLS):
                    observed: dict = {}
                    traffic_map = poll_prometheus(
                        registry_source, source, state, observed=observed, window=WINDOW
                    )
                    phases = observed["phases"]
                    queries.append(phases["prometheus"] * 1000)
                    builds.append(phases["build"] * 1000)
                    totals.append((phases["prometheus"] + phases["build"]) * 1000)
                    for record in source.queries():
                        per_query.setdefault(record["name"], []).append(record["last_duration_s"] * 1000)
                    edges = len(traffic_map.edges)
                    if traffic_map.stale_sources:
                        errors = [(r["name"], r["last_error"]) for r in source.queries() if r["last_error"]]
                        raise RuntimeError(f"a poll failed: {errors}")
        finally:
            stop_process(exporter)
    total = median(totals)
    figures = [
        Figure(
            f"poll from Prometheus: queries + build, {SERVICES} services / {edges} edges (median of {POLLS})",
            round(total, 1),
            "ms",
            f"<= {TARGET_MS:g} ms",
            total <= TARGET_MS,
            f"{series} request series + {series} histograms; Kiali's graph fails at ~1,000 nodes (kiali#4271)",
        ),
        Figure("  of which the 4 PromQL queries", round(median(queries), 1), "ms"),
        Figure("  of which map + appenders + layout", round(median(builds), 1), "ms"),
    ]
    figures += [Figure(f"  query {name}", round(median(times), 1), "ms") for name, times in per_query.items()]
    return figures


if __name__ == "__main__":
    for figure in run():
        print(figure)
