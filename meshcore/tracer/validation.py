"""Validate and normalize decoded spans (Zipkin v2 shape) with messages that name span and field.

Bad-input policy (used by both ingest endpoints):
- A body that cannot be decoded at all (truncated JSON, not a list, bad protobuf) stores nothing and
  is answered 400 with the parser's message.
- Otherwise each span is checked on its own. Valid spans are stored; invalid spans are rejected and
  listed in the 400 answer ("span[3] id=...: field 'traceId': must be 16 or 32 hex characters").
  The answer also says how many spans were accepted, so a sender is never left to guess: nothing is
  dropped silently, and the good spans of a mixed batch are not lost either. Re-sending the whole
  batch is harmless because identical span pieces merge on read.

Times: a span may not start, end (timestamp + duration) or carry an annotation more than
`MAX_FUTURE_SKEW_S` after the tracer's clock: a far-future trace would never age out and would
push real ones out of the store.

Normalization follows Zipkin's model: ids are lowercased, `duration`/`timestamp` of 0 mean absent,
empty strings/objects are dropped, tag values that are JSON numbers or booleans become strings
(Zipkin tags are string -> string), everything else of the wrong type is an error.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from meshcore.model.errors import FieldError
from meshcore.tracer.model import SPAN_KINDS, ZipkinSpan, dumps

_TRACE_ID = re.compile(r"[0-9a-f]{16}(?:[0-9a-f]{16})?")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_ZERO_IDS = frozenset({"0" * 16, "0" * 32})
# The largest microsecond value a signed 64-bit column holds; anything above is certainly garbage.
_MAX_MICROS = 2**63 - 1
# How far ahead of the tracer's clock a span time may be (clock skew between hosts).
MAX_FUTURE_SKEW_S = 3600


class SpanFieldError(ValueError):
    """One field of one span is invalid; `field` is a JSON path inside the span ("localEndpoint.port")."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"field '{field}': {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class SpanProblem:
    """Why the span at `index` of a batch was rejected."""

    index: int
    trace_id: str | None
    span_id: str | None
    field: str
    reason: str

    def message(self) -> str:
        return f"span[{self.index}]{self._ident(' ')}: field '{self.field}': {self.reason}"

    def field_error(self) -> FieldError:
        """The problem as a FieldError: path `span[3].localEndpoint.port`, the reason and the ids."""
        path = f"span[{self.index}]" if self.field == "(span)" else f"span[{self.index}].{self.field}"
        return FieldError(path, f"{self.reason}{self._ident(' (', ')')}")

    def _ident(self, before: str = "", after: str = "") -> str:
        # Ids are echoed truncated: a bad id may be arbitrarily long.
        parts = [f"traceId={self.trace_id[:40]}"] if self.trace_id else []
        parts += [f"id={self.span_id[:40]}"] if self.span_id else []
        return f"{before}{' '.join(parts)}{after}" if parts else ""

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "traceId": self.trace_id,
            "id": self.span_id,
            "field": self.field,
            "reason": self.reason,
        }


def normalize_trace_id(value: Any, field: str = "traceId") -> str:
    """Lowercase 16 or 32 hex characters, not all zero."""
    return _normalize_hex_id(value, field, _TRACE_ID, "16 or 32")


def normalize_span_id(value: Any, field: str) -> str:
    """Lowercase 16 hex characters, not all zero."""
    return _normalize_hex_id(value, field, _SPAN_ID, "16")


def _normalize_hex_id(value: Any, field: str, pattern: re.Pattern[str], lengths: str) -> str:
    if not isinstance(value, str):
        raise SpanFieldError(field, f"must be a string of {lengths} hex characters, got {_show(value)}")
    lowered = value.lower()
    if pattern.fullmatch(lowered) is None:
        raise SpanFieldError(field, f"must be {lengths} hex characters, got {_show(value)}")
    if lowered in _ZERO_IDS:
        raise SpanFieldError(field, "must not be all zeros")
    return lowered


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _micros(value: Any, field: str) -> int:
    # bool is an int subclass in Python; JSON true is never a time.
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpanFieldError(field, f"must be an integer number of microseconds, got {_show(value)}")
    if value < 0:
        raise SpanFieldError(field, f"must not be negative, got {value}")
    if value > _MAX_MICROS:
        raise SpanFieldError(field, f"is too large, got {value}")
    return value


