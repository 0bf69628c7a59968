"""Cluster mode as a user meets it, in a real Chromium: `make run` with MESHSCOPE_CLUSTER=kubernetes
against the real kube-apiserver (BookInfo's objects, read with the shipped ClusterRole) and a real
Prometheus scraping Istio's standard metrics for BookInfo traffic (tests.support.prometheus's
exporter, whose rates the test sets). The live map shows the cluster's workloads with the rates
Prometheus reports and follows a change without a reload; the health page names the cluster's
sources. No local mesh runs."""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace

import pytest

from tests.dashboard.cluster.istio_traffic import WINDOW, bookinfo_flows
from tests.dashboard.routes.test_routes_browser import browser, log_in, rps  # noqa: F401 - fixture
from tests.dashboard.test_stack import start_stack
from tests.support import kubebookinfo
from tests.support.kuberoles import shipped_role
from tests.support.ports import free_port
from tests.support.processes import log_tail, stop_process
from tests.support.prometheus import IstioExporter, start_prometheus, wait_for_series
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser
EDGE = "svc:reviews->wl:reviews-v1"


def test_the_cluster_map_follows_prometheus_live_in_the_browser(browser, kube, tmp_path):  # noqa: F811
    api = kube.client()
    loaded = kubebookinfo.load_bookinfo(api, kubebookinfo.fresh_namespace(api))
    ns = loaded.namespace
    flows = [
        dataclasses.replace(
            f, namespace=ns, source_namespace=ns if f.source_namespace == "default" else f.source_namespace
        )
        for f in bookinfo_flows()
    ]
    to_reviews_v1 = next(
        f for f in flows if f.reporter == "destination" and f.destination_workload == "reviews-v1"
    )
    exporter = IstioExporter(flows)
    port = free_port()
    try:
        with (
            shipped_role(kube, "meshscope-dashboard", "meshscope-dashboard"),
            start_prometheus(tmp_path, [exporter.address]) as prometheus,
        ):
            wait_for_series(prometheus.url, f"rate(istio_requests_total[{WINDOW}]) > 0", len(flows))
            env = {
                "MESHSCOPE_CLUSTER": "kubernetes",
                "MESHSCOPE_KUBECONFIG": str(kube.kubeconfig("meshscope-dashboard")),
                "MESHSCOPE_KUBE_NAMESPACES": ns,
                "MESHSCOPE_KUBE_WATCH_IDLE": "0.5",
                "MESHSCOPE_PROMETHEUS_URL": prometheus.url,
                "MESHSCOPE_PROMETHEUS_RATE_WINDOW": WINDOW,
            }
            process, log = start_stack(tmp_path, port, [], env)
            try:
                wait_until(
                    lambda: "Meshscope is up" in log.read_text() or process.poll() is not None,
                    timeout=120,
                    what="the launcher",
                )
                password = re.search(r"with password: (\S+)", log.read_text())
                assert password, log_tail(log)
                dashboard = SimpleNamespace(url=f"http://127.0.0.1:{port}")
                context, page, errors = log_in(browser, dashboard, "admin", password.group(1))
                page.wait_for_selector("#map .main-svg", timeout=60_000)
                # Prometheus's rate over a 10 s window of 1 s scrapes: within 10 % of the set rate.
                wait_until(
                    lambda: (rps(page, EDGE) or 0) == pytest.approx(4.0, rel=0.1),
                    timeout=90,
                    what="reviews v1's rate from Prometheus on the map",
                )
                assert (rps(page, "svc:ratings->wl:ratings-v1") or 0) == pytest.approx(6.0, rel=0.1)
                page.evaluate("() => { window.__sameDocument = true; }")
                exporter.set_rps(to_reviews_v1, 12.0)
                wait_until(
                    lambda: (rps(page, EDGE) or 0) > 8.0, timeout=60, what="the new rate, without a reload"
                )
                assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
                assert page.get_attribute("#connection", "data-state") == "live"

                health = context.new_page()
                health.goto(dashboard.url + "/health/")
                for check in ("kubernetes", "prometheus"):
                    assert health.get_attribute(f'tr[data-check="{check}"]', "data-state") == "up", check
                assert health.locator('tr[data-check="controlplane"]').count() == 0
                assert "istio_requests_total" in health.text_content("body")
                context.close()
                assert errors == [], errors
            finally:
                stop_process(process)
    finally:
        exporter.close()
