"""Jaeger query API adapter: the `TraceSource` Protocol over `/api/v3` (OTLP JSON), or the classic
`/api` of older servers, returning Zipkin v2 spans like `ZipkinTraceSource`.

API choice: `/api/v3/services` answering means v3 (Jaeger ≥ 1.x with api_v3, and every v2 server;
jaeger#9260 removed the classic search, so v3 is the only search there); otherwise the classic
`/api`. `/api/dependencies` exists in both and is what `dependencies` reads. `detect_trace_kind`
tells a Jaeger from a Zipkin server the same way (v3, then classic `/api/services`, then Zipkin's
`/api/v2/services`).

Units: the Protocol's are kept (µs for span times and durations, ms for `end_ts_ms`/`lookback_ms`);
v3 takes RFC 3339 times and Go durations (`1500us`), classic takes µs times and Go durations.
Every method raises SourceError (`status` None without an answer, 404 for an unknown trace id).
A v3 search with no match answers 404: that is an empty result, not an error. Thread-safe: the
detected API is one attribute, set once.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from dashboard.sources.errors import SourceError
from dashboard.sources.http import get_bytes
from dashboard.sources.traces import DEFAULT_LOOKBACK_MS
from dashboard.traces.jaeger import to_zipkin_spans
from dashboard.traces.otlp import otlp_to_zipkin

V3 = "v3"
CLASSIC = "classic"
# What `detect_trace_kind` answers.
JAEGER_V3, JAEGER_CLASSIC, ZIPKIN = "jaeger-v3", "jaeger-classic", "zipkin"


def annotation_attributes(annotation_query: str | None) -> dict[str, str]:
    """Zipkin's `http.status_code=500 and error` as Jaeger's tag map (a bare key means "true")."""
    attributes: dict[str, str] = {}
    for term in (annotation_query or "").split(" and "):
        term = term.strip()
        if not term:
            continue
        key, sep, value = term.partition("=")
        attributes[key.strip()] = value.strip() if sep else "true"
    return attributes


def rfc3339(epoch_us: int) -> str:
    """µs since the epoch as RFC 3339 with nanoseconds, UTC (what /api/v3 parses)."""
    seconds, micros = divmod(epoch_us, 1_000_000)
    stamp = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{micros:06d}000Z"


def _decode(url: str, body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise SourceError(f"GET {url}: invalid JSON ({error})") from None


def _answers(url: str, timeout: float) -> bool:
    """Whether GET `url` answers 2xx with JSON (False for an error status or another body;
    SourceError when nothing answers)."""
    try:
        body = get_bytes(url, timeout)
    except SourceError as error:
        if error.unreachable:
            raise
        return False
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True


def detect_trace_kind(base_url: str, timeout: float) -> str:
    """JAEGER_V3, JAEGER_CLASSIC or ZIPKIN for the server at `base_url`; SourceError when it
    cannot be reached or is none of them."""
    base = base_url.rstrip("/")
    for path, kind in (
        ("/api/v3/services", JAEGER_V3),
        ("/api/services", JAEGER_CLASSIC),
        ("/api/v2/services", ZIPKIN),
    ):
        if _answers(f"{base}{path}", timeout):
            return kind
    raise SourceError(f"{base}: neither Jaeger (/api/v3, /api) nor Zipkin (/api/v2) answers")


class JaegerTraceSource:
    """Jaeger's query service at `base_url`; `timeout` (seconds) bounds every call. `api` is V3,
    CLASSIC, or None to detect it at the first call. `clock` gives epoch seconds (tests)."""

    def __init__(
        self, base_url: str, timeout: float, api: str | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._api = api
        self.clock = clock

    @property
    def api(self) -> str:
        if self._api is None:
            kind = detect_trace_kind(self.base_url, self.timeout)
            if kind == ZIPKIN:
                raise SourceError(f"{self.base_url}: a Zipkin server, not Jaeger")
            self._api = V3 if kind == JAEGER_V3 else CLASSIC
        return self._api

    def _get(self, path: str) -> Any:
        url = f"{self.base_url}{path}"
        return _decode(url, get_bytes(url, self.timeout))

    def traces(
        self, service: str | None = None, limit: int = 10, lookback_ms: int = DEFAULT_LOOKBACK_MS
    ) -> list[list[dict[str, Any]]]:
        return self.search(service=service, limit=limit, lookback_ms=lookback_ms)

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
        """See `TraceSource.search`. Jaeger needs a service to search: without one, every service
        it lists is searched and the newest `limit` traces are kept."""
        end_us = (end_ts_ms if end_ts_ms is not None else int(self.clock() * 1000)) * 1000
        start_us = end_us - lookback_ms * 1000
        if not service:
            found: list[list[dict[str, Any]]] = []
            for name in self.services():
                found.extend(
                    self.search(
                        service=name,
                        span_name=span_name,
                        annotation_query=annotation_query,
                        min_duration_us=min_duration_us,
                        max_duration_us=max_duration_us,
                        end_ts_ms=end_us // 1000,
                        lookback_ms=lookback_ms,
                        limit=limit,
                    )
                )
            unique = {trace[0]["traceId"]: trace for trace in found if trace}
            return _newest(unique.values(), limit)
        attributes = annotation_attributes(annotation_query)
        if self.api == V3:
            params: dict[str, Any] = {
                "query.serviceName": service,
                "query.startTimeMin": rfc3339(start_us),
                "query.startTimeMax": rfc3339(end_us),
                "query.searchDepth": limit,
            }
            optional = {
                "query.operationName": span_name,
                "query.durationMin": f"{min_duration_us}us" if min_duration_us is not None else None,
                "query.durationMax": f"{max_duration_us}us" if max_duration_us is not None else None,
                "query.attributes": json.dumps(attributes) if attributes else None,
            }
            params.update({k: v for k, v in optional.items() if v not in (None, "")})
            try:
                document = self._get(f"/api/v3/traces?{urlencode(params)}")
            except SourceError as error:
                if error.status == 404:  # "No traces found"
                    return []
                raise
            return _newest(otlp_to_zipkin(document), limit)
        params = {"service": service, "start": start_us, "end": end_us, "limit": limit}
        optional = {
            "operation": span_name,
            "minDuration": f"{min_duration_us}us" if min_duration_us is not None else None,
            "maxDuration": f"{max_duration_us}us" if max_duration_us is not None else None,
            "tags": json.dumps(attributes) if attributes else None,
        }
        params.update({k: v for k, v in optional.items() if v not in (None, "")})
        document = self._get(f"/api/traces?{urlencode(params)}")
        return _newest((to_zipkin_spans(t) for t in _data(document)), limit)

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        quoted = quote(trace_id, safe="")
        if self.api == V3:
            traces = otlp_to_zipkin(self._get(f"/api/v3/traces/{quoted}"))
            spans = [span for trace in traces for span in trace]
        else:
            spans = [
                span for trace in _data(self._get(f"/api/traces/{quoted}")) for span in to_zipkin_spans(trace)
            ]
        if not spans:
            raise SourceError(f"GET {self.base_url} trace {trace_id}: HTTP 404: no spans", 404)
        return spans

    def exists(self, trace_id: str) -> bool:
        # Jaeger has no cheaper probe than reading the trace.
        try:
            self.trace(trace_id)
        except SourceError as error:
            if error.status == 404:
                return False
            raise
        return True

    def trace_many(self, trace_ids: Iterable[str]) -> list[list[dict[str, Any]]]:
        found = []
        for trace_id in dict.fromkeys(t for t in trace_ids if t):
            try:
                found.append(self.trace(trace_id))
            except SourceError as error:
                if error.status != 404:
                    raise
        return found

    def services(self) -> list[str]:
        if self.api == V3:
            document = self._get("/api/v3/services")
            names = document.get("services") if isinstance(document, dict) else None
        else:
            names = _data(self._get("/api/services"))
        return sorted(str(name) for name in names or ())

    def dependencies(self, end_ts_ms: int, lookback_ms: int = DEFAULT_LOOKBACK_MS) -> list[dict[str, Any]]:
        """Zipkin's shape (`parent`, `child`, `callCount`, `errorCount`) from `/api/dependencies`."""
        links = _data(
            self._get(f"/api/dependencies?{urlencode({'endTs': end_ts_ms, 'lookback': lookback_ms})}")
        )
        return [
            {
                "parent": link.get("parent"),
                "child": link.get("child"),
                "callCount": int(link.get("callCount") or 0),
                "errorCount": int(link.get("errorCount") or 0),
            }
            for link in links
            if isinstance(link, dict)
        ]


def _data(document: Any) -> list[Any]:
    """The `data` list of the classic API's envelope (`{data, total, limit, offset, errors}`)."""
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        errors = document.get("errors") if isinstance(document, dict) else None
        raise SourceError(f"not a Jaeger answer{f': {errors}' if errors else ''}")
    return document["data"]


def _newest(traces: Iterable[list[dict[str, Any]]], limit: int) -> list[list[dict[str, Any]]]:
    """At most `limit` traces, newest first (by their earliest span), as Zipkin answers."""
    ordered = sorted(
        (t for t in traces if t), key=lambda t: min(s.get("timestamp") or 0 for s in t), reverse=True
    )
    return ordered[:limit]
