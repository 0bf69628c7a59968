"""BookInfo wired together in-process: every app on its own loopback port, calling the others
through the SidecarDouble (a stand-in for Envoy; see sidecar_double.py)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from meshcore.bookinfo import details, productpage, ratings, reviews
from tests.meshcore.bookinfo.sidecar_double import SidecarDouble


@dataclass
class Bookinfo:
    double: SidecarDouble
    session: aiohttp.ClientSession
    productpage_url: str = ""
    urls: dict[str, str] = field(default_factory=dict)  # "reviews-v2" -> http://127.0.0.1:port
    runners: list[web.AppRunner] = field(default_factory=list)

    async def serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def start_productpage(self) -> str:
        """A productpage reading its settings from the environment as it is now."""
        self.productpage_url = await self.serve(productpage.create_app(self.double.outbound))
        return self.productpage_url

    def use_reviews(self, version: str) -> None:
        """Send all reviews traffic to one version (a VirtualService with one destination)."""
        self.double.routes["reviews"] = self.urls[f"reviews-{version}"]

    async def page(self, headers: dict[str, str] | None = None) -> tuple[int, str]:
        async with self.session.get(self.productpage_url + "/productpage", headers=headers) as response:
            return response.status, await response.text()


@pytest.fixture
async def bookinfo() -> AsyncIterator[Bookinfo]:
    double = SidecarDouble()
    await double.start()
    # unsafe=True: the jar must keep cookies set by a server addressed by IP (127.0.0.1).
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    env = Bookinfo(double, session)
    try:
        env.urls["details-v1"] = await env.serve(details.create_app("v1"))
        env.urls["ratings-v1"] = await env.serve(ratings.create_app("v1", ratings.RatingsSettings()))
        for version in ("v1", "v2", "v3"):
            env.urls[f"reviews-{version}"] = await env.serve(reviews.create_app(version, double.outbound))
        double.routes["details"] = env.urls["details-v1"]
        double.routes["ratings"] = env.urls["ratings-v1"]
        env.use_reviews("v2")
        # The default timeouts unless a test sets BOOKINFO_* first and starts its own productpage.
        assert "BOOKINFO_REVIEWS_TIMEOUT" not in os.environ
        await env.start_productpage()
        yield env
    finally:
        await session.close()
        for runner in reversed(env.runners):
            await runner.cleanup()
        await double.stop()
