"""Celery tasks of the trace explorer (thin: the work is in dashboard.traces.tail)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from dashboard import realtime
from dashboard.routes.shared_state import redis_client
from dashboard.sources import configured
from dashboard.traces.tail import RedisTailState, TailConfig, TailState, tail_once

log = logging.getLogger(__name__)


def tail_config() -> TailConfig:
    return TailConfig(
        interval_s=settings.TRACES_TAIL_INTERVAL_SECONDS,
        quiet_s=settings.TRACES_TAIL_QUIET_SECONDS,
        window_s=settings.TRACES_TAIL_WINDOW_SECONDS,
        limit=settings.TRACES_TAIL_LIMIT,
    )


def tail_and_publish(state: TailState | None = None, source=None) -> int | None:
    """Read the tail once and publish `traces.completed` per new trace and one `traces.status`.

    Returns how many traces completed, or None when another read holds the lock (overlapping beats
    are skipped, so each trace is announced once).
    """
    state = state or RedisTailState(redis_client())
    config = tail_config()
    with state.lock(max(config.interval_s * 5, 5.0)) as acquired:
        if not acquired:
            log.info("trace tail skipped: another read is running")
            return None
        result = tail_once(source or configured.trace_source(), state, config)
    for data in result.completed:
        realtime.publish(realtime.TRACES_GROUP, "traces.completed", data)
    realtime.publish(realtime.TRACES_GROUP, "traces.status", result.status)
    return len(result.completed)


@shared_task(name="traces.tail", ignore_result=True)
def tail_traces() -> int | None:
    """Run by Celery beat every MESHSCOPE_TRACES_TAIL_INTERVAL seconds."""
    return tail_and_publish()
