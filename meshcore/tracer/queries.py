"""Zipkin v2 query parameters and the trace predicate, with Zipkin's semantics and units.

Units: `end_ts` and `lookback` are milliseconds (endTs since epoch); `min_duration`/`max_duration`
are microseconds, as in the published OpenAPI spec (https://zipkin.io/zipkin-api/zipkin2-api.yaml).
Defaults as in Zipkin server: endTs = now, lookback = 86,400,000 ms (QUERY_LOOKBACK), limit = 10.
Parsing errors raise `QueryError`, which the HTTP layer answers with 400 and the message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from meshcore.tracer.model import ZipkinSpan, local_service, remote_service
from meshcore.tracer.validation import SpanFieldError, normalize_trace_id

DEFAULT_LOOKBACK_MS = 86_400_000
DEFAULT_LIMIT = 10
# Integer parameters above this (2**53, JavaScript's safe integer) are refused: they are never
# meaningful as ms/µs and would overflow SQLite's 64-bit integers after unit conversion.
MAX_PARAMETER = 2**53


class QueryError(ValueError):
    """A query parameter is missing or invalid; the message names it."""


@dataclass(frozen=True)
class QueryRequest:
    """Parsed /api/v2/traces parameters. annotation_query maps key -> value ("" = key only)."""

    end_ts: int
    lookback: int
    limit: int
    service_name: str | None = None
    remote_service_name: str | None = None
    span_name: str | None = None
    annotation_query: dict[str, str] = field(default_factory=dict)
    min_duration: int | None = None
    max_duration: int | None = None

    @property
    def window_us(self) -> tuple[int, int]:
        """[start, end] of the search window in microseconds since epoch."""
        return (self.end_ts - self.lookback) * 1000, self.end_ts * 1000


def now_ms() -> int:
    return int(time.time() * 1000)


def _positive_int(params: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise QueryError(f"{name} must be greater than 0, got {value}")
    if value > MAX_PARAMETER:
        raise QueryError(f"{name} is too large, got {value}")
    return value


def _name(params: Mapping[str, str], name: str) -> str | None:
    # Zipkin treats an empty value (and the legacy UI's "all") as "no constraint".
    value = params.get(name)
    if value is None or value == "" or value == "all":
        return None
    return value


def parse_annotation_query(text: str | None) -> dict[str, str]:
    """`http.status_code=500 and error` -> {"http.status_code": "500", "error": ""} (Zipkin syntax)."""
    if not text:
        return {}
    result: dict[str, str] = {}
    for term in re.split(r"\s+and\s+", text.strip()):
        term = term.strip()
        if not term:
            continue
        key, sep, value = term.partition("=")
        key = key.strip()
        if not key:
            raise QueryError(f"annotationQuery term {term!r} has no key")
        result[key] = value.strip() if sep else ""
    return result


def parse_query_request(params: Mapping[str, str], now: int | None = None) -> QueryRequest:
    """Parse /api/v2/traces query parameters (raises QueryError naming the parameter)."""
    end_ts = _positive_int(params, "endTs", None) or (now if now is not None else now_ms())
    lookback = _positive_int(params, "lookback", DEFAULT_LOOKBACK_MS) or DEFAULT_LOOKBACK_MS
    limit = _positive_int(params, "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
    min_duration = _positive_int(params, "minDuration", None)
    max_duration = _positive_int(params, "maxDuration", None)
    if max_duration is not None:
        if min_duration is None:
            raise QueryError("minDuration is required when specifying maxDuration")
        if max_duration < min_duration:
            raise QueryError("maxDuration should be >= minDuration")
    return QueryRequest(
        end_ts=end_ts,
        lookback=min(lookback, end_ts),
        limit=limit,
        service_name=_name(params, "serviceName"),
        remote_service_name=_name(params, "remoteServiceName"),
        span_name=_name(params, "spanName"),
        annotation_query=parse_annotation_query(params.get("annotationQuery")),
        min_duration=min_duration,
        max_duration=max_duration,
    )


def parse_trace_id(value: str) -> str:
    """A trace id path/query parameter -> normalized id (QueryError on bad hex or length)."""
    try:
        return normalize_trace_id(value)
    except SpanFieldError as error:
        raise QueryError(f"traceId {error.reason}") from None


def parse_trace_ids(text: str | None) -> list[str]:
    """The comma-separated `traceIds` of /api/v2/traceMany (at least one)."""
    if not text:
        raise QueryError("traceIds parameter is required")
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise QueryError("traceIds parameter is required")
    return list(dict.fromkeys(parse_trace_id(value) for value in ids))


def parse_dependencies_request(params: Mapping[str, str]) -> tuple[int, int]:
    """(endTs, lookback) in ms for /api/v2/dependencies; endTs is required, as in Zipkin."""
    end_ts = _positive_int(params, "endTs", None)
    if end_ts is None:
        raise QueryError("endTs parameter is required")
    lookback = _positive_int(params, "lookback", DEFAULT_LOOKBACK_MS) or DEFAULT_LOOKBACK_MS
    return end_ts, min(lookback, end_ts)


def trace_timestamp(spans: list[ZipkinSpan]) -> int | None:
    """Zipkin's trace timestamp: the root span's timestamp, else the earliest one (µs)."""
    earliest: int | None = None
    for span in spans:
        timestamp = span.get("timestamp")
        if not timestamp:
            continue
        if "parentId" not in span and not span.get("shared"):
            return timestamp
        if earliest is None or timestamp < earliest:
            earliest = timestamp
    return earliest


def matches(request: QueryRequest, spans: list[ZipkinSpan]) -> bool:
    """Zipkin's `QueryRequest.test`: does this trace satisfy the query?

    The trace timestamp must lie in the window. When serviceName is given, the other conditions are
    only checked on spans of that service. Each condition may be met by a different span; the
    duration condition by any one span (min <= duration <= max, µs).
    """
    timestamp = trace_timestamp(spans)
    start, end = request.window_us
    if timestamp is None or timestamp < start or timestamp > end:
        return False
    service_found = request.service_name is None
    span_name = request.span_name
    remote_name = request.remote_service_name
    remaining = dict(request.annotation_query)
    duration_ok = request.min_duration is None
    for span in spans:
        if request.service_name is not None:
            if local_service(span) != request.service_name:
                continue
            service_found = True
        if span_name is not None and span.get("name") == span_name:
            span_name = None
        if remote_name is not None and remote_service(span) == remote_name:
            remote_name = None
        if remaining:
            for annotation in span.get("annotations", ()):
                if remaining.get(annotation["value"]) == "":
                    del remaining[annotation["value"]]
            for key, value in span.get("tags", {}).items():
                wanted = remaining.get(key)
                if wanted is not None and (wanted == "" or wanted == value):
                    del remaining[key]
        if not duration_ok:
            duration = span.get("duration")
            if duration is not None and duration >= (request.min_duration or 0):
                duration_ok = request.max_duration is None or duration <= request.max_duration
    return service_found and span_name is None and remote_name is None and not remaining and duration_ok
