"""Record a real Prometheus's answers to the mesh queries for BookInfo traffic (the pure tests'
fixture): `python -m tests.dashboard.cluster.record_prometheus` (needs the `prometheus` binary).

Starts the test exporter with `istio_traffic.bookinfo_flows()`, lets Prometheus scrape it for
two windows, runs `mesh_queries` and, for reference, Prometheus's own `histogram_quantile` of the
same buckets (`quantile_queries`, as `histogram_quantile:<name>`) at one evaluation time and
writes the untouched JSON answers to tests/dashboard/fixtures/prometheus_bookinfo.json together
with the window and evaluation time.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from dashboard.sources.http import get_json
from dashboard.sources.prometheus import duration_seconds, mesh_queries, quantile_queries
from tests.dashboard.cluster.istio_traffic import WINDOW, bookinfo_flows
from tests.support.prometheus import IstioExporter, start_prometheus, wait_for_series

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "prometheus_bookinfo.json"


def record() -> dict:
    exporter = IstioExporter(bookinfo_flows())
    try:
        with start_prometheus(Path(tempfile.mkdtemp()), [exporter.address]) as prometheus:
            wait_for_series(prometheus.url, f"rate(istio_requests_total[{WINDOW}]) > 0", len(exporter.flows))
            time.sleep(2 * duration_seconds(WINDOW))  # a full window of scrapes behind every rate
            at = time.time()
            answers = {
                name: get_json(
                    f"{prometheus.url}/api/v1/query?{urlencode({'query': promql, 'time': at})}", 10.0
                )
                for name, promql in {
                    **mesh_queries(WINDOW),
                    **{f"histogram_quantile:{k}": v for k, v in quantile_queries(WINDOW).items()},
                }.items()
            }
    finally:
        exporter.close()
    return {"window": WINDOW, "evaluated_at": at, "answers": answers}


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(record(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE}")
