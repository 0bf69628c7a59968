"""Zipkin v2 query API adapter: search, one trace, several traces at once, dependency links.

Zipkin timestamps and durations are microseconds; `end_ts`/`lookback` parameters are milliseconds.
Every method raises SourceError on failure (`status` None when the tracer gave no answer, 404 for
an unknown trace id). Large answers are decoded with orjson (a 50,000-span trace is ~20 MB).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import orjson

from dashboard.sources.errors import SourceError
from dashboard.sources.http import get_bytes, get_json, request_bytes

# Zipkin's default lookback for searches (1 hour, in ms).
DEFAULT_LOOKBACK_MS = 3_600_000


class TraceSource(Protocol):
    """Every method raises SourceError on failure."""

    def traces(
        self, service: str | None = None, limit: int = 10, lookback_ms: int = DEFAULT_LOOKBACK_MS
    ) -> list[list[dict[str, Any]]]: ...

    def search(
        self,
        *,
        service: str | None = None,
        span_name: str | None = None,
        annotation_query: str | None = None,
        min_duration_us: int | None = None,
        max_duration_us: int | None = None,
        end_ts_ms: int | None = None,
        lookback_ms: int = DEFAULT_LOOKBACK_MS,
        limit: int = 10,
    ) -> list[list[dict[str, Any]]]:
        """Traces (each a list of spans) matching Zipkin's /api/v2/traces query, newest first.

        `annotation_query` uses Zipkin's syntax (`http.status_code=500 and error`); durations are
        µs (`max_duration_us` needs `min_duration_us`, as in Zipkin); `end_ts_ms` defaults to now.
        """
        ...

    def trace(self, trace_id: str) -> list[dict[str, Any]]: ...

    def services(self) -> list[str]:
        """Every service name the source has seen, as Zipkin's /api/v2/services lists them."""
        ...

    def exists(self, trace_id: str) -> bool:
        """Whether the source holds this trace, without transferring it."""
        ...

    def trace_many(self, trace_ids: Iterable[str]) -> list[list[dict[str, Any]]]:
        """The traces with these ids that exist (unknown ids are left out)."""
        ...

    def dependencies(
        self, end_ts_ms: int, lookback_ms: int = DEFAULT_LOOKBACK_MS
    ) -> list[dict[str, Any]]: ...


class ZipkinTraceSource:
    """The Zipkin v2 HTTP API at `base_url`; `timeout` (seconds) bounds every call."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str) -> Any:
        url = f"{self.base_url}{path}"
        body = get_bytes(url, self.timeout)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise SourceError(f"GET {url}: invalid JSON ({error})") from None

    def traces(
        self, service: str | None = None, limit: int = 10, lookback_ms: int = DEFAULT_LOOKBACK_MS
    ) -> list[list[dict[str, Any]]]:
        params: dict[str, Any] = {"limit": limit, "lookback": lookback_ms}
        if service:
            params["serviceName"] = service
        return get_json(f"{self.base_url}/api/v2/traces?{urlencode(params)}", self.timeout)

    def search(
        self,
        *,
        service: str | None = None,
        span_name: str | None = None,
        annotation_query: str | None = None,
        min_duration_us: int | None = None,
        max_duration_us: int | None = None,
        end_ts_ms: int | None = None,
        lookback_ms: int = DEFAULT_LOOKBACK_MS,
        limit: int = 10,
    ) -> list[list[dict[str, Any]]]:
        params: dict[str, Any] = {"limit": limit, "lookback": lookback_ms}
        optional = {
            "serviceName": service,
            "spanName": span_name,
            "annotationQuery": annotation_query,
            "minDuration": min_duration_us,
            "maxDuration": max_duration_us,
            "endTs": end_ts_ms,
        }
        params.update({k: v for k, v in optional.items() if v not in (None, "")})
        return self._get(f"/api/v2/traces?{urlencode(params)}")

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        return self._get(f"/api/v2/trace/{quote(trace_id, safe='')}")

    def services(self) -> list[str]:
        names = self._get("/api/v2/services")
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise SourceError(f"GET {self.base_url}/api/v2/services: not a list of names", 200)
        return names

    def exists(self, trace_id: str) -> bool:
        # HEAD: the tracer answers from an index probe; a Zipkin server answers it like the GET.
        try:
            request_bytes("HEAD", f"{self.base_url}/api/v2/trace/{quote(trace_id, safe='')}", self.timeout)
        except SourceError as error:
            if error.status == 404:
                return False
            raise
        return True

    def trace_many(self, trace_ids: Iterable[str]) -> list[list[dict[str, Any]]]:
        ids = [trace_id for trace_id in trace_ids if trace_id]
        if not ids:
            return []
        return self._get(f"/api/v2/traceMany?{urlencode({'traceIds': ','.join(ids)})}")

    def dependencies(self, end_ts_ms: int, lookback_ms: int = DEFAULT_LOOKBACK_MS) -> list[dict[str, Any]]:
        query = urlencode({"endTs": end_ts_ms, "lookback": lookback_ms})
        return get_json(f"{self.base_url}/api/v2/dependencies?{query}", self.timeout)
