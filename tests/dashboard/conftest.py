"""Fixtures of the dashboard tests: a private Redis, the fake mesh, recorded Envoy answers, users.

Every server here listens on a free loopback port and is stopped by PID when its fixture ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.redis_server import RedisServer, start_redis
from tests.dashboard.fakemesh import FakeMesh
from tests.dashboard.procs import Dashboard, drop_test_databases

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="session", autouse=True)
def _drop_test_dashboard_databases():
    """On a PostgreSQL run, the databases made for test dashboards go when the session ends."""
    yield
    drop_test_databases()


@pytest.fixture(scope="session", autouse=True)
def _end_stray_database_sessions(django_db_setup, django_db_blocker):
    """On PostgreSQL, end the test database's other sessions before pytest-django drops it.

    Threads of Channels' `database_sync_to_async` and of the health probes keep their own
    connections; PostgreSQL refuses to drop a database that has any.
    """
    yield
    from django.db import connection

    # Only once the test database is in use (a session without database tests never made one).
    if connection.vendor != "postgresql" or not str(connection.settings_dict["NAME"]).startswith("test_"):
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = start_redis(log_path=tmp_path_factory.mktemp("redis") / "redis.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_layer(settings, redis_server):
    """Point Channels and the poll state at the test Redis (flushed first)."""
    import redis
    from channels.layers import channel_layers

    redis.Redis.from_url(redis_server.url).flushdb()
    settings.REDIS_URL = redis_server.url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_server.url]},
        }
    }
    channel_layers.backends.clear()
    yield redis_server
    channel_layers.backends.clear()


@pytest.fixture
def fake_mesh() -> Iterator[FakeMesh]:
    mesh = FakeMesh(rate=5.0).start()
    try:
        yield mesh
    finally:
        mesh.stop()


@pytest.fixture
def bookinfo_recording() -> dict:
    """Answers recorded from the real local mesh under 5 rps (fixtures/record_mesh.py)."""
    return load_fixture("bookinfo_mesh.json")


@pytest.fixture
def viewer(django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("viewer1", password="viewer-pass-1")
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    return user


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory, redis_server, mesh):
    """Daphne + Celery worker + beat for one module, against that module's `mesh` fixture."""
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    # The fake mesh has no tracer; the real one's is where the what-if reads recorded traffic.
    extra = {"MESHCORE_TRACER_URL": mesh.tracer_url} if hasattr(mesh, "tracer_url") else {}
    # What a user sets for a mesh started with --state-dir: the dashboard finds the token there.
    # (The fake mesh of some modules checks no token and has no state directory.)
    if hasattr(mesh, "state_dir"):
        extra["MESHCORE_STATE_DIR"] = str(mesh.state_dir)
    running = Dashboard(tmp_path_factory.mktemp("dash"), redis_server.url, mesh.api_url, **extra)
    yield running
    running.stop()
