"""The audit log end to end on SQLite and on PostgreSQL: real Daphne + Celery worker + beat + Redis
against the real mesh; changes through the JSON API, a rollback, and an external change that the
beat task records. PostgreSQL is the one on 127.0.0.1:5432 (trust auth, user postgres); where none
answers, the PostgreSQL case is skipped with a loud reason.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.dashboard.procs import Dashboard
from tests.support.samples import reviews_weights, sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mesh
POSTGRES = "postgres://postgres@127.0.0.1:5432/"
PG_SKIP = "POSTGRESQL AUDIT-LOG TEST SKIPPED: no PostgreSQL answers on 127.0.0.1:5432 (user postgres)"


def postgres_admin():
    import psycopg

    try:
        return psycopg.connect(POSTGRES + "postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        return None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request):
    if request.param == "sqlite":
        # Empty is SQLite, also when the whole suite runs on PostgreSQL (DATABASE_URL set).
        yield {"DATABASE_URL": ""}
        return
    admin = postgres_admin()
    if admin is None:
        pytest.skip(PG_SKIP)
    name = f"meshscope_audit_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"DATABASE_URL": POSTGRES + name}
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def running(tmp_path, redis_server, clean_mesh, database_env):
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    clean_mesh.apply_ok(sample("destination-rule-all"))
    dashboard = Dashboard(
        tmp_path,
        redis_server.url,
        clean_mesh.api_url,
        MESHSCOPE_ROUTES_SYNC_INTERVAL="0.5",
        MESHCORE_STATE_DIR=str(clean_mesh.state_dir),
        **database_env,
    )
    yield dashboard
    dashboard.stop()


def logged_in(dashboard: Dashboard) -> requests.Session:
    return dashboard.requests_session()


def test_audit_log_records_changes_rollbacks_and_external_edits(running, clean_mesh, database_env):
    http = logged_in(running)
    url = running.url + "/api/istio/default/virtualservices/reviews"

    def put(text: str) -> requests.Response:
        return http.put(url, data=text, headers={"Content-Type": "application/yaml"}, timeout=30)

    first = put(reviews_weights(v3=100))
    assert first.status_code == 201, first.text + running.logs()
    assert put(reviews_weights(v1=100)).status_code == 200
    assert set(clean_mesh.versions_seen(5)) == {"v1"}
    rollback = http.post(
        running.url + f"/api/routes/revisions/{first.json()['revision']}/rollback", timeout=30
    )
    assert rollback.status_code == 201, rollback.text
    assert set(clean_mesh.versions_seen(8)) == {"v3"}
    assert clean_mesh.cli("apply", "-f", "-", stdin=reviews_weights(v2=100)).returncode == 0

    def revisions() -> list[dict]:
        items = http.get(running.url + "/api/routes/revisions?kind=VirtualService", timeout=10).json()[
            "items"
        ]
        return items if len(items) == 4 else []

    log = wait_until(revisions, timeout=30, what="the beat task records the external change")
    assert [(r["source"], r["user"]) for r in log] == [
        ("external", ""),
        ("dashboard", Dashboard.USER),
        ("dashboard", Dashboard.USER),
        ("dashboard", Dashboard.USER),
    ]
    assert log[1]["rollback_of"] == first.json()["revision"]
    assert "subset: v2" in log[0]["yaml_after"] and "subset: v3" in log[0]["yaml_before"]
    if database_env.get("DATABASE_URL"):
        import psycopg

        with psycopg.connect(database_env["DATABASE_URL"]) as connection:
            count = connection.execute(
                "SELECT count(*) FROM routes_revision WHERE kind = 'VirtualService'"
            ).fetchone()
        assert count == (4,)
