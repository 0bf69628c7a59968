"""The resource API without Envoy, as the CLI and the dashboard call it (token, YAML bodies)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from meshcore.apitoken import bearer_header
from meshcore.bookinfo.topology import bookinfo_registry
from meshcore.controlplane.api import make_api
from meshcore.controlplane.service import ControlPlane
from meshcore.controlplane.store import ResourceStore

API_TOKEN = "test-token"
# What the CLI and the dashboard send: the token, and YAML bodies declared as YAML.
CLIENT_HEADERS = {**bearer_header(API_TOKEN), "Content-Type": "application/yaml"}


@asynccontextmanager
async def api_client(state_dir: Path):
    """(client, control plane): the BookInfo control plane's API on a loopback test server."""
    control_plane = ControlPlane(bookinfo_registry(), ResourceStore(state_dir / "resources.json"))
    server = TestServer(make_api(control_plane, token=API_TOKEN), host="127.0.0.1")
    async with TestClient(server, headers=CLIENT_HEADERS) as client:
        yield client, control_plane
