"""The mesh's tracer: a Zipkin-compatible collector and query service (Zipkin v2 JSON and OTLP/HTTP in,
Zipkin v2 API out), backed by SQLite.

Run it with `python -m meshcore.tracer --host 127.0.0.1 --port 9411 --db STATE/traces.sqlite3`;
embed it with `TraceStore` + `create_app` (see `meshcore.tracer.app`).

The names below are imported lazily: the writer child process imports `meshcore.tracer.writer`
and should not pay for aiohttp and prometheus-client (time and resident memory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshcore.tracer.app import create_app
    from meshcore.tracer.store import TraceStore

__all__ = ["TraceStore", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from meshcore.tracer.app import create_app

        return create_app
    if name == "TraceStore":
        from meshcore.tracer.store import TraceStore

        return TraceStore
    raise AttributeError(name)
