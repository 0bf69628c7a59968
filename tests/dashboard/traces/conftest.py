"""Fixtures of the trace explorer tests: the real tracer app served on a free port, a logged-in client."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshcore.tracer.samples import bookinfo_trace
from meshcore.tracer.store import TraceStore
from tests.dashboard.test_consumers import application, session_cookie  # noqa: F401 (the websocket fixtures)
from tests.meshcore.tracer.conftest import ServedTracer
from tests.support.ports import free_port


@pytest.fixture
def tracer(tmp_path: Path, settings) -> Iterator[ServedTracer]:
    """The meshcore tracer (real app, real SQLite store) that the dashboard's trace source reads."""
    store = TraceStore(tmp_path / "traces.sqlite3", writer="thread")
    served = ServedTracer(store)
    settings.MESHCORE_TRACER_URL = served.url
    try:
        yield served
    finally:
        served.stop()
        store.close()


@pytest.fixture
def tracer_down(settings) -> str:
    """A tracer URL where nothing listens."""
    url = f"http://127.0.0.1:{free_port()}"
    settings.MESHCORE_TRACER_URL = url
    return url


def now_us() -> int:
    return int(time.time() * 1_000_000)


def post(tracer: ServedTracer, spans: list[dict]) -> None:
    """POST spans as Envoy does and wait (bounded) until the store committed them."""
    reply = tracer.post_spans(spans)
    assert reply.status == 202, reply.text
    assert tracer.store.flush(30), "spans not committed within 30 s"


def bookinfo(seed: int, start_us: int, **kwargs) -> list[dict]:
    return bookinfo_trace(random.Random(seed), start_us, **kwargs)


@pytest.fixture
def context_templates(settings, tmp_path):
    """Page templates that render their context as JSON, placed before the front end's: the page
    tests check what a view hands to whatever template is installed."""
    pages = tmp_path / "traces"
    pages.mkdir()
    for name, keys in {
        "search": ("query", "errors", "query_string", "service_names"),
        "trace": ("trace_id", "errors", "source_error"),
        "compare": ("a", "b", "errors"),
    }.items():
        body = (
            "{" + ", ".join(f'"{k}": {{{{ {k}|default_if_none:""|json_script_safe }}}}' for k in keys) + "}"
        )
        (pages / f"{name}.html").write_text(body)
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]],
            "OPTIONS": {
                **settings.TEMPLATES[0]["OPTIONS"],
                "builtins": ["tests.dashboard.traces.jsonfilter"],
            },
        }
    ]
