"""Websocket consumer of the live map: `topology.updated` events to logged-in browsers."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dashboard.health.metrics import client_connected, client_disconnected
from dashboard.realtime import TOPOLOGY_GROUP

# Close code for "not logged in" (4000-4999 are free for applications).
UNAUTHENTICATED = 4401


@database_sync_to_async
def _latest_payload():
    from dashboard.topology.snapshots import latest_snapshot, payload

    snapshot = latest_snapshot()
    return None if snapshot is None else payload(snapshot.taken_at, snapshot.data)


class TopologyConsumer(AsyncJsonWebsocketConsumer):
    """Joins group `topology` only after checking the session user; anonymous handshakes are refused.

    On connect the client first gets the latest snapshot, then every `topology.updated` event.
    """

    joined = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED)
            return
        await self.channel_layer.group_add(TOPOLOGY_GROUP, self.channel_name)
        self.joined = True
        await self.accept()
        client_connected(self, "topology")
        latest = await _latest_payload()
        if latest is not None:
            await self.send_json({"type": "topology.updated", "data": latest})

    async def disconnect(self, code: int) -> None:
        client_disconnected(self)
        if self.joined:
            await self.channel_layer.group_discard(TOPOLOGY_GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        # The only client message is a keep-alive ping.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def topology_updated(self, event: dict) -> None:
        await self.send_json({"type": "topology.updated", "data": event["data"]})
