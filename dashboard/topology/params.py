"""Query-parameter parsing with messages that name the parameter and the reason (-> HTTP 400)."""

from __future__ import annotations

from django.http import QueryDict


class BadParameter(ValueError):
    pass


def int_param(query: QueryDict, name: str, default: int, minimum: int, maximum: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(f"{name}: expected an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise BadParameter(f"{name}: must be between {minimum} and {maximum}, got {value}")
    return value


def bool_param(query: QueryDict, name: str, default: bool = False) -> bool:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise BadParameter(f"{name}: expected true/false, got {raw!r}")
