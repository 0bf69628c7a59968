"""A stand-in for the local mesh for tests that need moving counters but not real Envoys.

It serves the control plane's resource API (/api/v1/registry, /status, /traffic) and one Envoy
admin API per BookInfo workload and the gateway, each on its own free loopback port, answering
`/stats?format=json` in Envoy 1.40's shape (see fixtures/standalone_*.json, recorded from a real
Envoy). Counters grow with the BookInfo call pattern at `rate` requests/s at the gateway
(productpage -> details, reviews; reviews v2/v3 -> ratings); `set_rate` changes it at once,
`set_error_ratio` makes ratings answer 5xx. Thread-safe. Real ones are in test_mesh_integration.py.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.ports import free_port

SERVICES = ("productpage", "details", "reviews", "ratings")
WORKLOADS = (
    ("productpage-v1", "productpage", "v1"),
    ("details-v1", "details", "v1"),
    ("reviews-v1", "reviews", "v1"),
    ("reviews-v2", "reviews", "v2"),
    ("reviews-v3", "reviews", "v3"),
    ("ratings-v1", "ratings", "v1"),
)
GATEWAY = "istio-ingressgateway"
QUANTILES = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]


def outbound(service: str) -> str:
    return f"outbound|9080||{service}.default.svc.cluster.local"


INBOUND = "inbound|9080||"


def flows(rate: float) -> dict[str, dict[str, float]]:
    """requests/s per (envoy, cluster) for `rate` requests/s at the gateway (BookInfo's pattern)."""
    third = rate / 3
    return {
        GATEWAY: {outbound("productpage"): rate},
        "productpage-v1": {INBOUND: rate, outbound("details"): rate, outbound("reviews"): rate},
        "details-v1": {INBOUND: rate},
        "reviews-v1": {INBOUND: third},
        "reviews-v2": {INBOUND: third, outbound("ratings"): third},
        "reviews-v3": {INBOUND: third, outbound("ratings"): third},
        "ratings-v1": {INBOUND: 2 * third},
    }


class FakeMesh:
    def __init__(self, rate: float = 5.0) -> None:
        self._lock = threading.Lock()
        self._rate = rate
        self._error_ratio = 0.0
        self._since = time.monotonic()
        # envoy -> cluster -> [total, 2xx, 5xx] as floats (fractional requests accumulate).
        self._counts: dict[str, dict[str, list[float]]] = {}
        self._servers: list[ThreadingHTTPServer] = []
        self.admin_ports: dict[str, int] = {}
        self.api_port = 0

    # --- traffic control ---------------------------------------------------------------------
    def _advance(self) -> None:
        now = time.monotonic()
        elapsed, self._since = now - self._since, now
        for envoy, clusters in flows(self._rate).items():
            for cluster, rps in clusters.items():
                counts = self._counts.setdefault(envoy, {}).setdefault(cluster, [0.0, 0.0, 0.0])
                requests = rps * elapsed
                failing = self._error_ratio if "ratings" in cluster or (envoy == "ratings-v1") else 0.0
                counts[0] += requests
                counts[1] += requests * (1 - failing)
                counts[2] += requests * failing

    def set_rate(self, rate: float) -> None:
        with self._lock:
            self._advance()
            self._rate = rate

    def set_error_ratio(self, ratio: float) -> None:
        with self._lock:
            self._advance()
            self._error_ratio = ratio

    # --- documents ---------------------------------------------------------------------------
    def stats(self, envoy: str) -> dict[str, Any]:
        with self._lock:
            self._advance()
            clusters = {k: list(v) for k, v in self._counts.get(envoy, {}).items()}
        entries: list[dict[str, Any]] = []
        histograms = []
        for cluster, (total, ok, failed) in sorted(clusters.items()):
            entries.append({"name": f"cluster.{cluster}.upstream_rq_total", "value": int(total)})
            entries.append({"name": f"cluster.{cluster}.upstream_rq_2xx", "value": int(ok)})
            if failed >= 1:
                entries.append({"name": f"cluster.{cluster}.upstream_rq_5xx", "value": int(failed)})
            # Envoy's sub-scope duplicates, which the parser must ignore.
            entries.append({"name": f"cluster.{cluster}.external.upstream_rq_2xx", "value": int(ok)})
            histograms.append(
                {
                    "name": f"cluster.{cluster}.upstream_rq_time",
                    "values": [{"interval": 2.0 + q / 50, "cumulative": 2.0 + q / 50} for q in QUANTILES],
                }
            )
        entries.append({"histograms": {"supported_quantiles": QUANTILES, "computed_quantiles": histograms}})
        return {"stats": entries}

    def registry(self) -> dict[str, Any]:
        return {
            "services": [
                {
                    "name": s,
                    "namespace": "default",
                    "fqdn": f"{s}.default.svc.cluster.local",
                    "ports": [{"number": 9080}],
                }
                for s in SERVICES
            ],
            "workloads": [
                {
                    "name": name,
                    "namespace": "default",
                    "service": service,
                    "labels": {"app": service, "version": version},
                    "address": "127.0.0.1",
                    "app_port": 0,
                    "inbound_port": 0,
                    "outbound_port": 0,
                    "admin_port": self.admin_ports[name],
                    "node_id": f"sidecar~127.0.0.1~{name}.default~default.svc.cluster.local",
                }
                for name, service, version in WORKLOADS
            ],
            "gateway": {
                "name": GATEWAY,
                "namespace": "istio-system",
                "address": "127.0.0.1",
                "port": 0,
                "admin_port": self.admin_ports[GATEWAY],
                "node_id": "router~127.0.0.1~istio-ingressgateway.istio-system~istio-system.svc.cluster.local",
                "backend_service": "productpage",
            },
        }

    def status(self) -> dict[str, Any]:
        nodes = [
            {
                "node_id": f"n-{name}",
                "name": name,
                "kind": "gateway" if name == GATEWAY else "sidecar",
                "connected": True,
                "config_version": "1",
                "acked_version": "1",
                "nack": None,
                "process": {
                    "state": "running",
                    "pid": 1,
                    "restarts": 0,
                    "last_exit": None,
                    "last_restart_at": None,
                },
            }
            for name in [GATEWAY, *(w[0] for w in WORKLOADS)]
        ]
        return {"nodes": nodes}

    # --- servers -----------------------------------------------------------------------------
    def _serve(self, answer) -> int:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, body = answer(self.path.split("?", 1)[0])
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers.append(server)
        return server.server_address[1]

    def start(self) -> FakeMesh:
        for envoy in [GATEWAY, *(w[0] for w in WORKLOADS)]:

            def answer(path: str, envoy: str = envoy) -> tuple[int, Any]:
                if path == "/stats":
                    return 200, self.stats(envoy)
                if path == "/server_info":
                    return 200, {"version": "fake", "state": "LIVE", "uptime_current_epoch": "1s"}
                if path == "/clusters":
                    return 200, {"cluster_statuses": []}
                if path == "/listeners":
                    return 200, {"listener_statuses": []}
                if path == "/config_dump":
                    return 200, {"configs": []}
                return 404, {}

            self.admin_ports[envoy] = self._serve(answer)

        def api(path: str) -> tuple[int, Any]:
            if path == "/api/v1/registry":
                return 200, self.registry()
            if path == "/api/v1/status":
                return 200, self.status()
            if path == "/api/v1/traffic":
                return 200, {"rate": self._rate}
            return 404, {"error": "not found"}

        self.api_port = self._serve(api)
        return self

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()
