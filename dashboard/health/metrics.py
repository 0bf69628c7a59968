"""The dashboard's own Prometheus metrics, served at /metrics (see views.metrics_view).

Read at scrape time from where each fact lives, so any Daphne process answers for the whole
dashboard: the poller's counters and heartbeat from the poll state in Redis (written by the
Celery worker, see dashboard.topology.pollrecord), the snapshot age from the database, the Celery
queue depth from the broker, restarts per part from the supervisors' files. Websocket clients are
counted by the consumers of this process (`WEBSOCKET_CLIENTS`). A source that cannot be read
leaves its metrics out and counts in `meshscope_metrics_source_up{source}` 0.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator

from django.conf import settings
from prometheus_client import CollectorRegistry, Gauge, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from dashboard.env import install_secret
from dashboard.topology import pollrecord

REGISTRY = CollectorRegistry()
WEBSOCKET_CLIENTS = Gauge(
    "meshscope_websocket_clients",
    "Websocket clients connected to this dashboard process, per consumer.",
    ["consumer"],
    registry=REGISTRY,
)
ProcessCollector(registry=REGISTRY)


def client_connected(consumer: object, label: str) -> None:
    """Count an accepted websocket of `consumer` (once) under `label` in WEBSOCKET_CLIENTS."""
    if getattr(consumer, "_counted_as", None) is None:
        WEBSOCKET_CLIENTS.labels(label).inc()
        consumer._counted_as = label


def client_disconnected(consumer: object) -> None:
    """Uncount `consumer`'s websocket if `client_connected` counted it (safe to call twice)."""
    label = getattr(consumer, "_counted_as", None)
    if label is not None:
        WEBSOCKET_CLIENTS.labels(label).dec()
        consumer._counted_as = None


# Celery's Redis transport keeps one list per queue and priority step ("celery", "celery\x06\x163"...).
CELERY_QUEUE = "celery"
CELERY_PRIORITY_SEPARATOR = "\x06\x16"


def metrics_token() -> str:
    """The bearer token of /metrics: the setting, else the state directory's (created once)."""
    return settings.METRICS_TOKEN or install_secret(settings.METRICS_TOKEN_FILE)


def bearer_ok(authorization: str) -> bool:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    return hmac.compare_digest(token.strip().encode(), metrics_token().encode())


def _poll_metrics(stats: dict, last_poll: dict | None, now: float) -> Iterator[Metric]:
    buckets = stats.get("buckets") or []
    if len(buckets) == len(pollrecord.DURATION_BUCKETS):
        # Recorded per bucket ("at most this long"), which is already cumulative.
        pairs = [(str(b), c) for b, c in zip(pollrecord.DURATION_BUCKETS, buckets, strict=True)]
        histogram = HistogramMetricFamily("meshscope_poll_duration_seconds", "Duration of topology polls.")
        histogram.add_metric([], [*pairs, ("+Inf", stats.get("polls", 0))], stats.get("duration_sum", 0.0))
        yield histogram
    failed = CounterMetricFamily("meshscope_poll_failures", "Polls that raised and stored nothing.")
    failed.add_metric([], stats.get("failed_polls", 0))
    yield failed
    requests = CounterMetricFamily(
        "meshscope_source_requests", "Times a poll asked each source.", labels=["source"]
    )
    for source, count in sorted((stats.get("attempts") or {}).items()):
        requests.add_metric([source], count)
    yield requests
    errors = CounterMetricFamily(
        "meshscope_source_errors", "Times a source did not answer a poll.", labels=["source"]
    )
    for source, count in sorted((stats.get("errors") or {}).items()):
        errors.add_metric([source], count)
    yield errors
    phases = GaugeMetricFamily(
        "meshscope_poll_phase_seconds", "Seconds each phase of the last poll took.", labels=["phase"]
    )
    for phase, seconds in sorted((stats.get("phases") or {}).items()):
        phases.add_metric([phase], seconds)
    yield phases
    if last_poll and isinstance(last_poll.get("finished_at"), int | float):
        age = GaugeMetricFamily("meshscope_last_poll_age_seconds", "Seconds since the last poll finished.")
        age.add_metric([], max(0.0, now - last_poll["finished_at"]))
        yield age


def _queue_depth(client) -> int:
    names = [CELERY_QUEUE] + [f"{CELERY_QUEUE}{CELERY_PRIORITY_SEPARATOR}{p}" for p in (3, 6, 9)]
    pipe = client.pipeline()
    for name in names:
        pipe.llen(name)
    return sum(pipe.execute())


class DashboardCollector:
    """Collects at each scrape; every source read is bounded by MESHSCOPE_SOURCE_TIMEOUT."""

    def collect(self) -> Iterator[Metric]:
        import redis

        from dashboard.health.service import supervision
        from dashboard.topology.snapshots import latest_snapshot
        from dashboard.topology.state import redis_poll_state

        now = time.time()
        up = GaugeMetricFamily(
            "meshscope_metrics_source_up",
            "Whether /metrics could read each of its sources at this scrape.",
            labels=["source"],
        )
        timeout = settings.SOURCE_TIMEOUT_SECONDS
        try:
            state = redis_poll_state()
            stats, last_poll = state.load("poll_stats") or {}, state.load("last_poll")
            yield from _poll_metrics(stats, last_poll, now)
            up.add_metric(["poll_state"], 1)
        except Exception:
            up.add_metric(["poll_state"], 0)
        try:
            broker = redis.Redis.from_url(
                settings.CELERY_BROKER_URL, socket_timeout=timeout, socket_connect_timeout=timeout
            )
            depth = GaugeMetricFamily("meshscope_celery_queue_depth", "Tasks waiting in Celery's queue.")
            depth.add_metric([], _queue_depth(broker))
            broker.close()
            yield depth
            up.add_metric(["broker"], 1)
        except Exception:
            up.add_metric(["broker"], 0)
        try:
            snapshot = latest_snapshot()
            if snapshot is not None:
                age = GaugeMetricFamily(
                    "meshscope_snapshot_age_seconds", "Age of the newest stored topology snapshot."
                )
                age.add_metric([], max(0.0, now - snapshot.taken_at.timestamp()))
                yield age
            up.add_metric(["database"], 1)
        except Exception:
            up.add_metric(["database"], 0)
        supervised = supervision()
        restarts = CounterMetricFamily(
            "meshscope_part_restarts", "Restarts of each supervised part.", labels=["part"]
        )
        part_up = GaugeMetricFamily(
            "meshscope_part_up", "1 when the supervised part is running.", labels=["part", "state"]
        )
        for part in supervised.parts:
            restarts.add_metric([part.name], part.restarts)
            part_up.add_metric([part.name, part.state], 1 if part.up else 0)
        yield restarts
        yield part_up
        yield up


REGISTRY.register(DashboardCollector())


def exposition(accept: str) -> tuple[bytes, str]:
    """The text exposition (or OpenMetrics when `accept` asks for it) and its content type."""
    encoder, content_type = choose_encoder(accept)
    return encoder(REGISTRY), content_type
