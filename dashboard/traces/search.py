"""Trace search parameters: parse, validate, normalize, and the predicate the live tail filters with.

The same names in the page URL, the JSON API and the websocket subscription:
  service, operation        exact names ("" or absent: any)
  tags                      logfmt terms, all must hold: `http.status_code=500 error` (a bare key
                            means the tag is present, or an annotation has that value);
                            quote values with spaces: `user="jason smith"`
  minDuration, maxDuration  trace duration bounds with a unit: `100ms`, `1.2s`, `250us`, `2m`
  lookback                  5m .. 2d (5m,15m,1h,2h,6h,12h,1d,2d or any duration), or `custom`
  start, end                the custom window: epoch milliseconds or ISO 8601 (UTC when no zone)
  limit                     1..1000, default 20
  sort                      recent | longest | spans | errors
  q                         a trace id or an x-request-id (resolved by the views)
Every problem becomes a `FieldError` whose `path` is the parameter name. No Django here.
Units: durations are microseconds, window bounds milliseconds since the epoch.
"""

from __future__ import annotations

import math
import re
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from meshcore.model.errors import FieldError

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
DEFAULT_LOOKBACK = "1h"
LOOKBACK_CHOICES = ("5m", "15m", "1h", "2h", "6h", "12h", "1d", "2d")
MIN_LOOKBACK_US = 5 * 60 * 1_000_000
MAX_LOOKBACK_US = 2 * 86_400 * 1_000_000
SORTS = ("recent", "longest", "spans", "errors")
PARAMETERS = (
    "service",
    "operation",
    "tags",
    "minDuration",
    "maxDuration",
    "lookback",
    "start",
    "end",
    "limit",
    "sort",
    "q",
)
# Epoch milliseconds beyond year 9999 are refused (and would not fit the tracer's integers).
MAX_EPOCH_MS = 253_402_300_799_999
MAX_TEXT = 500

