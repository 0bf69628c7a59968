"""How a BookInfo app calls another service: by name, through its own sidecar.

In Kubernetes the app would call `http://reviews:9080/...` and iptables would redirect the
connection into its Envoy sidecar. Here there is no iptables, so every call goes straight to the
sidecar's outbound listener (`--outbound HOST:PORT`) carrying `Host: reviews:9080`; Envoy picks
the route on that Host header, exactly as it does in Istio, and resolves the service to a workload.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

SERVICE_PORT = 9080


class MeshCallError(Exception):
    """A call got no HTTP response: connection refused/reset, or the timeout passed."""


@dataclass(frozen=True)
class MeshResponse:
    """An HTTP response from a service. `data` is the decoded JSON body, or None if it is not JSON."""

    status: int
    data: Any


def parse_outbound(value: str) -> tuple[str, int]:
    """Split `HOST:PORT` (the `--outbound` argument); ValueError names what is wrong."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"outbound: expected HOST:PORT, got {value!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"outbound: port must be a number, got {port_text!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"outbound: port must be in 1..65535, got {port}")
    return host, port


class MeshClient:
    """Calls services through the sidecar's outbound listener, on one shared aiohttp session.

    Create and use it on one event loop (the app's); `close()` it on shutdown. Safe for any number
    of concurrent `call()`s on that loop. Cookies are never stored: the session would otherwise
    mix users' cookies across requests.
    """

    def __init__(self, outbound: str, max_connections: int = 512) -> None:
        host, port = parse_outbound(outbound)
        self.base_url = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def call(
        self,
        service: str,
        path: str,
        headers: Mapping[str, str],
        timeout: float,
        method: str = "GET",
        json_body: Any = None,
    ) -> MeshResponse:
        """Send `method path` to `service` (port 9080) and return its status and JSON body.

        `headers` are sent as given (normally `propagation.forward_headers(...)`), with `Host` set
        to `<service>:9080`. `timeout` (seconds) bounds the whole exchange, body included.
        Raises MeshCallError when no response arrives; any HTTP status is returned, not raised.
        """
        request_headers = {**headers, "Host": f"{service}:{SERVICE_PORT}"}
        try:
            async with self._session.request(
                method,
                self.base_url + path,
                headers=request_headers,
                json=json_body,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                body = await response.read()
                return MeshResponse(status=response.status, data=_decode_json(body))
        except TimeoutError as error:
            raise MeshCallError(f"{service}{path}: no response within {timeout}s") from error
        except aiohttp.ClientError as error:
            raise MeshCallError(f"{service}{path}: {type(error).__name__}: {error}") from error

    async def close(self) -> None:
        await self._session.close()


def _decode_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


MESH_CLIENT = web.AppKey("mesh_client", MeshClient)


def install_mesh_client(app: web.Application, outbound: str) -> None:
    """Give `app` a MeshClient under MESH_CLIENT, opened on startup and closed on cleanup."""
    # Validate now so a bad --outbound fails at start, not on the first request.
    parse_outbound(outbound)

    async def client_context(app: web.Application) -> AsyncIterator[None]:
        client = MeshClient(outbound)
        app[MESH_CLIENT] = client
        yield
        await client.close()

    app.cleanup_ctx.append(client_context)
