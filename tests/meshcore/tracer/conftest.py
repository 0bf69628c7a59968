"""Fixtures for the tracer tests: a store, the app served in-process on a free port, HTTP helpers."""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from meshcore.tracer.app import create_app
from meshcore.tracer.model import dumps, loads
from meshcore.tracer.store import TraceStore
from tests.support.ports import free_port


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Reply:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


class ServedTracer:
    """The tracer app over `store`, served by aiohttp in a background thread on a free port."""

    def __init__(self, store: TraceStore, **app_options: Any) -> None:
        self.store = store
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._app = create_app(store, **app_options)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("in-process tracer did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(self._app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def post_spans(self, spans: list[dict[str, Any]] | bytes, headers: dict[str, str] | None = None) -> Reply:
        body = spans if isinstance(spans, bytes) else dumps(spans).encode()
        return http(
            "POST", f"{self.url}/api/v2/spans", body, {"Content-Type": "application/json", **(headers or {})}
        )

    def get(self, path: str) -> Reply:
        return http("GET", f"{self.url}{path}")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TraceStore]:
    trace_store = TraceStore(tmp_path / "traces.sqlite3", writer="thread")
    yield trace_store
    trace_store.close()


@pytest.fixture
def tracer(store: TraceStore) -> Iterator[ServedTracer]:
    served = ServedTracer(store)
    yield served
    served.stop()
