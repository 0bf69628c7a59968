"""A real Prometheus for tests, scraping an exporter of Istio-standard metrics whose rates we set.

`IstioExporter` serves `istio_requests_total` and `istio_request_duration_milliseconds` (the
names, labels and meaning Istio's standard metrics have) over HTTP on 127.0.0.1 in Prometheus's
text format. Each `Flow` is one series of requests at a rate the test sets: its counter is
computed at scrape time as the integral of its rate over time, so Prometheus's rate() sees exactly
that rate (counters stay monotonic when a rate changes). Every request of a flow takes
`latency_ms`, so its histogram puts all of it in one bucket.

`start_prometheus` runs Debian's `prometheus` binary on a free port with the given scrape
interval, storage in a temporary directory, and stops it by PID. Without the binary the tests
skip loudly, or fail when MESHSCOPE_REQUIRE_PROMETHEUS=1 (set by .ci/run).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dashboard.sources.prometheus import REQUEST_LABELS as MESH_LABELS
from tests.support.ports import free_port
from tests.support.processes import log_tail, start_process, stop_process
from tests.support.waiting import wait_until

PROMETHEUS_SKIP_REASON = "PROMETHEUS TEST SKIPPED: no `prometheus` binary (install Debian's `prometheus`)"
# Istio's default buckets would make a 5,000-edge exporter ~20 buckets per series; tests need only
# enough to tell latencies apart, so fewer, on the same scale (ms).
BUCKETS_MS = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0)
# Every label of Istio's standard request metrics: those the dashboard sums by, and the rest.
REQUEST_LABELS = (*MESH_LABELS, "destination_service", "destination_app", "request_protocol")


def prometheus_binary() -> str:
    """The `prometheus` binary; skips loudly (or fails under MESHSCOPE_REQUIRE_PROMETHEUS=1) without."""
    path = os.environ.get("MESHSCOPE_PROMETHEUS") or shutil.which("prometheus")
    if path and Path(path).exists():
        return path
    if os.environ.get("MESHSCOPE_REQUIRE_PROMETHEUS") == "1":
        pytest.fail("MESHSCOPE_REQUIRE_PROMETHEUS=1 but no `prometheus` binary was found", pytrace=False)
    pytest.skip(PROMETHEUS_SKIP_REASON)


@dataclass
class Flow:
    """Requests from `source` (a workload, the gateway or "unknown") to `destination_workload` of
    `service`, reported by `reporter` ("source" or "destination"), at `rps` requests/s."""

    reporter: str
    source: str
    service: str
    destination_workload: str
    rps: float
    code: str = "200"
    flags: str = "-"
    mtls: bool = True
    latency_ms: float = 20.0
    source_namespace: str = "default"
    namespace: str = "default"
    # Integral of the rate up to `since` (monotonic seconds); see IstioExporter.
    _count: float = field(default=0.0, repr=False)
    _since: float = field(default=0.0, repr=False)

    def labels(self) -> list[str]:
        """Label values in the order of REQUEST_LABELS."""
        source_app, source_version = _app_version(self.source)
        destination_app, destination_version = _app_version(self.destination_workload)
        values = {
            "reporter": self.reporter,
            "source_workload": self.source,
            "source_workload_namespace": self.source_namespace if self.source != "unknown" else "unknown",
            "source_app": source_app,
            "source_version": source_version,
            "destination_service": f"{self.service}.{self.namespace}.svc.cluster.local",
            "destination_service_name": self.service,
            "destination_service_namespace": self.namespace,
            "destination_workload": self.destination_workload,
            "destination_workload_namespace": self.namespace,
            "destination_app": destination_app,
            "destination_version": destination_version,
            "request_protocol": "http",
            "response_code": self.code,
            "response_flags": self.flags,
            # Only the destination knows how the request arrived; Istio's source reports "unknown".
            "connection_security_policy": ("mutual_tls" if self.mtls else "none")
            if self.reporter == "destination"
            else "unknown",
        }
        return [values[name] for name in REQUEST_LABELS]

    def count(self, now: float) -> float:
        return self._count + self.rps * (now - self._since)


def _app_version(workload: str) -> tuple[str, str]:
    """`reviews-v2` -> ("reviews", "v2"); a name without a version keeps "unknown" as Istio does."""
    app, _, version = workload.rpartition("-")
    if app and version.startswith("v") and version[1:].isdigit():
        return app, version
    return workload, "unknown"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class IstioExporter:
    """Istio's standard request metrics for `flows`, served at http://127.0.0.1:<port>/metrics in
    Prometheus's text format (0.0.4).

    Each flow's label text is rendered once; a scrape formats only the numbers, so an exporter of
    10,000 series answers in well under a second (prometheus-client's renderer escapes every label
    at every scrape: ~17 s for ~100,000 series). Thread-safe: `set_rps` may run while Prometheus
    scrapes. Stop it with `close()`.
    """

    def __init__(self, flows: Iterable[Flow]) -> None:
        self._lock = threading.Lock()
        now = time.monotonic()
        self.flows = list(flows)
        for flow in self.flows:
            flow._since = now
        self._labels = [
            ",".join(
                f'{name}="{_escape(value)}"'
                for name, value in zip(REQUEST_LABELS, flow.labels(), strict=True)
            )
            for flow in self.flows
        ]
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.render()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # no access log on stderr
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set_rps(self, flow: Flow, rps: float) -> None:
        """Change one flow's rate from now on (its counter keeps what it counted so far)."""
        with self._lock:
            now = time.monotonic()
            flow._count = flow.count(now)
            flow._since = now
            flow.rps = rps

    def render(self) -> bytes:
        """The exposition of this instant: every flow's counter and latency histogram."""
        with self._lock:
            now = time.monotonic()
            counts = [flow.count(now) for flow in self.flows]
        requests = ["# HELP istio_requests_total Requests.", "# TYPE istio_requests_total counter"]
        histogram = "istio_request_duration_milliseconds"
        durations = [f"# HELP {histogram} Request duration (ms).", f"# TYPE {histogram} histogram"]
        for flow, labels, count in zip(self.flows, self._labels, counts, strict=True):
            requests.append(f"istio_requests_total{{{labels}}} {count:.6f}")
            for le in BUCKETS_MS:
                value = count if flow.latency_ms <= le else 0.0
                durations.append(f'{histogram}_bucket{{{labels},le="{le}"}} {value:.6f}')
            durations.append(f'{histogram}_bucket{{{labels},le="+Inf"}} {count:.6f}')
            durations.append(f"{histogram}_sum{{{labels}}} {count * flow.latency_ms:.6f}")
            durations.append(f"{histogram}_count{{{labels}}} {count:.6f}")
        return ("\n".join(requests + durations) + "\n").encode()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclass
