"""System checks that validate the environment-derived settings at start (`manage.py check`)."""

from __future__ import annotations

from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, Warning, register


def _url_problem(value: str, schemes: set[str]) -> str | None:
    parsed = urlparse(value)
    if parsed.scheme not in schemes:
        return f"scheme must be one of {sorted(schemes)}, got {parsed.scheme or 'none'!r}"
    if not parsed.hostname:
        return "has no host"
    try:
        parsed.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "has an invalid port"
    return None


@register()
def check_meshscope_settings(app_configs=None, **kwargs) -> list:
    """Each problem names the environment variable and the reason."""
    problems: list = []
    for name, env, schemes in (
        ("MESHCORE_API_URL", "MESHCORE_API_URL", {"http", "https"}),
        ("MESHCORE_TRACER_URL", "MESHCORE_TRACER_URL", {"http", "https"}),
        ("REDIS_URL", "REDIS_URL", {"redis", "rediss", "unix"}),
    ):
        reason = _url_problem(getattr(settings, name), schemes)
        if reason and not (name == "REDIS_URL" and settings.REDIS_URL.startswith("unix:")):
            problems.append(Error(f"{env}={getattr(settings, name)!r} {reason}", id="meshscope.E001"))
    if settings.HEALTH_DEGRADED_ERROR_PCT > settings.HEALTH_FAILING_ERROR_PCT:
        problems.append(
            Error(
                "MESHSCOPE_HEALTH_DEGRADED_PCT must not exceed MESHSCOPE_HEALTH_FAILING_PCT "
                f"({settings.HEALTH_DEGRADED_ERROR_PCT} > {settings.HEALTH_FAILING_ERROR_PCT})",
                id="meshscope.E002",
            )
        )
    if settings.SOURCE_TIMEOUT_SECONDS >= settings.TOPOLOGY_POLL_INTERVAL_SECONDS * 5:
        problems.append(
            Warning(
                "MESHSCOPE_SOURCE_TIMEOUT is much longer than MESHSCOPE_POLL_INTERVAL: a dead sidecar "
                "will delay every poll",
                id="meshscope.W001",
            )
        )
    if settings.REGISTRY_SOURCE not in {"controlplane", "kubernetes", "static"}:
        problems.append(
            Error(
                f"MESHSCOPE_REGISTRY_SOURCE={settings.REGISTRY_SOURCE!r}: "
                "expected 'controlplane', 'kubernetes' or 'static'",
                id="meshscope.E003",
            )
        )
    if getattr(settings, "SECRET_KEY_MISSING", False):
        problems.append(
            Error(
                "DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) must be set when DATABASE_URL is set and "
                "DJANGO_DEBUG is off: every process of the dashboard must sign with the same key",
                id="meshscope.E004",
            )
        )
    return problems
