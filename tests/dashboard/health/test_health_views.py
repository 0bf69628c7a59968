"""/health/, /api/health, /healthz and /metrics in-process (Django's test client) against the real
local mesh (control plane, tracer, Envoy admin sockets) and a real Redis; one real poll feeds the
poller's heartbeat and counters."""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from dashboard.redis_server import start_redis
from dashboard.topology.service import poll_and_publish
from dashboard.topology.state import redis_poll_state

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.mesh]

SUPERVISOR = {
    "updated_at": 1764590584.0,
    "parts": {
        "redis": {"state": "running", "pid": 4100, "restarts": 0, "since": 1764590000.0, "last_exit": None},
        "celery-worker": {
            "state": "backoff",
            "pid": None,
            "restarts": 3,
            "since": 1764590580.0,
            "last_exit": {"code": None, "signal": 9, "at": 1764590579.0},
            "last_error": "killed by signal 9",
        },
    },
}


@pytest.fixture
def health_mesh(settings, redis_layer, mesh, tmp_path):
    """The dashboard's settings pointed at the real mesh and the test Redis; no supervisor file."""
    settings.MESHCORE_API_URL = mesh.api_url
    settings.MESHCORE_API_TOKEN_FILE = str(mesh.token_file)
    settings.MESHCORE_TRACER_URL = mesh.tracer_url
    settings.CELERY_BROKER_URL = redis_layer.url
    settings.SUPERVISOR_FILES = [str(tmp_path / "supervisor.json"), str(tmp_path / "mesh-supervisor.json")]
    settings.METRICS_TOKEN = ""
    settings.METRICS_TOKEN_FILE = tmp_path / "metrics-token"
    settings.HEALTH_DEADLINE_SECONDS = 5.0
    return mesh


def checks_of(body: dict) -> dict[str, dict]:
    return {c["name"]: c for c in body["checks"]}


def test_everything_is_up_after_a_poll_and_each_sidecar_is_listed(health_mesh, viewer_client):
    poll_and_publish()
    body = viewer_client.get("/api/health").json()
    checks = checks_of(body)
    sidecars = {f"sidecar:{w['name']}" for w in health_mesh.registry()["workloads"]}
    assert sidecars and sidecars <= set(checks)
    down = {name: c["error"] for name, c in checks.items() if c["state"] != "up"}
    assert down == {}
    assert body["status"] == "ok" and body["down"] == []
    assert checks["poller"]["detail"].startswith("last poll ")
    assert checks["tracer"]["detail"].startswith("UP")
    assert all(c["last_success"] is not None for c in checks.values())
    assert body["supervisor"]["supervised"] is False
    page = viewer_client.get("/health/").content.decode()
    assert "All up" in page and "not supervised" in page


def test_the_poller_is_down_until_it_has_polled(health_mesh, viewer_client):
    checks = checks_of(viewer_client.get("/api/health").json())
    assert checks["poller"]["state"] == "down"
    assert checks["poller"]["error"] == "no poll recorded yet"


def test_anonymous_callers_get_only_a_yes_or_no(health_mesh, client):
    for url in ("/healthz", "/api/health?probe=1"):
        answer = client.get(url)
        assert (answer.status_code, answer.content) == (200, b"ok\n")
    assert client.get("/api/health").status_code == 401
    assert client.get("/health/").status_code == 302
    # No poll ran: a probe that also requires the poller says no.
    assert client.get("/healthz?require=poller").status_code == 503
    bad = client.get("/healthz?require=nonsense")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["path"] == "require"


def test_redis_down_is_named_with_its_error_and_the_probe_answers_503(
    health_mesh, settings, client, viewer_client, tmp_path
):
    own = start_redis(log_path=tmp_path / "own-redis.log")
    settings.REDIS_URL = own.url
    try:
        assert checks_of(viewer_client.get("/api/health").json())["redis"]["state"] == "up"
    finally:
        own.stop()
    assert client.get("/healthz").status_code == 503
    body = viewer_client.get("/api/health").json()
    redis_check = checks_of(body)["redis"]
    assert redis_check["state"] == "down"
    assert redis_check["error"]
    assert redis_check["last_success"] is not None  # remembered from the call before
    assert "redis" in body["down"]
    page = viewer_client.get("/health/").content.decode()
    assert 'data-check="redis" data-state="down"' in page