class RunningPrometheus:
    process: object
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def start_prometheus(
    tmp_path: Path, targets: Iterable[str], scrape_interval: str = "1s", scrape_timeout: str | None = None
) -> Iterator[RunningPrometheus]:
    """Run Prometheus on 127.0.0.1:<free port> scraping `targets` (`host:port`) every
    `scrape_interval`, until the block ends; stopped by PID."""
    import json

    binary = prometheus_binary()
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [
            {
                "job_name": "istio-mesh",
                "scrape_timeout": scrape_timeout or scrape_interval,
                "static_configs": [{"targets": list(targets)}],
            }
        ],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    log_path = tmp_path / "prometheus.log"
    process = start_process(
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        log_path,
    )
    running = RunningPrometheus(process=process, port=port, log_path=log_path)
    try:
        from dashboard.sources.http import get_bytes

        try:
            wait_until(
                lambda: get_bytes(f"{running.url}/-/ready", 1.0), timeout=60, interval=0.2, what="ready"
            )
        except TimeoutError:
            raise AssertionError(f"Prometheus did not become ready:\n{log_tail(log_path)}") from None
        yield running
    finally:
        stop_process(process)


def wait_for_series(prometheus_url: str, promql: str, minimum: int, timeout: float = 60.0) -> None:
    """Wait until `promql` returns at least `minimum` series (scrapes have landed)."""
    from dashboard.sources.prometheus import PrometheusSource

    source = PrometheusSource(prometheus_url, 10.0)
    wait_until(lambda: len(source.query(promql)) >= minimum, timeout=timeout, interval=0.5, what=promql)
