"""The OpenAPI fuzz suite: schemathesis sends generated requests (a bounded number per operation,
MESHSCOPE_FUZZ_EXAMPLES, default 8; no deadline) to the real parts and checks every answer: no
5xx, a documented status, a documented content type, a body matching its schema.

- the dashboard's JSON API (dashboard/openapi.yaml) on a real Daphne + Celery worker + beat with a
  logged-in admin session (CSRF token sent, so writes reach the control plane);
- the control plane's resource API (meshcore/controlplane/openapi.yaml) with its bearer token;
- the tracer with Zipkin's published v2 API (tests/fuzz/zipkin2-api.yaml, the part it serves).

They run against a mesh of their own: fuzzed writes must not leak into other tests' mesh. Process
control and the traffic generator's rate are left out (stopping parts or 1,000 rps on a shared
2-core machine measures nothing about the API); everything else is fuzzed, writes included.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dashboard.redis_server import start_redis
from meshcore.apitoken import read_token
from tests.dashboard.procs import Dashboard
from tests.support.mesh import start_mesh, stop_mesh
from tests.support.samples import sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mesh
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("MESHSCOPE_FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("MESHSCOPE_FUZZ_SEED") is None,
)

DASHBOARD = schemathesis.openapi.from_path(REPO / "dashboard" / "openapi.yaml")
CONTROL_PLANE = (
    schemathesis.openapi.from_path(REPO / "meshcore" / "controlplane" / "openapi.yaml")
    .exclude(path="/api/v1/processes/{name}/{action}")
    .exclude(method="PUT", path="/api/v1/traffic")
)
ZIPKIN = schemathesis.openapi.from_path(Path(__file__).with_name("zipkin2-api.yaml"))


@pytest.fixture(scope="module")
def fuzz_mesh(tmp_path_factory):
    running = start_mesh(tmp_path_factory.mktemp("fuzz-mesh"))
    running.apply_ok(sample("destination-rule-all"))
    yield running
    stop_mesh(running)


@pytest.fixture(scope="module")
def fuzz_dashboard(tmp_path_factory, fuzz_mesh):
    tmp = tmp_path_factory.mktemp("fuzz-dash")
    redis = start_redis(log_path=tmp / "redis.log")
    dashboard = Dashboard(
        tmp,
        redis.url,
        fuzz_mesh.api_url,
        MESHCORE_TRACER_URL=fuzz_mesh.tracer_url,
        MESHCORE_STATE_DIR=str(fuzz_mesh.state_dir),
    )
    session = dashboard.requests_session()
    dashboard.session = session
    dashboard.credentials = (dict(session.cookies), dict(session.headers))
    # A 503 is the documented answer before the first poll: fuzz the dashboard as it normally runs.
    wait_until(
        lambda: session.get(dashboard.url + "/api/topology", timeout=10).status_code == 200,
        timeout=60,
        what="the first topology snapshot",
    )
    yield dashboard
    dashboard.stop()
    redis.stop()


def failure_context(response, logs: str = "") -> str:
    return f"{response.request.method} {response.request.url} -> {response.status_code}\n{logs}"


def logged_in_session(dashboard: Dashboard) -> requests.Session:
    """A new session with the login's cookies for each call: a generated `sessionid` cookie makes
    Django delete the cookie in its answer, which would log a shared session out."""
    cookies, headers = dashboard.credentials
    session = requests.Session()
    session.cookies.update(cookies)
    session.headers.update(headers)
    return session


@DASHBOARD.parametrize()
@FUZZ
def test_dashboard_api(case, fuzz_dashboard):
    response = case.call(base_url=fuzz_dashboard.url, session=logged_in_session(fuzz_dashboard), timeout=60)
    if response.status_code >= 500:
        print(failure_context(response, fuzz_dashboard.logs()))
    case.validate_response(response, checks=CHECKS)


@CONTROL_PLANE.parametrize()
@FUZZ
def test_control_plane_api(case, fuzz_mesh):
    token = read_token(fuzz_mesh.token_file)
    response = case.call(base_url=fuzz_mesh.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    case.validate_response(response, checks=CHECKS)


@ZIPKIN.parametrize()
@FUZZ
def test_tracer_zipkin_api(case, fuzz_mesh):
    response = case.call(base_url=fuzz_mesh.tracer_url + "/api/v2", timeout=60)
    case.validate_response(response, checks=CHECKS)


def test_the_descriptions_are_served_at_their_stable_urls(fuzz_mesh, fuzz_dashboard):
    served = fuzz_dashboard.session.get(fuzz_dashboard.url + "/api/openapi.yaml", timeout=10)
    assert served.status_code == 200 and served.content == (REPO / "dashboard" / "openapi.yaml").read_bytes()
    assert requests.get(fuzz_dashboard.url + "/api/openapi.yaml", timeout=10).status_code in (302, 401)
    plane = requests.get(fuzz_mesh.api_url + "/openapi.yaml", timeout=10)
    assert plane.status_code == 200
    assert plane.content == (REPO / "meshcore" / "controlplane" / "openapi.yaml").read_bytes()
