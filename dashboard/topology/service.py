"""The poll as the dashboard runs it: sources and thresholds from settings, snapshot, publish."""

from __future__ import annotations

import logging
import time
from contextlib import suppress

from django.conf import settings
from django.db import transaction

from dashboard import realtime
from dashboard.sources import configured
from dashboard.topology import pollrecord
from dashboard.topology.appenders import HealthThresholds
from dashboard.topology.poll import PollConfig, poll_once, poll_prometheus
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
    state: PollState | None = None, registry_source=None, envoy=None, route_store=None, prometheus=None
) -> int | None:
    """Poll once (Envoys, or Prometheus when MESHSCOPE_TELEMETRY_SOURCE=prometheus), store the
    snapshot and publish `topology.updated` after the commit.

    Returns the snapshot id, or None when another poll holds the lock (overlapping beats are
    skipped, which keeps the task idempotent: at most one poll's deltas per interval).
    """
    state = state or redis_poll_state()
    lock_timeout = max(settings.TOPOLOGY_POLL_INTERVAL_SECONDS * 5, 5.0)
    with state.lock(lock_timeout) as acquired:
        if not acquired:
            log.info("topology poll skipped: another poll is running")
            return None
        started = time.monotonic()
        observed: dict = {}
        try:
            # The poll reads only the store's revision each time: the poll deadline applies.
            common = {
                "route_store": route_store or configured.route_store(settings.SOURCE_TIMEOUT_SECONDS),
                "observed": observed,
            }
            registry_source = registry_source or configured.registry_source(fresh_for=0.0)
            if settings.TELEMETRY_SOURCE == "prometheus":
                prometheus = prometheus or configured.prometheus_source()
                window = settings.PROMETHEUS_RATE_WINDOW
                traffic_map = poll_prometheus(
                    registry_source,
                    prometheus,
                    state,
                    poll_config(),
                    window=window,
                    latency_interval_s=settings.PROMETHEUS_LATENCY_INTERVAL_SECONDS,
                    **common,
                )
            else:
                envoy = envoy or configured.envoy_admin()
                traffic_map = poll_once(registry_source, envoy, state, poll_config(), **common)
            with transaction.atomic():
                snapshot = store_snapshot(traffic_map, settings.SNAPSHOT_RETENTION_MINUTES)
                data = payload(snapshot.taken_at, snapshot.data)
                transaction.on_commit(
                    lambda: realtime.publish(realtime.TOPOLOGY_GROUP, "topology.updated", data)
                )
        except Exception as error:
            _record_failure(state, error)
            raise
        _record_success(state, snapshot.id, time.monotonic() - started, traffic_map.stale_sources, observed)
        return snapshot.id


def _record_success(
    state: PollState, snapshot_id: int, duration_s: float, stale_sources: list[str], observed: dict
) -> None:
    """The poller's heartbeat and counters (see dashboard.topology.pollrecord); called under the lock."""
    last = state.load("last_poll") or {}
    state.save(
        "last_poll",
        {
            **last,
            "finished_at": time.time(),
            "duration_s": round(duration_s, 6),
            "stale_sources": list(stale_sources),
            "snapshot_id": snapshot_id,
        },
    )
    state.save(
        "poll_stats",
        pollrecord.add_poll(
            state.load("poll_stats"),
            duration_s,
            observed.get("sources", ()),
            stale_sources,
            observed.get("phases"),
        ),
    )


def _record_failure(state: PollState, error: Exception) -> None:
    """A poll that raised: its error goes next to the last good poll (best effort: the state
    itself may be what failed)."""
    with suppress(Exception):
        last = state.load("last_poll") or {}
        state.save(
            "last_poll", {**last, "error": f"{type(error).__name__}: {error}", "error_at": time.time()}
        )
        state.save("poll_stats", pollrecord.add_failed_poll(state.load("poll_stats")))
