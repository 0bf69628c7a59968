"""The realtime seam: the only place that talks to the channel layer.

Events are `{"type": "<area>.<event>", "data": ...}` sent to a named group; consumers declare the
groups they join and one handler per event type (Channels maps "topology.updated" to the method
`topology_updated`). `publish` is for synchronous code (Celery tasks, views); `apublish` for async.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

TOPOLOGY_GROUP = "topology"
TRACES_GROUP = "traces"


def event(event_type: str, data: Any) -> dict[str, Any]:
    """The message shape every consumer understands."""
    return {"type": event_type, "data": data}


async def apublish(group: str, event_type: str, data: Any) -> None:
    """Send `data` as event `event_type` to every channel in `group` (no-op without a layer)."""
    layer = get_channel_layer()
    if layer is None:
        return
    await layer.group_send(group, event(event_type, data))


def publish(group: str, event_type: str, data: Any) -> None:
    """Synchronous twin of `apublish`; must not be called from a running event loop."""
    async_to_sync(apublish)(group, event_type, data)