UNITS_US = {
    "us": 1,
    "µs": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(us|µs|ms|s|m|h|d)\s*$")
TRACE_ID = re.compile(r"^(?:[0-9a-fA-F]{16}|[0-9a-fA-F]{32})$")


def parse_duration(text: str) -> int:
    """`1.2s` -> 1_200_000 (µs). Raises ValueError with the reason."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit (us, ms, s, m, h, d), e.g. 100ms or 1.2s"
        )
    value = float(match.group(1)) * UNITS_US[match.group(2)]
    if not math.isfinite(value) or value > 2**53:
        raise ValueError(f"{text!r} is too long")
    return round(value)


def format_duration(us: int) -> str:
    """The shortest exact spelling of a duration: 1_200_000 -> `1.2s`, 100_000 -> `100ms`."""
    for unit in ("d", "h", "m", "s", "ms"):
        size = UNITS_US[unit]
        if us >= size and (us * 1000) % size == 0:
            text = f"{us / size:.3f}".rstrip("0").rstrip(".")
            if parse_duration(text + unit) == us:
                return text + unit
    return f"{us}us"


def parse_tags(text: str) -> list[tuple[str, str | None]]:
    """logfmt terms -> [(key, value or None for "present")]; ValueError with the reason."""
    try:
        terms = shlex.split(text)
    except ValueError as error:
        raise ValueError(f'cannot read the tags ({error}); quote values with spaces like key="a b"') from None
    result: list[tuple[str, str | None]] = []
    for term in terms:
        key, sep, value = term.partition("=")
        key = key.strip()
        if not key:
            raise ValueError(f"term {term!r} has no key: use key=value or key")
        result.append((key, value if sep else None))
    return result


def format_tags(tags: list[tuple[str, str | None]]) -> str:
    """The normalized text of parsed tags (round-trips through `parse_tags`)."""
    parts = []
    for key, value in tags:
        if value is None:
            parts.append(shlex.quote(key))
        else:
            parts.append(
                shlex.quote(f"{key}={value}")
                if re.search(r"[\s\"'\\]", key + value) or value == ""
                else f"{key}={value}"
            )
    return " ".join(parts)


def parse_instant_ms(text: str) -> int:
    """Epoch milliseconds or ISO 8601 (naive = UTC) -> epoch ms; ValueError with the reason."""
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        value = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            raise ValueError(f"{text!r} is neither epoch milliseconds nor an ISO 8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        value = int(moment.timestamp() * 1000)
    if value <= 0 or value > MAX_EPOCH_MS:
        raise ValueError(f"{text!r} is out of range")
    return value


@dataclass(frozen=True)
class TraceQuery:
    """A validated search. `start_ms`/`end_ms` bound the trace start time (epoch ms)."""

    start_ms: int
    end_ms: int
    service: str | None = None
    operation: str | None = None
    tags: tuple[tuple[str, str | None], ...] = ()
    min_duration_us: int | None = None
    max_duration_us: int | None = None
    lookback: str = DEFAULT_LOOKBACK
    limit: int = DEFAULT_LIMIT
    sort: str = "recent"
    q: str = ""
    custom: bool = False

    def normalized(self) -> dict[str, Any]:
        """The parameters as the page and the API echo them (same names as the URL)."""
        return {
            "service": self.service or "",
            "operation": self.operation or "",
            "tags": format_tags(list(self.tags)),
            "minDuration": format_duration(self.min_duration_us) if self.min_duration_us is not None else "",
            "maxDuration": format_duration(self.max_duration_us) if self.max_duration_us is not None else "",
            "lookback": self.lookback,
            "start": self.start_ms if self.custom else None,
            "end": self.end_ms if self.custom else None,
            "limit": self.limit,
            "sort": self.sort,
            "q": self.q,
        }

    def query_string(self) -> str:
        """The URL query of this search, without parameters at their defaults (shareable)."""
        return query_string(self.normalized())

    def zipkin_params(self) -> dict[str, Any]:
        """The tracer-side prefilter (Zipkin /api/v2/traces names and units).

        Zipkin's duration test is on any one span; a trace whose duration lies in the bounds always
        has such a span (its root), so the prefilter keeps every match and `matches` decides.
        """
        params: dict[str, Any] = {
            "endTs": self.end_ms,
            "lookback": max(1, self.end_ms - self.start_ms),
            "limit": self.limit,
        }
        if self.service:
            params["serviceName"] = self.service
        if self.operation:
            params["spanName"] = self.operation
        if self.tags:
            params["annotationQuery"] = " and ".join(k if v is None else f"{k}={v}" for k, v in self.tags)
        if self.min_duration_us is not None or self.max_duration_us is not None:
            params["minDuration"] = max(1, self.min_duration_us or 1)
        if self.max_duration_us is not None:
            params["maxDuration"] = max(params["minDuration"], self.max_duration_us)
        return params


def query_string(normalized: Mapping[str, Any]) -> str:
    defaults = {"lookback": DEFAULT_LOOKBACK, "limit": DEFAULT_LIMIT, "sort": "recent"}
    pairs = [
        (name, value)
        for name in PARAMETERS
        if (value := normalized.get(name)) not in (None, "") and defaults.get(name) != value
    ]
    return urlencode(pairs)


def _text(params: Mapping[str, Any], name: str, errors: list[FieldError]) -> str:
    raw = params.get(name)
    if raw is None:
        return ""
    if not isinstance(raw, str | int):
        errors.append(FieldError(name, "must be a string"))
        return ""
    text = str(raw).strip()
    if len(text) > MAX_TEXT:
        errors.append(FieldError(name, f"is too long (at most {MAX_TEXT} characters)"))
        return ""
    if "\x00" in text:
        errors.append(FieldError(name, "must not contain NUL characters"))
        return ""
    return text


def parse_query(params: Mapping[str, Any], now_ms: int | None = None) -> tuple[TraceQuery, list[FieldError]]:
    """Validate search parameters; returns the query (defaults where a value was refused) and
    every problem found, each naming its parameter. Unknown parameters are ignored."""
    errors: list[FieldError] = []
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    text = {name: _text(params, name, errors) for name in PARAMETERS}

    tags: list[tuple[str, str | None]] = []
    if text["tags"]:
        try:
            tags = parse_tags(text["tags"])
        except ValueError as error:
            errors.append(FieldError("tags", str(error)))

    durations: dict[str, int | None] = {"minDuration": None, "maxDuration": None}
    for name in durations:
        if text[name]:
            try:
                durations[name] = parse_duration(text[name])
            except ValueError as error:
                errors.append(FieldError(name, str(error)))
    low, high = durations["minDuration"], durations["maxDuration"]
    if low is not None and high is not None and high < low:
        errors.append(FieldError("maxDuration", f"must be at least minDuration ({format_duration(low)})"))

    limit = DEFAULT_LIMIT
    if text["limit"]:
        try:
            limit = int(text["limit"])
        except ValueError:
            errors.append(
                FieldError("limit", f"must be a whole number from 1 to {MAX_LIMIT}, got {text['limit']!r}")
            )
        else:
            if not 1 <= limit <= MAX_LIMIT:
                errors.append(FieldError("limit", f"must be from 1 to {MAX_LIMIT}, got {limit}"))
                limit = DEFAULT_LIMIT

    sort = text["sort"] or "recent"
    if sort not in SORTS:
        errors.append(FieldError("sort", f"must be one of {', '.join(SORTS)}, got {sort!r}"))
        sort = "recent"

    lookback = text["lookback"] or ("custom" if text["start"] or text["end"] else DEFAULT_LOOKBACK)
    custom = lookback == "custom"
    start_ms, end_ms = now - 3_600_000, now
    if custom:
        bounds: dict[str, int | None] = {"start": None, "end": None}
        for name in bounds:
            if text[name]:
                try:
                    bounds[name] = parse_instant_ms(text[name])
                except ValueError as error:
                    errors.append(FieldError(name, str(error)))
            elif name == "start":
                errors.append(FieldError("start", "is required when lookback is custom"))
        end_ms = bounds["end"] if bounds["end"] is not None else now
        if bounds["start"] is not None:
            start_ms = bounds["start"]
            if start_ms >= end_ms:
                errors.append(FieldError("end", "must be after start"))
                start_ms = end_ms - 3_600_000
    else:
        for name in ("start", "end"):
            if text[name]:
                errors.append(FieldError(name, "is only used with lookback=custom"))
        try:
            span_us = parse_duration(lookback)
        except ValueError as error:
            errors.append(FieldError("lookback", f"{error}; or use custom with start and end"))
            lookback = DEFAULT_LOOKBACK
        else:
            if not MIN_LOOKBACK_US <= span_us <= MAX_LOOKBACK_US:
                errors.append(FieldError("lookback", f"must be from 5m to 2d, got {lookback!r}"))
                lookback = DEFAULT_LOOKBACK
            else:
                lookback = format_duration(span_us)
                start_ms = now - span_us // 1000

    query = TraceQuery(
        start_ms=max(1, start_ms),
        end_ms=end_ms,
        service=text["service"] or None,
        operation=text["operation"] or None,
        tags=tuple(tags),
        min_duration_us=low,
        max_duration_us=high,
        lookback=lookback,
        limit=limit,
        sort=sort,
        q=text["q"],
        custom=custom,
    )
    return query, errors


def is_trace_id(text: str) -> bool:
    """16 or 32 hex digits: what Zipkin and Envoy use as trace ids."""
    return bool(TRACE_ID.match(text.strip()))


# --- the live tail's predicate ---------------------------------------------------------------------


@dataclass(frozen=True)
class TraceFacts:
    """What `matches` needs to know about a trace, small enough to travel in a realtime event.

    `spans` are (service, operation) pairs; `tags` (service, key, value); `annotations`
    (service, value); all deduplicated. `duration_us` is the trace's duration.
    """

    duration_us: int
    spans: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    tags: frozenset[tuple[str, str, str]] = field(default_factory=frozenset)
    annotations: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    @classmethod
    def of(cls, trace: Any) -> TraceFacts:
        """Facts of a `dashboard.traces.model.Trace`."""
        return cls(
            duration_us=trace.duration_us,
            spans=frozenset((s.service, s.name) for s in trace.spans),
            tags=frozenset((s.service, k, v) for s in trace.spans for k, v in s.tags.items()),
            annotations=frozenset((s.service, a.value) for s in trace.spans for a in s.annotations),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration_us": self.duration_us,
            "spans": sorted(self.spans),
            "tags": sorted(self.tags),
            "annotations": sorted(self.annotations),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TraceFacts:
        return cls(
            duration_us=int(data["duration_us"]),
            spans=frozenset(tuple(x) for x in data.get("spans", ())),  # type: ignore[misc]
            tags=frozenset(tuple(x) for x in data.get("tags", ())),  # type: ignore[misc]
            annotations=frozenset(tuple(x) for x in data.get("annotations", ())),  # type: ignore[misc]
        )


def matches(trace_or_facts: Any, query: TraceQuery) -> bool:
    """Does the trace satisfy the search? (The time window is not checked: the live tail shows
    traces as they complete, whatever the lookback.)

    Zipkin's semantics: with `service`, the operation and tag conditions are checked on that
    service's spans only; each condition may be met by a different span. The duration bounds apply
    to the whole trace.
    """
    facts = trace_or_facts if isinstance(trace_or_facts, TraceFacts) else TraceFacts.of(trace_or_facts)
    if query.min_duration_us is not None and facts.duration_us < query.min_duration_us:
        return False
    if query.max_duration_us is not None and facts.duration_us > query.max_duration_us:
        return False

    def mine(service: str) -> bool:
        return query.service is None or service == query.service

    if query.service is not None and not any(service == query.service for service, _ in facts.spans):
        return False
    if query.operation is not None and not any(
        mine(service) and name == query.operation for service, name in facts.spans
    ):
        return False
    for key, value in query.tags:
        if value is None:
            present = any(mine(s) and k == key for s, k, _ in facts.tags) or any(
                mine(s) and v == key for s, v in facts.annotations
            )
        else:
            present = any(mine(s) and k == key and v == value for s, k, v in facts.tags)
        if not present:
            return False
    return True
