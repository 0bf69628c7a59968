"""Source adapters over real HTTP: parsing, timeouts, failures reported as SourceError."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dashboard.sources.envoy import HttpEnvoyAdmin
from dashboard.sources.errors import SourceError
from dashboard.sources.registry import ControlPlaneRegistry, parse_registry, parse_status
from dashboard.sources.traces import ZipkinTraceSource
from tests.support.ports import free_port


@pytest.fixture
def server():
    """A loopback HTTP server whose answers the test sets: routes[path] = (status, body, delay_s)."""
    routes: dict[str, tuple[int, object, float]] = {}
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            status, body, delay = routes.get(self.path.split("?")[0], (404, {"error": "nope"}, 0.0))
            time.sleep(delay)
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_address[1]}", routes, seen
    httpd.shutdown()
    httpd.server_close()


def test_control_plane_registry_and_status(server, bookinfo_recording):
    address, routes, _ = server
    routes["/api/v1/registry"] = (200, bookinfo_recording["registry"], 0)
    routes["/api/v1/status"] = (200, bookinfo_recording["status"], 0)
    source = ControlPlaneRegistry(f"http://{address}", timeout=2)
    registry = source.registry()
    assert [w.name for w in registry.workloads_of("reviews")] == ["reviews-v1", "reviews-v2", "reviews-v3"]
    assert registry.gateway.name == "istio-ingressgateway"
    assert registry.service_by_host("ratings.default.svc.cluster.local").name == "ratings"
    status = {s.name: s for s in source.status()}
    assert status["ratings-v1"].connected and status["ratings-v1"].app_process.state == "running"
    assert source.traffic() is None  # 404: no generator


def test_timeouts_and_bad_answers_raise_source_error(server):
    address, routes, _ = server
    routes["/api/v1/registry"] = (200, {}, 1.0)
    with pytest.raises(SourceError, match="timed out"):
        ControlPlaneRegistry(f"http://{address}", timeout=0.2).registry()
    routes["/api/v1/registry"] = (200, b"not json", 0)
    with pytest.raises(SourceError, match="invalid JSON"):
        ControlPlaneRegistry(f"http://{address}", timeout=1).registry()
    routes["/api/v1/registry"] = (500, {}, 0)
    with pytest.raises(SourceError, match="HTTP 500"):
        ControlPlaneRegistry(f"http://{address}", timeout=1).registry()
    routes["/api/v1/registry"] = (200, {"services": "nope"}, 0)
    with pytest.raises(SourceError, match="malformed registry"):
        ControlPlaneRegistry(f"http://{address}", timeout=1).registry()
    with pytest.raises(SourceError) as refused:
        ControlPlaneRegistry(f"http://127.0.0.1:{free_port()}", timeout=1).registry()
    assert refused.value.status is None and refused.value.unreachable


def test_source_error_carries_status_and_field_errors_as_data(server):
    address, routes, _ = server
    body = {"error": 'invalid "resources"', "errors": [{"path": "spec.http[0].route", "message": "sum 90"}]}
    routes["/api/v1/registry"] = (422, body, 0)
    with pytest.raises(SourceError) as refused:
        ControlPlaneRegistry(f"http://{address}", timeout=1).registry()
    assert refused.value.status == 422 and not refused.value.unreachable
    assert [(e.path, e.message) for e in refused.value.errors] == [("spec.http[0].route", "sum 90")]
    assert 'invalid "resources"' in str(refused.value)
    routes["/api/v1/registry"] = (404, b"<html>not ours</html>", 0)
    with pytest.raises(SourceError) as missing:
        ControlPlaneRegistry(f"http://{address}", timeout=1).registry()
    assert missing.value.status == 404 and missing.value.errors == []


def test_envoy_admin_sends_the_stats_filter(server):
    address, routes, seen = server
    routes["/stats"] = (200, {"stats": []}, 0)
    routes["/clusters"] = (200, {"cluster_statuses": []}, 0)
    admin = HttpEnvoyAdmin(timeout=1)
    assert admin.stats(address) == {"stats": []}
    assert "format=json" in seen[-1] and "usedonly" in seen[-1] and "filter=%5Ecluster" in seen[-1]
    assert admin.clusters(address) == {"cluster_statuses": []}
    assert seen[-1] == "/clusters?format=json"


def test_zipkin_adapter(server):
    address, routes, seen = server
    routes["/api/v2/traces"] = (200, [[{"traceId": "a", "id": "b", "timestamp": 1, "duration": 5}]], 0)
    routes["/api/v2/trace/abc"] = (200, [{"traceId": "abc", "id": "1"}], 0)
    routes["/api/v2/dependencies"] = (200, [{"parent": "productpage", "child": "details", "callCount": 3}], 0)
    source = ZipkinTraceSource(f"http://{address}", timeout=1)
    assert source.traces(service="productpage", limit=5)[0][0]["traceId"] == "a"
    assert "serviceName=productpage" in seen[-1] and "limit=5" in seen[-1]
    assert source.trace("abc")[0]["traceId"] == "abc"
    assert source.dependencies(end_ts_ms=1000)[0]["callCount"] == 3
    routes["/api/v2/dependencies"] = (200, [], 2.0)
    with pytest.raises(SourceError):
        source.dependencies(end_ts_ms=1000)


def test_status_parsing_keeps_nack_and_process_state():
    status = parse_status(
        {
            "nodes": [
                {
                    "name": "x",
                    "node_id": "n",
                    "kind": "sidecar",
                    "connected": False,
                    "nack": {"version": "3", "message": "bad", "at": 1},
                    "process": {"state": "restarting", "pid": 9, "restarts": 2},
                }
            ]
        }
    )
    assert status[0].nack["message"] == "bad" and status[0].process.state == "restarting"
    assert status[0].app_process is None
    assert parse_registry({"services": [], "workloads": []}).gateway is None


@pytest.fixture
def unix_server(tmp_path):
    """An HTTP server on a Unix socket (as Envoy's admin is): routes[path] = (status, body, delay_s)."""
    import socketserver

    routes: dict[str, tuple[int, object, float]] = {}
    headers_seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            headers_seen.append(dict(self.headers))
            status, body, delay = routes.get(self.path.split("?")[0], (404, {"error": "nope"}, 0.0))
            time.sleep(delay)
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def address_string(self):
            return "unix"

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    path = tmp_path / "admin.sock"
    httpd = Server(str(path), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"unix:{path}", routes, headers_seen
    httpd.shutdown()
    httpd.server_close()


def test_envoy_admin_over_a_unix_socket(unix_server, tmp_path):
    address, routes, _ = unix_server
    routes["/server_info"] = (200, {"state": "LIVE"}, 0)
    routes["/clusters"] = (503, {"error": "draining", "errors": []}, 0)
    routes["/listeners"] = (200, {}, 2.0)
    admin = HttpEnvoyAdmin(timeout=0.5)
    assert admin.server_info(address) == {"state": "LIVE"}
    with pytest.raises(SourceError) as refused:
        admin.clusters(address)
    assert refused.value.status == 503 and "draining" in str(refused.value)
    with pytest.raises(SourceError) as slow:
        admin.listeners(address)
    assert slow.value.unreachable
    with pytest.raises(SourceError) as missing:
        admin.server_info(f"unix:{tmp_path / 'gone.sock'}")
    assert missing.value.unreachable