def test_a_sidecar_whose_admin_does_not_answer_is_named(health_mesh, viewer_client, tmp_path):
    poll_and_publish()
    state = redis_poll_state()
    registry = state.load("registry")
    ghost = {**registry["workloads"][0], "name": "ghost-v1", "admin_address": f"unix:{tmp_path}/gone.sock"}
    registry["workloads"].append(ghost)
    state.save("registry", registry)
    body = viewer_client.get("/api/health").json()
    assert body["down"] == ["sidecar:ghost-v1"]
    assert "gone.sock" in checks_of(body)["sidecar:ghost-v1"]["error"]


def test_supervised_parts_are_shown_with_state_restarts_and_last_exit(health_mesh, settings, viewer_client):
    with open(settings.SUPERVISOR_FILES[1], "w") as handle:
        json.dump(SUPERVISOR, handle)
    body = viewer_client.get("/api/health").json()
    parts = {p["name"]: p for p in body["supervisor"]["parts"]}
    assert parts["celery-worker"]["state"] == "backoff" and parts["celery-worker"]["restarts"] == 3
    assert "celery-worker" in body["down"] and "redis" not in body["down"]
    page = viewer_client.get("/health/").content.decode()
    assert 'data-part="celery-worker" data-state="backoff"' in page
    assert "signal 9" in page and "killed by signal 9" in page


def metric(text: str, name: str) -> float | None:
    """The value of sample `name` (with its labels, as exposed) in a Prometheus text answer."""
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample == name:
            return float(value)
    return None


def test_metrics_need_login_or_the_bearer_token(health_mesh, settings, viewer_client):
    client = Client()  # anonymous
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert viewer_client.get("/metrics").status_code == 200
    token = settings.METRICS_TOKEN_FILE.read_text().strip()
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")


def test_metrics_report_polls_sources_snapshot_age_queue_depth_and_restarts(
    health_mesh, settings, viewer_client
):
    from celery import Celery

    with open(settings.SUPERVISOR_FILES[0], "w") as handle:
        json.dump(SUPERVISOR, handle)
    poll_and_publish()
    poll_and_publish()
    text = viewer_client.get("/metrics").content.decode()
    assert metric(text, "meshscope_poll_duration_seconds_count") == 2
    assert metric(text, 'meshscope_source_requests_total{source="registry"}') == 2
    gateway = f'meshscope_source_requests_total{{source="envoy:{health_mesh.registry()["gateway"]["name"]}"}}'
    assert metric(text, gateway) == 2
    assert metric(text, "meshscope_snapshot_age_seconds") is not None
    assert metric(text, 'meshscope_part_restarts_total{part="celery-worker"}') == 3
    assert metric(text, 'meshscope_part_up{part="celery-worker",state="backoff"}') == 0
    assert metric(text, "meshscope_celery_queue_depth") == 0
    # Two tasks with no worker to take them wait in the broker's queue.
    sender = Celery("queue-depth-test", broker=settings.CELERY_BROKER_URL)
    try:
        sender.send_task("topology.poll")
        sender.send_task("topology.poll")
    finally:
        sender.close()
    text = viewer_client.get("/metrics").content.decode()
    assert metric(text, "meshscope_celery_queue_depth") == 2
    assert metric(text, 'meshscope_metrics_source_up{source="broker"}') == 1


@pytest.mark.parametrize(
    ("path", "label"), [("/ws/topology/", "topology"), ("/ws/routes/", "routes"), ("/ws/traces/", "traces")]
)
async def test_websocket_clients_are_counted(health_mesh, client, viewer, path, label):
    from asgiref.sync import sync_to_async

    from dashboard.asgi import application
    from dashboard.health.metrics import WEBSOCKET_CLIENTS

    await sync_to_async(client.force_login)(viewer)
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    gauge = WEBSOCKET_CLIENTS.labels(label)
    before = gauge._value.get()
    sockets = [
        WebsocketCommunicator(application, path, headers=[(b"origin", b"http://127.0.0.1"), cookie])
        for _ in range(2)
    ]
    for ws in sockets:
        assert (await ws.connect())[0]
    assert gauge._value.get() == before + 2
    for ws in sockets:
        await ws.disconnect()
    assert gauge._value.get() == before
