"""The sidecar inspector in cluster mode: Envoy's admin API through the API server's pod proxy.

No kubelet or pod network runs here, so the API server cannot reach a sidecar: the happy path is
tested on recorded Envoy admin answers (tests/dashboard/fixtures/standalone_admin.json, recorded
from a real Envoy) served by a small real HTTP server at the pod proxy's paths, answering as the
API server does (bearer token required, `Status` bodies for errors). What the real API server can
answer without a kubelet (an unknown pod) is tested on it.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from kubernetes import client

from dashboard.services.sidecar import sidecar_view
from dashboard.sources import configured
from dashboard.sources.envoy import TRAFFIC_STATS_FILTER
from dashboard.sources.errors import SourceError
from dashboard.sources.kubeenvoy import PodProxyEnvoyAdmin, pod_of
from dashboard.sources.registry import MeshRegistry, ServiceInfo, StaticRegistry, WorkloadInfo
from tests.dashboard.conftest import load_fixture
from tests.support import kubebookinfo
from tests.support.served_app import ServedApp

TOKEN = "recorded-token"
POD = "reviews-v2-5d8f-abcde"
RECORDED_STATS = {
    "stats": [
        {"name": "cluster.outbound|9080||ratings.bookinfo.svc.cluster.local.upstream_rq_total", "value": 7}
    ]
}


def status(code: int, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}
    return web.json_response(body, status=code)


@pytest.fixture
def recorded_api_server():
    """An HTTP server answering the pod proxy paths of pod bookinfo/POD with recorded answers;
    `seen` holds every request's path and query."""
    admin = load_fixture("standalone_admin.json")
    answers = {**admin, "stats": RECORDED_STATS}
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(f"{request.path}?{request.query_string}")  # decoded path, raw query
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return status(401, "Unauthorized")
        if (request.match_info["namespace"], request.match_info["pod"]) != ("bookinfo", f"{POD}:15000"):
            return status(404, f'pods "{request.match_info["pod"]}" not found')
        endpoint = request.match_info["endpoint"]
        if endpoint not in answers:
            return web.Response(status=404, text="invalid path. admin commands are:")  # Envoy's own 404
        return web.json_response(answers[endpoint])

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/{namespace}/pods/{pod}/proxy/{endpoint}", proxy)
    served = ServedApp(app)
    served.seen = seen
    served.admin = admin
    yield served
    served.stop()


def api_client_for(url: str, token: str = TOKEN) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = url
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(configuration)


def test_admin_reads_travel_through_the_pod_proxy_with_their_query_and_token(recorded_api_server):
    admin = PodProxyEnvoyAdmin(api_client_for(recorded_api_server.url), timeout=10)
    address = f"kube:bookinfo/{POD}"

    assert admin.server_info(address) == recorded_api_server.admin["server_info"]
    assert admin.clusters(address) == recorded_api_server.admin["clusters"]
    assert admin.stats(address) == RECORDED_STATS

    stats_request = urlsplit(next(p for p in recorded_api_server.seen if "/proxy/stats" in p))
    assert stats_request.path == f"/api/v1/namespaces/bookinfo/pods/{POD}:15000/proxy/stats"
    query = parse_qs(stats_request.query, keep_blank_values=True)
    assert query == {"format": ["json"], "usedonly": [""], "filter": [TRAFFIC_STATS_FILTER]}


def test_refusals_are_source_errors_with_the_api_servers_message(recorded_api_server):
    with pytest.raises(SourceError) as unknown:
        PodProxyEnvoyAdmin(api_client_for(recorded_api_server.url), timeout=10).server_info(
            "kube:bookinfo/gone-1"
        )
    assert unknown.value.status == 404 and 'pods "gone-1:15000" not found' in str(unknown.value)
    with pytest.raises(SourceError) as unauthorized:
        PodProxyEnvoyAdmin(api_client_for(recorded_api_server.url, "wrong"), timeout=10).server_info(
            f"kube:bookinfo/{POD}"
        )
    assert unauthorized.value.status == 401
    with pytest.raises(SourceError, match="not a pod address"):
        pod_of("kube:no-pod-here")


def cluster_registry() -> MeshRegistry:
    """A cluster-mode registry: reviews-v2 names its pod and no admin address."""
    workload = WorkloadInfo(
        name="reviews-v2",
        service="reviews",
        app="reviews",
        version="v2",
        namespace="bookinfo",
        pod=f"bookinfo/{POD}",
    )
    return MeshRegistry(services=(ServiceInfo("reviews", "bookinfo"),), workloads=(workload,))


def test_the_sidecar_view_reads_a_cluster_sidecar(recorded_api_server):
    registry = cluster_registry()
    workload = registry.workload("reviews-v2")
    admin = PodProxyEnvoyAdmin(api_client_for(recorded_api_server.url), timeout=10)

    view = sidecar_view(admin, workload.inspect_address, None, registry)

    assert view["errors"] == []
    assert view["server_info"] == recorded_api_server.admin["server_info"]
    assert view["clusters"] and view["listeners"]


@pytest.mark.django_db
def test_the_sidecar_page_in_cluster_mode(viewer_client, settings, monkeypatch, recorded_api_server):
    settings.CLUSTER_MODE = "kubernetes"
    registry = cluster_registry()
    monkeypatch.setattr(configured, "registry_source", lambda: StaticRegistry(registry, ()))
    monkeypatch.setattr(
        configured, "kube_api_client", lambda kubeconfig, context: api_client_for(recorded_api_server.url)
    )

    html = viewer_client.get("/services/sidecars/reviews-v2/").content.decode()

    recorded_cluster = recorded_api_server.admin["clusters"]["cluster_statuses"][0]["name"]
    assert recorded_cluster in html
    assert any(f"/pods/{POD}:15000/proxy/clusters" in p for p in recorded_api_server.seen)


def test_the_real_api_server_answers_an_unknown_pod_with_404(kube):
    api = kube.client()
    namespace = kubebookinfo.fresh_namespace(api)
    admin = PodProxyEnvoyAdmin(api, timeout=20)

    with pytest.raises(SourceError) as unknown:
        admin.server_info(f"kube:{namespace}/no-such-pod")

    assert unknown.value.status == 404
    assert 'pods "no-such-pod" not found' in str(unknown.value)
