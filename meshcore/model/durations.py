"""Istio / protobuf durations: ``"5s"``, ``"0.5s"``, ``"100ms"``, ``"1m30s"``, ``"250us"``, ``"1h"``.

Istio accepts Go-style duration strings (a sequence of decimal numbers each with a unit) for every
``google.protobuf.Duration`` field, so that is the grammar parsed here. Negative durations are
meaningless for timeouts, delays and intervals and are refused.
"""

from __future__ import annotations

import math
import re

# Longest units first so "ms" is not read as "m" followed by a stray "s".
_UNIT_SECONDS: dict[str, float] = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,  # Go accepts both micro signs (U+00B5, U+03BC)
    "μs": 1e-6,
    "ns": 1e-9,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
# Longer than any real duration ("1h59m59.999999999s" has 18 characters); refused before parsing.
MAX_DURATION_LENGTH = 64
_UNIT_HELP = 'expected a number with a unit (h, m, s, ms, us, ns), e.g. "5s", "100ms" or "1m30s"'


def parse_duration(text: str) -> float:
    """Parse a duration string into seconds (a non-negative float).

    Raises ValueError for empty, negative or unparsable input, for input longer than
    MAX_DURATION_LENGTH characters, and for non-string input (YAML ``timeout: 5`` is a number,
    which Istio refuses too). Its message reads ``invalid duration "abc": <reason>`` so callers can
    show it next to the field path unchanged. Time is linear in the length of ``text``.
    """
    if not isinstance(text, str) or isinstance(text, bool):
        raise ValueError(f'must be a duration string such as "5s", got {text!r}')
    if len(text) > MAX_DURATION_LENGTH:
        raise ValueError(
            f'invalid duration "{text[:20]}...": {len(text)} characters, at most {MAX_DURATION_LENGTH}'
        )
    stripped = text.strip()
    if not stripped:
        raise ValueError(f'invalid duration "": empty; {_UNIT_HELP}')
    if stripped.startswith("-"):
        raise ValueError(f'invalid duration "{text}": negative durations are not allowed')
    if stripped.startswith("+"):
        stripped = stripped[1:]
    if stripped == "0":  # Go accepts a bare zero without a unit.
        return 0.0
    total = 0.0
    position = 0
    # Each part is matched where the previous one ended (finditer would retry from every later
    # position, which is quadratic on a long run of digits without a unit).
    while (part := _PART.match(stripped, position)) is not None:
        total += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        position = part.end()
    if position != len(stripped) or position == 0:
        raise ValueError(f'invalid duration "{text}": {_UNIT_HELP}')
    if not math.isfinite(total):
        raise ValueError(f'invalid duration "{text}": too large')
    return total


def format_duration(seconds: float) -> str:
    """Format seconds as the shortest exact Istio duration string.

    Whole hours/minutes/seconds use ``h``/``m``/``s`` ("1h", "1m30s", "5s"); a sub-second value uses
    the largest of ``ms``/``us``/``ns`` that keeps it whole ("100ms", "250us"); anything else falls back
    to fractional seconds ("1.5s"). Values are rounded to nanoseconds. ``parse_duration`` inverts it.
    """
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"cannot format {seconds!r} as a duration: must be a finite number >= 0")
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("us", 1_000)):
            if nanos % size == 0:
                return f"{nanos // size}{unit}"
        return f"{nanos}ns"
    if nanos % 1_000_000_000:
        return f"{_trim(nanos / 1e9)}s"
    whole = nanos // 1_000_000_000
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if value]
    return "".join(parts)


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")
