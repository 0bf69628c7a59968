"""Cluster-mode fixtures: a real Prometheus scraping the BookInfo exporter, the real local tracer."""

from __future__ import annotations

import pytest

from meshcore.tracer.store import TraceStore
from tests.dashboard.cluster.istio_traffic import WINDOW, bookinfo_flows
from tests.meshcore.tracer.conftest import ServedTracer
from tests.support.prometheus import IstioExporter, start_prometheus, wait_for_series


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """(exporter, running Prometheus) once rate() answers for every flow."""
    exporter = IstioExporter(bookinfo_flows())
    try:
        with start_prometheus(tmp_path_factory.mktemp("prometheus"), [exporter.address]) as prometheus:
            # rate() needs two samples in the window; the first scrape comes ~5 s after start.
            wait_for_series(prometheus.url, f"rate(istio_requests_total[{WINDOW}]) > 0", len(exporter.flows))
            yield exporter, prometheus
    finally:
        exporter.close()


@pytest.fixture
def tracer(tmp_path):
    """The local tracer (real app, real SQLite store), which speaks Zipkin's API."""
    store = TraceStore(tmp_path / "traces.sqlite3", writer="thread")
    served = ServedTracer(store)
    yield served
    served.stop()
    store.close()
