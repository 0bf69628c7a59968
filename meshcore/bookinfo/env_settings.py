"""Reading the apps' tuning knobs from environment variables, with errors that name the variable."""

from __future__ import annotations

from collections.abc import Mapping


def env_seconds(env: Mapping[str, str], name: str, default: float, allow_zero: bool = False) -> float:
    """A duration in seconds from `env[name]` (unset or empty: `default`); ValueError naming `name`
    when it is not a number, negative, or zero without `allow_zero`."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: must be {bound} seconds, got {value}")
    return value
