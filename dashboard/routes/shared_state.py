"""The Redis every dashboard process shares: the route write lock, the external-change cursor and
the recorded-traffic windows live there, never in one process's memory."""

from __future__ import annotations

from django.conf import settings


def redis_client():
    """A client of REDIS_URL with short deadlines (a Redis that hangs must not hang a request)."""
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
