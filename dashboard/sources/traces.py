"""Zipkin v2 query API adapter (trace pages arrive in a later issue).

Zipkin timestamps and durations are microseconds; `end_ts`/`lookback` parameters are milliseconds.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import urlencode

from dashboard.sources.http import get_json


class TraceSource(Protocol):
    """Every method raises SourceError on failure."""

    def traces(
        self, service: str | None = None, limit: int = 10, lookback_ms: int = 3_600_000
    ) -> list[list[dict[str, Any]]]: ...

    def trace(self, trace_id: str) -> list[dict[str, Any]]: ...

    def dependencies(self, end_ts_ms: int, lookback_ms: int = 3_600_000) -> list[dict[str, Any]]: ...


class ZipkinTraceSource:
    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def traces(
        self, service: str | None = None, limit: int = 10, lookback_ms: int = 3_600_000
    ) -> list[list[dict[str, Any]]]:
        params: dict[str, Any] = {"limit": limit, "lookback": lookback_ms}
        if service:
            params["serviceName"] = service
        return get_json(f"{self.base_url}/api/v2/traces?{urlencode(params)}", self.timeout)

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        return get_json(f"{self.base_url}/api/v2/trace/{trace_id}", self.timeout)

    def dependencies(self, end_ts_ms: int, lookback_ms: int = 3_600_000) -> list[dict[str, Any]]:
        query = urlencode({"endTs": end_ts_ms, "lookback": lookback_ms})
        return get_json(f"{self.base_url}/api/v2/dependencies?{query}", self.timeout)
