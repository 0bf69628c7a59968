"""Filters of the health page: epoch seconds as a UTC time, seconds as an age."""

from __future__ import annotations

import datetime as dt

from django import template

register = template.Library()


@register.filter
def epoch(value: float | None) -> str:
    """`1764590584.2` -> "2025-12-01 12:03:04 UTC"; "-" for None."""
    if value is None:
        return "-"
    return dt.datetime.fromtimestamp(float(value), tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@register.filter
def ms(seconds: float | None) -> str:
    """`0.01234` (seconds) -> "12.3 ms"; "-" for None."""
    if seconds is None:
        return "-"
    return f"{float(seconds) * 1000:.1f} ms"
