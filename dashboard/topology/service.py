"""The poll as the dashboard runs it: sources and thresholds from settings, snapshot, publish."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from dashboard import realtime
from dashboard.sources import configured
from dashboard.topology.appenders import HealthThresholds
from dashboard.topology.poll import PollConfig, poll_once
from dashboard.topology.snapshots import payload, store_snapshot
from dashboard.topology.state import PollState, redis_poll_state

log = logging.getLogger(__name__)


def poll_config() -> PollConfig:
    return PollConfig(
        thresholds=HealthThresholds(
            degraded_pct=settings.HEALTH_DEGRADED_ERROR_PCT,
            failing_pct=settings.HEALTH_FAILING_ERROR_PCT,
            idle_rps=settings.IDLE_EDGE_RPS,
        ),
        concurrency=settings.ENVOY_POLL_CONCURRENCY,
    )


def poll_and_publish(
    state: PollState | None = None, registry_source=None, envoy=None, route_store=None
) -> int | None:
    """Poll once, store the snapshot and publish `topology.updated` after the commit.

    Returns the snapshot id, or None when another poll holds the lock (overlapping beats are
    skipped, which keeps the task idempotent: at most one poll's deltas per interval).
    """
    state = state or redis_poll_state()
    lock_timeout = max(settings.TOPOLOGY_POLL_INTERVAL_SECONDS * 5, 5.0)
    with state.lock(lock_timeout) as acquired:
        if not acquired:
            log.info("topology poll skipped: another poll is running")
            return None
        traffic_map = poll_once(
            registry_source or configured.registry_source(),
            envoy or configured.envoy_admin(),
            state,
            poll_config(),
            # The poll reads only the store's revision each time: the poll deadline applies.
            route_store=route_store or configured.route_store(settings.SOURCE_TIMEOUT_SECONDS),
        )
        with transaction.atomic():
            snapshot = store_snapshot(traffic_map, settings.SNAPSHOT_RETENTION_MINUTES)
            data = payload(snapshot.taken_at, snapshot.data)
            transaction.on_commit(lambda: realtime.publish(realtime.TOPOLOGY_GROUP, "topology.updated", data))
        return snapshot.id
