"""The topology websocket through the real ASGI application and the Redis channel layer."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from dashboard import realtime

pytestmark = [pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://127.0.0.1")


@pytest.fixture
def application(redis_layer):
    from dashboard.asgi import application

    return application


@pytest.fixture
def session_cookie(client, viewer):
    client.force_login(viewer)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def communicator(application, *headers):
    return WebsocketCommunicator(application, "/ws/topology/", headers=[ORIGIN, *headers])


async def test_anonymous_websocket_is_refused(application):
    ws = communicator(application)
    connected, code = await ws.connect()
    assert not connected
    assert code == 4401


async def test_foreign_origin_is_refused(application, session_cookie):
    ws = WebsocketCommunicator(
        application, "/ws/topology/", headers=[(b"origin", b"http://evil.example"), session_cookie]
    )
    connected, _ = await ws.connect()
    assert not connected


async def test_published_event_reaches_every_subscribed_client(application, session_cookie):
    clients = [communicator(application, session_cookie) for _ in range(3)]
    for ws in clients:
        connected, _ = await ws.connect()
        assert connected
    data = {"taken_at": "2026-01-01T00:00:00+00:00", "map": {"nodes": [], "edges": []}}
    await realtime.apublish(realtime.TOPOLOGY_GROUP, "topology.updated", data)
    received = await asyncio.gather(*(ws.receive_json_from(timeout=5) for ws in clients))
    assert received == [{"type": "topology.updated", "data": data}] * 3
    await clients[0].disconnect()
    # A client that left gets nothing more; the others still do.
    await realtime.apublish(realtime.TOPOLOGY_GROUP, "topology.updated", {"n": 2})
    assert [await ws.receive_json_from(timeout=5) for ws in clients[1:]] == [
        {"type": "topology.updated", "data": {"n": 2}}
    ] * 2
    for ws in clients[1:]:
        await ws.disconnect()


async def test_sync_publish_from_a_worker_thread(application, session_cookie):
    ws = communicator(application, session_cookie)
    assert (await ws.connect())[0]
    await sync_to_async(realtime.publish, thread_sensitive=False)(
        realtime.TOPOLOGY_GROUP, "topology.updated", {"from": "task"}
    )
    assert await ws.receive_json_from(timeout=5) == {"type": "topology.updated", "data": {"from": "task"}}
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from(timeout=5) == {"type": "pong"}
    await ws.disconnect()


async def test_new_client_first_gets_the_latest_snapshot(application, session_cookie, bookinfo_recording):
    from dashboard.topology.snapshots import store_snapshot
    from dashboard.topology.trafficmap import build_traffic_map
    from tests.dashboard.helpers import registry_of, samples_of

    polls = [samples_of(p) for p in bookinfo_recording["polls"]]
    traffic_map = build_traffic_map(
        registry_of(bookinfo_recording), polls[1], polls[0], taken_at=1_800_000_000.0
    )
    await sync_to_async(store_snapshot)(traffic_map, 60)
    ws = communicator(application, session_cookie)
    assert (await ws.connect())[0]
    first = await ws.receive_json_from(timeout=5)
    assert first["type"] == "topology.updated"
    assert first["data"]["taken_at"].startswith("2027-01-15")
    assert any(e["id"] == "svc:reviews->wl:reviews-v2" for e in first["data"]["map"]["edges"])
    await ws.disconnect()
