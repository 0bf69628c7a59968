"""The routes websocket through the real ASGI application, channel layer and mesh: every open page
hears `routes.changed`; writes over the socket follow the same roles as HTTP (viewers get 403)."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from tests.dashboard.routes.conftest import stored
from tests.support.samples import reviews_weights

pytestmark = [pytest.mark.mesh, pytest.mark.django_db(transaction=True)]
ORIGIN = (b"origin", b"http://127.0.0.1")


def cookie_of(client) -> tuple[bytes, bytes]:
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@pytest.fixture
def application(routes_mesh):
    from dashboard.asgi import application

    return application


async def connect(application, client) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(application, "/ws/routes/", headers=[ORIGIN, cookie_of(client)])
    connected, _ = await ws.connect()
    assert connected
    return ws


async def test_anonymous_is_refused(application):
    ws = WebsocketCommunicator(application, "/ws/routes/", headers=[ORIGIN])
    connected, code = await ws.connect()
    assert not connected and code == 4401


async def test_viewer_write_is_403_and_operator_write_reaches_every_page(
    application, routes_mesh, viewer_client, operator_client
):
    viewer_ws = await connect(application, viewer_client)
    operator_ws = await connect(application, operator_client)
    try:
        await viewer_ws.send_json_to({"type": "apply", "yaml": reviews_weights(v3=100)})
        refused = await viewer_ws.receive_json_from(timeout=20)
        assert refused["type"] == "error" and refused["status"] == 403
        assert stored(routes_mesh, "virtualservices", "reviews") is None

        await operator_ws.send_json_to(
            {"type": "apply", "yaml": reviews_weights(v3=100), "reason": "from a socket"}
        )
        messages = [await operator_ws.receive_json_from(timeout=20) for _ in range(2)]
        result = next(m for m in messages if m["type"] == "result")
        assert result["revisions"][0]["reason"] == "from a socket"
        event = await viewer_ws.receive_json_from(timeout=20)
        assert event["type"] == "routes.changed"
        assert event["data"]["revisions"][0]["name"] == "reviews"
        assert event["data"]["revisions"][0]["services"] == ["reviews"]
    finally:
        await viewer_ws.disconnect()
        await operator_ws.disconnect()
    assert set(routes_mesh.versions_seen(5)) == {"v3"}
