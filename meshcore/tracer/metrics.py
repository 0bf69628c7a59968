"""The tracer's own telemetry, in Prometheus text format at /metrics.

A private CollectorRegistry per application (never the global one), so several tracers can run in
one process (tests) and nothing else in the process leaks into the tracer's /metrics.
Counters are labelled by `transport` ("zipkin" or "otlp"), like Zipkin's `zipkin_collector_*`.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from meshcore.tracer.store import TraceStore

__all__ = ["CONTENT_TYPE_LATEST", "TracerMetrics"]


class TracerMetrics:
    """Metric objects for one tracer instance. Thread-safe (prometheus-client objects are)."""

    def __init__(self, store: TraceStore) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "meshcore_tracer_ingest_requests",
            "Ingest requests by transport and HTTP status.",
            ["transport", "status"],
            registry=r,
        )
        self.received = Counter(
            "meshcore_tracer_spans_received", "Spans decoded from ingest requests.", ["transport"], registry=r
        )
        self.accepted = Counter(
            "meshcore_tracer_spans_accepted", "Spans queued for storage.", ["transport"], registry=r
        )
        self.rejected = Counter(
            "meshcore_tracer_spans_rejected",
            "Spans rejected as invalid (answered 400).",
            ["transport"],
            registry=r,
        )
        self.dropped = Counter(
            "meshcore_tracer_spans_dropped",
            "Valid spans not stored because the tracer was overloaded (answered 503).",
            ["transport"],
            registry=r,
        )
        self.bad_requests = Counter(
            "meshcore_tracer_bad_requests",
            "Ingest requests whose body could not be decoded or was too large.",
            ["transport", "reason"],
            registry=r,
        )
        self.query_latency = Histogram(
            "meshcore_tracer_query_duration_seconds",
            "Query API latency by endpoint.",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r,
        )
        stored = Gauge("meshcore_tracer_store_spans", "Spans currently stored.", registry=r)
        stored.set_function(lambda: store.stats.spans)
        pending = Gauge(
            "meshcore_tracer_ingest_queue_spans", "Spans accepted but not yet written.", registry=r
        )
        pending.set_function(lambda: store.stats.pending)
        size = Gauge("meshcore_tracer_store_bytes", "Database plus WAL size on disk.", registry=r)
        size.set_function(store.database_bytes)
        cap = Gauge("meshcore_tracer_store_max_spans", "Span-count retention cap.", registry=r)
        cap.set(store.max_spans)
        r.register(_StoreCounters(store))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StoreCounters(Collector):
    """Counters whose values the store keeps (the writer thread owns them)."""

    def __init__(self, store: TraceStore) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        stats = self._store.stats
        yield CounterMetricFamily(
            "meshcore_tracer_spans_written", "Spans committed to the store.", value=stats.written
        )
        yield CounterMetricFamily(
            "meshcore_tracer_spans_expired", "Spans deleted by retention.", value=stats.expired
        )
        writer = self._store.writer_state()
        yield GaugeMetricFamily(
            "meshcore_tracer_writer_up", "1 while the span writer runs, 0 while it is down.",
            value=1 if writer["status"] == "UP" else 0,
        )  # fmt: skip
        yield CounterMetricFamily(
            "meshcore_tracer_writer_restarts", "Writer processes started again after one died.",
            value=writer["restarts"],
        )  # fmt: skip
        yield CounterMetricFamily(
            "meshcore_tracer_spans_lost", "Accepted spans that died with a writer process before commit.",
            value=writer["lost_spans"],
        )  # fmt: skip
