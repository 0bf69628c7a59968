"""A real Prometheus scraping the BookInfo exporter, shared by the cluster-mode telemetry tests."""

from __future__ import annotations

import pytest

from tests.dashboard.cluster.istio_traffic import WINDOW, bookinfo_flows
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
