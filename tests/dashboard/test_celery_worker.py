"""The poll task through a real Celery worker and a real Redis broker, against the fake mesh.

The test enqueues `topology.poll` by name (as beat does), the worker polls every fake Envoy,
stores a snapshot in its database (SQLite, or PostgreSQL on a PostgreSQL run) and publishes `topology.updated` on the channel layer,
where the test listens as a websocket consumer would.
"""

from __future__ import annotations

import asyncio

import pytest
from celery import Celery
from channels_redis.core import RedisChannelLayer
from redis import exceptions as redis_errors

from tests.dashboard.procs import count_rows, dashboard_env, migrate, start_worker
from tests.support.processes import log_tail, stop_process
from tests.support.waiting import wait_until


@pytest.fixture
def worker(tmp_path, redis_server, fake_mesh):
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    env = dashboard_env(tmp_path, redis_server.url, fake_mesh.api_url)
    migrate(env, tmp_path / "migrate.log")
    process = start_worker(env, tmp_path / "worker.log")
    # A loaded machine can take longer than the event wait below just to import the worker: wait
    # for Celery's "ready" line first, so the event wait measures only the poll.
    wait_until(
        lambda: " ready." in (tmp_path / "worker.log").read_text(errors="replace"),
        timeout=120,
        interval=0.2,
        what="the Celery worker to be ready",
    )
    try:
        yield process, tmp_path, env
    finally:
        stop_process(process)


async def test_poll_task_runs_in_a_real_worker_and_publishes(worker, redis_server, fake_mesh):
    process, state_dir, env = worker
    # 60 rps: a 1 s window then holds enough requests that +-1 request (integer counters) is <5%.
    fake_mesh.set_rate(60.0)
    layer = RedisChannelLayer(hosts=[redis_server.url])
    channel = await layer.new_channel()
    await layer.group_add("topology", channel)
    client = Celery("test-client", broker=redis_server.url)

    async def next_event(timeout: float = 60.0) -> dict:
        try:
            return await asyncio.wait_for(layer.receive(channel), timeout)
        # redis-py turns the cancellation at the deadline into its own TimeoutError.
        except (TimeoutError, redis_errors.TimeoutError):
            raise AssertionError("no topology.updated event\n" + log_tail(state_dir / "worker.log")) from None

    try:
        client.send_task("topology.poll")
        first = await next_event()
        assert first["type"] == "topology.updated"
        # The first poll has no previous counters: edges exist, rates do not yet.
        assert {e["rps"] for e in first["data"]["map"]["edges"]} == {None}
        await asyncio.sleep(1.0)
        client.send_task("topology.poll")
        second = await next_event()
    finally:
        await layer.group_discard("topology", channel)
        await layer.flush()
        client.close()
    edges = {e["id"]: e for e in second["data"]["map"]["edges"]}
    assert edges["gw:istio-ingressgateway->svc:productpage"]["rps"] == pytest.approx(60.0, rel=0.1)
    assert edges["svc:ratings->wl:ratings-v1"]["rps"] == pytest.approx(40.0, rel=0.1)
    assert second["data"]["figure"]["data"][-1]["meta"]["role"] == "nodes"
    assert count_rows(env, "topology_topologysnapshot") == 2
    assert process.poll() is None
