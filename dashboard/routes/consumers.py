"""Websocket of the routes pages: `routes.changed` events to logged-in browsers, and writes.

Client messages: {"type": "ping"}; {"type": "apply", "yaml": "...", "reason": "..."};
{"type": "rollback", "revision": id, "undo": false}. A write answers {"type": "result", "status":
200|201, "revisions": [...]} or {"type": "error", "status": 403|409|422|..., "error", "errors"}:
the same service code (and permission checks) as the forms and the JSON API.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dashboard.health.metrics import client_connected, client_disconnected
from dashboard.routes import service
from dashboard.sources.errors import SourceError
from dashboard.topology.consumers import UNAUTHENTICATED
from meshcore.model.errors import FieldError, error_body


def _error(status: int, message: str, errors: list[FieldError] | tuple = ()) -> dict[str, Any]:
    return {"type": "error", "status": status, **error_body(message, errors)}


def run_write(user: Any, content: dict[str, Any]) -> dict[str, Any]:
    """One write request from the websocket, answered as a message (never raises)."""
    from dashboard.routes.models import Revision

    try:
        if content.get("type") == "apply":
            applied = service.apply(
                user, service.parse_yaml(str(content.get("yaml", ""))), str(content.get("reason", ""))
            )
            return {"type": "result", "status": 200, "revisions": [r.to_dict() for r in applied.revisions]}
        service.check_can_edit(user)
        revision = Revision.objects.filter(id=content.get("revision")).first()
        if revision is None:
            return _error(404, f"no revision {content.get('revision')!r}")
        restored = service.rollback(user, revision, undo=bool(content.get("undo")))
        return {"type": "result", "status": 201, "revisions": [restored.to_dict()] if restored else []}
    except service.WriteForbidden as error:
        return _error(403, str(error))
    except SourceError as error:
        return _error(error.status or 502, str(error), error.errors)


class RoutesConsumer(AsyncJsonWebsocketConsumer):
    """Joins group `routes` after checking the session user; anonymous handshakes are refused."""

    joined = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED)
            return
        await self.channel_layer.group_add(service.ROUTES_GROUP, self.channel_name)
        self.joined = True
        await self.accept()
        client_connected(self, "routes")

    async def disconnect(self, code: int) -> None:
        client_disconnected(self)
        if self.joined:
            await self.channel_layer.group_discard(service.ROUTES_GROUP, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        elif content.get("type") in ("apply", "rollback"):
            await self.send_json(await database_sync_to_async(run_write)(self.scope["user"], content))

    async def routes_changed(self, event: dict) -> None:
        await self.send_json({"type": "routes.changed", "data": event["data"]})
