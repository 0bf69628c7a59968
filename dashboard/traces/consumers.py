"""Websocket of the trace explorer: traces matching the browser's search, as they complete.

Client messages: {"type": "ping"}; {"subscribe": {<search parameters as in the URL>}}. The server
sends {"type": "traces.subscribed", "data": {"query": normalized}} or, for bad parameters,
{"type": "traces.error", "data": {"error", "errors": [{path, message}]}} (the previous subscription
stays); then {"type": "traces.completed", "data": Summary} for each completed trace that matches
(filtered here, with `search.matches`), and {"type": "traces.status", "data": {"behind",
"source_down", "error", "cursor_age_s"}} on connect and after every read of the tail. Before any
subscription every completed trace is sent.
"""

from __future__ import annotations

import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dashboard.health.metrics import client_connected, client_disconnected
from dashboard.realtime import TRACES_GROUP
from dashboard.topology.consumers import UNAUTHENTICATED
from dashboard.traces.search import TraceFacts, TraceQuery, matches, parse_query
from dashboard.traces.tail import TAIL_KEY, RedisTailState, tail_status
from meshcore.model.errors import FieldError, error_body


def _current_status() -> dict[str, Any]:
    import redis

    from dashboard.routes.shared_state import redis_client
    from dashboard.traces.tasks import tail_config

    try:
        saved = RedisTailState(redis_client()).load(TAIL_KEY)
    except (redis.RedisError, OSError) as error:  # the page must still open, and say so
        return {
            "behind": True,
            "source_down": False,
            "error": f"cannot read the tail's state: {error}",
            "cursor_age_s": 0.0,
        }
    return tail_status(saved, time.time(), tail_config())


class TracesConsumer(AsyncJsonWebsocketConsumer):
    """Joins group `traces` only after checking the session user; anonymous handshakes are refused."""

    joined = False
    query: TraceQuery | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED)
            return
        await self.channel_layer.group_add(TRACES_GROUP, self.channel_name)
        self.joined = True
        await self.accept()
        client_connected(self, "traces")
        # Say at once whether the tail runs: the next status event may be a second away, or never
        # come when no worker runs the tail.
        await self.send_json({"type": "traces.status", "data": await sync_to_async(_current_status)()})

    async def disconnect(self, code: int) -> None:
        client_disconnected(self)
        if self.joined:
            await self.channel_layer.group_discard(TRACES_GROUP, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self._error("a message must be a JSON object", [])
            return
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})
            return
        if "subscribe" in content:
            params = content["subscribe"]
            if not isinstance(params, dict):
                await self._error(
                    "subscribe must be an object of search parameters",
                    [FieldError("subscribe", "must be an object")],
                )
                return
            query, errors = parse_query(params)
            if errors:
                await self._error("invalid search parameters", errors)
                return
            self.query = query
            await self.send_json({"type": "traces.subscribed", "data": {"query": query.normalized()}})

    async def _error(self, message: str, errors: list[FieldError]) -> None:
        await self.send_json({"type": "traces.error", "data": error_body(message, errors)})

    async def traces_completed(self, event: dict) -> None:
        data = event["data"]
        if self.query is not None and not matches(TraceFacts.from_dict(data["facts"]), self.query):
            return
        await self.send_json({"type": "traces.completed", "data": data["summary"]})

    async def traces_status(self, event: dict) -> None:
        await self.send_json({"type": "traces.status", "data": event["data"]})
