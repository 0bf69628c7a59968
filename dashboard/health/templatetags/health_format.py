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
