"""Websocket URL routes of every app."""

from __future__ import annotations

from dashboard.routes.routing import websocket_urlpatterns as routes_ws
from dashboard.topology.routing import websocket_urlpatterns as topology_ws
from dashboard.traces.routing import websocket_urlpatterns as traces_ws

websocket_urlpatterns = [*topology_ws, *routes_ws, *traces_ws]
