"""Template context of every page: what the live badge needs (base.html, static/js/live.js)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def live_feed(request: HttpRequest) -> dict[str, float]:
    """`poll_interval_s`: seconds between topology updates; the badge calls the feed stale after 3."""
    return {"poll_interval_s": settings.TOPOLOGY_POLL_INTERVAL_SECONDS}
