"""Fixtures for the tracer tests: a store, the app served in-process on a free port, HTTP helpers."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshcore.tracer.app import create_app
from meshcore.tracer.model import dumps, loads
from meshcore.tracer.store import TraceStore
from tests.support.served_app import ServedApp


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


class ServedTracer(ServedApp):
    """The tracer app over `store`, served by aiohttp in a background thread on a free port."""

    def __init__(self, store: TraceStore, **app_options: Any) -> None:
        self.store = store
        super().__init__(create_app(store, **app_options))

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