def _endpoint(value: Any, field: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SpanFieldError(field, f"must be an object, got {_show(value)}")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        if key in ("serviceName", "ipv4", "ipv6"):
            if not isinstance(item, str):
                raise SpanFieldError(f"{field}.{key}", f"must be a string, got {_show(item)}")
            if item:
                out[key] = item
        elif key == "port":
            if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= 65535:
                raise SpanFieldError(f"{field}.port", f"must be an integer 0..65535, got {_show(item)}")
            if item:
                out["port"] = item
        # Unknown endpoint keys are ignored, as Zipkin's decoder does.
    return out or None


def _tags(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SpanFieldError("tags", f"must be an object of string values, got {_show(value)}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, str):
            out[key] = item
        elif isinstance(item, bool):
            out[key] = "true" if item else "false"
        elif isinstance(item, int | float):
            out[key] = str(item)
        elif item is None:
            continue
        else:
            raise SpanFieldError(f"tags.{key}", f"must be a string, got {_show(item)}")
    return out or None


def _not_after(value: int, latest: int | None, field: str) -> int:
    """`value` (microseconds), unless it lies after `latest` (None: no bound)."""
    if latest is not None and value > latest:
        ahead = (value - latest) / 1e6 + MAX_FUTURE_SKEW_S
        raise SpanFieldError(
            field,
            f"is {ahead:.0f} s in the future, more than {MAX_FUTURE_SKEW_S} s ahead of the tracer's clock",
        )
    return value


def _annotations(value: Any, latest: int | None = None) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise SpanFieldError("annotations", f"must be a list, got {_show(value)}")
    out = []
    for position, item in enumerate(value):
        field = f"annotations[{position}]"
        if not isinstance(item, dict):
            raise SpanFieldError(field, f"must be an object, got {_show(item)}")
        annotation_value = item.get("value")
        if not isinstance(annotation_value, str) or not annotation_value:
            raise SpanFieldError(
                f"{field}.value", f"must be a non-empty string, got {_show(annotation_value)}"
            )
        timestamp = _not_after(
            _micros(item.get("timestamp"), f"{field}.timestamp"), latest, f"{field}.timestamp"
        )
        out.append({"timestamp": timestamp, "value": annotation_value})
    return out or None


def normalize_span(raw: Any, latest_micros: int | None = None) -> ZipkinSpan:
    """Return the normalized copy of one decoded Zipkin v2 span or raise SpanFieldError.

    Contract: the result has only the keys Zipkin documents, ids lowercased, no null values, and
    no time after `latest_micros` (microseconds since the epoch; None: not checked).
    Pure function; thread-safe.
    """
    if not isinstance(raw, dict):
        raise SpanFieldError("(span)", f"must be a JSON object, got {_show(raw)}")
    span: dict[str, Any] = {
        "traceId": normalize_trace_id(raw.get("traceId")),
        "id": normalize_span_id(raw.get("id"), "id"),
    }
    parent = raw.get("parentId")
    if parent is not None and parent != "":
        span["parentId"] = normalize_span_id(parent, "parentId")
    name = raw.get("name")
    if name is not None:
        if not isinstance(name, str):
            raise SpanFieldError("name", f"must be a string, got {_show(name)}")
        if name:
            span["name"] = name
    kind = raw.get("kind")
    if kind is not None:
        if not isinstance(kind, str) or kind not in SPAN_KINDS:
            raise SpanFieldError(
                "kind", f"must be one of CLIENT, SERVER, PRODUCER, CONSUMER, got {_show(kind)}"
            )
        span["kind"] = kind
    timestamp = raw.get("timestamp")
    if timestamp is not None and _not_after(_micros(timestamp, "timestamp"), latest_micros, "timestamp"):
        span["timestamp"] = timestamp
    duration = raw.get("duration")
    if duration is not None and _micros(duration, "duration"):
        span["duration"] = duration
        end = span.get("timestamp", 0) + duration
        if end > _MAX_MICROS:
            raise SpanFieldError("duration", f"timestamp + duration is too large, got {end}")
        if "timestamp" in span:
            _not_after(end, latest_micros, "duration")
    for flag in ("debug", "shared"):
        value = raw.get(flag)
        if value is not None:
            if not isinstance(value, bool):
                raise SpanFieldError(flag, f"must be true or false, got {_show(value)}")
            if value:
                span[flag] = True
    local = _endpoint(raw.get("localEndpoint"), "localEndpoint")
    if local:
        span["localEndpoint"] = local
    remote = _endpoint(raw.get("remoteEndpoint"), "remoteEndpoint")
    if remote:
        span["remoteEndpoint"] = remote
    annotations = _annotations(raw.get("annotations"), latest_micros)
    if annotations:
        span["annotations"] = annotations
    tags = _tags(raw.get("tags"))
    if tags:
        span["tags"] = tags
    return span  # type: ignore[return-value]


def _check_unicode(span: ZipkinSpan) -> None:
    try:
        dumps(span).encode("utf-8")
    except UnicodeEncodeError:
        raise SpanFieldError(
            "(span)",
            "contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff), which is not valid Unicode",
        ) from None


def normalize_batch(
    raw_spans: list[Any], *, check_unicode: bool = False, now_micros: int | None = None
) -> tuple[list[ZipkinSpan], list[SpanProblem]]:
    """Split a decoded batch into normalized valid spans and problems (see the module policy).

    `check_unicode`: also reject strings holding lone surrogates, which JSON's \\uXXXX escapes can
    produce and SQLite cannot store. Callers enable it only when the body contains a "\\ud" escape,
    since the check costs an encode per span. `now_micros` is the tracer's clock (default: now).
    """
    now = int(time.time() * 1_000_000) if now_micros is None else now_micros
    latest = now + MAX_FUTURE_SKEW_S * 1_000_000
    valid: list[ZipkinSpan] = []
    problems: list[SpanProblem] = []
    for index, raw in enumerate(raw_spans):
        try:
            span = normalize_span(raw, latest)
            if check_unicode:
                _check_unicode(span)
            valid.append(span)
        except SpanFieldError as error:
            trace_id = raw.get("traceId") if isinstance(raw, dict) else None
            span_id = raw.get("id") if isinstance(raw, dict) else None
            problems.append(
                SpanProblem(
                    index=index,
                    trace_id=trace_id if isinstance(trace_id, str) else None,
                    span_id=span_id if isinstance(span_id, str) else None,
                    field=error.field,
                    reason=error.reason,
                )
            )
    return valid, problems
