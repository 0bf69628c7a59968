"""A test double for the Envoy sidecars' outbound listeners, so BookInfo can be tested on its own.

It is NOT Envoy: one small aiohttp server stands in for every app's sidecar. Like Envoy it routes
on the Host header (`reviews:9080` -> the reviews app chosen for the test) and answers 503 when a
service has no reachable backend; it also records each request's headers, and can delay or abort
a service (a crude version of Istio's fault injection). The real path, apps behind real Envoy
sidecars configured by the control plane, is covered by the mesh end-to-end tests.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

# Headers that belong to one connection, or that the forwarding client sets itself.
_NOT_FORWARDED = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass(frozen=True)
class RecordedRequest:
    service: str
    method: str
    path: str
    headers: CIMultiDictProxy[str]


class SidecarDouble:
    """Routes `Host: <service>:9080` requests to `routes[service]` (a base URL)."""

    def __init__(self) -> None:
        self.routes: dict[str, str] = {}
        self.delays: dict[str, float] = {}
        self.aborts: dict[str, int] = {}
        # service -> how many of its next requests get a 503 (then it works again).
        self.fail_next: dict[str, int] = {}
        self.requests: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def outbound(self) -> str:
        return f"127.0.0.1:{self.port}"

    def to(self, service: str) -> list[RecordedRequest]:
        """The requests sent to `service`, oldest first."""
        return [request for request in self.requests if request.service == service]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        service = request.headers.get("Host", "").partition(":")[0]
        self.requests.append(
            RecordedRequest(
                service, request.method, request.path_qs, CIMultiDictProxy(CIMultiDict(request.headers))
            )
        )
        if service in self.delays:
            await asyncio.sleep(self.delays[service])
        if self.fail_next.get(service, 0) > 0:
            self.fail_next[service] -= 1
            return web.Response(status=503, text="fault filter abort")
        if service in self.aborts:
            return web.Response(status=self.aborts[service], text="fault filter abort")
        target = self.routes.get(service)
        if target is None:
            return web.Response(status=503, text="no healthy upstream")
        headers = {
            name: value for name, value in request.headers.items() if name.lower() not in _NOT_FORWARDED
        }
        assert self._session is not None
        try:
            async with self._session.request(
                request.method,
                target + request.path_qs,
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as upstream:
                body = await upstream.read()
                content_type = upstream.headers.get("Content-Type")
                response = web.Response(status=upstream.status, body=body)
                if content_type:
                    response.headers["Content-Type"] = content_type
                return response
        except aiohttp.ClientError:
            return web.Response(status=503, text="upstream connect error or disconnect/reset before headers")
