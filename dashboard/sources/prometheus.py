"""Prometheus HTTP API adapter: instant PromQL queries, and the mesh queries over Istio's metrics.

`PrometheusSource.query` runs one instant query (`GET /api/v1/query`) and returns its vector as
`Sample`s; every failure raises SourceError (`status` None when Prometheus gave no answer, else
its HTTP status; Prometheus's own `error` text is kept in the message). Each query's text, last
duration (seconds), series count, last error and times (epoch seconds) are kept per query name in
`queries()`, for the health page: users paste the PromQL into their own Prometheus.

`mesh_queries(window)` are the queries the map needs, in Kiali's style: one query per figure for
the whole mesh (summed by the labels that name an edge), never one per edge: the request rates,
and the latency buckets' rates from which `dashboard.topology.histogram` computes p50/p95/p99
(one rate() over the buckets instead of one per quantile); `query_all` sends them at once.
`LATEST_SCRAPE` is the cheap query that tells whether Prometheus can have a newer sample. Thread-safe: the query log is guarded by a lock; queries may run from several threads.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple
from urllib.parse import urlencode

import orjson

from dashboard.sources.errors import SourceError
from dashboard.sources.http import get_bytes

# The labels of istio_requests_total that name an edge and classify its requests.
REQUEST_LABELS = (
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_app",
    "source_version",
    "destination_service_name",
    "destination_service_namespace",
    "destination_workload",
    "destination_workload_namespace",
    "destination_version",
    "response_code",
    "response_flags",
    "connection_security_policy",
)
# Latency of a caller edge as its caller's sidecar measured it, of a workload edge as the
# workload's own sidecar did (the same split the Envoy path makes between outbound and inbound).
CALLER_LATENCY_LABELS = (
    "source_workload",
    "source_workload_namespace",
    "destination_service_name",
    "destination_service_namespace",
)
WORKLOAD_LATENCY_LABELS = ("destination_workload", "destination_workload_namespace")
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
# The newest scrape of any target (epoch seconds): every scrape writes `up` with the timestamp
# its samples get, one series per target, so this reads one sample per target, not per series.
LATEST_SCRAPE = "max(timestamp(up))"


class Sample(NamedTuple):
    """One series of an instant vector: its labels and value (NaN when Prometheus said NaN).
    A tuple, not a dataclass: answers hold tens of thousands of them."""

    labels: Mapping[str, str]
    value: float


@dataclass
class QueryRecord:
    """The last run of one named query (times epoch seconds, duration seconds)."""

    name: str
    promql: str
    last_run_at: float | None = None
    last_duration_s: float | None = None
    last_series: int | None = None
    last_success_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mesh_queries(window: str) -> dict[str, str]:
    """The PromQL of one map, by name: `requests` (requests/s by edge, code, flags and mTLS policy,
    both reporters) and `latency` (the rate of each latency bucket, by `le`, of caller edges from
    the source reporter and of workload edges from the destination reporter, joined with `or`:
    one query, one rate() per bucket series). `window` is a Prometheus duration (`1m`)."""
    return {"requests": requests_query(window), "latency": latency_query(window)}


def requests_query(window: str) -> str:
    """Requests/s of every edge by code, flags and mTLS policy, both reporters."""
    return f"sum by ({', '.join(REQUEST_LABELS)}) (rate(istio_requests_total[{window}]))"


def latency_query(window: str) -> str:
    """Bucket rates (requests/s by `le`, ms) of caller edges (source reporter) and workload edges
    (destination reporter), the inputs of `histogram_quantile` for both groupings."""
    bucket = "istio_request_duration_milliseconds_bucket"
    caller = (
        f'sum by (le, {", ".join(CALLER_LATENCY_LABELS)}) (rate({bucket}{{reporter="source"}}[{window}]))'
    )
    workload = (
        f"sum by (le, {', '.join(WORKLOAD_LATENCY_LABELS)}) "
        f'(rate({bucket}{{reporter="destination"}}[{window}]))'
    )
    return f"{caller} or {workload}"


def quantile_queries(window: str) -> dict[str, str]:
    """The same latencies computed by Prometheus (`histogram_quantile` per quantile): what users
    paste into their own Prometheus, and the reference the dashboard's computation is tested on."""
    queries = {}
    bucket = "istio_request_duration_milliseconds_bucket"
    for name, q in QUANTILES.items():
        caller = (
            f"histogram_quantile({q}, sum by (le, {', '.join(CALLER_LATENCY_LABELS)}) "
            f'(rate({bucket}{{reporter="source"}}[{window}])))'
        )
        workload = (
            f"histogram_quantile({q}, sum by (le, {', '.join(WORKLOAD_LATENCY_LABELS)}) "
            f'(rate({bucket}{{reporter="destination"}}[{window}])))'
        )
        queries[name] = f"{caller} or {workload}"
    return queries


def parse_vector(document: Any, where: str) -> list[Sample]:
    """The samples of an instant-query answer (`{"status": "success", "data": {"resultType":
    "vector", "result": [{"metric": {...}, "value": [t, "v"]}]}}`); SourceError for any other shape."""
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict) or document.get("status") != "success":
        raise SourceError(f"{where}: not a successful Prometheus answer")
    if data.get("resultType") != "vector":
        raise SourceError(f"{where}: expected a vector, got {data.get('resultType')!r}")
    samples = []
    append = samples.append  # tens of thousands of series per answer: no per-series lookups
    try:
        for series in data.get("result") or ():
            append(Sample(series.get("metric") or {}, float(series["value"][1])))
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        raise SourceError(f"{where}: a series without a numeric value") from None
    return samples


class PrometheusSource:
    """The Prometheus HTTP API at `base_url`; `timeout` (seconds) bounds each query, and is also
    sent as the query's own `timeout` so Prometheus stops evaluating when we stop waiting."""

    def __init__(self, base_url: str, timeout: float, clock: Callable[[], float] = time.time) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, QueryRecord] = {}

    def query(self, promql: str, name: str | None = None, at: float | None = None) -> list[Sample]:
        """Run one instant query (at epoch second `at`, default now) and record it under `name`
        (default: the PromQL itself)."""
        params: dict[str, Any] = {"query": promql, "timeout": f"{max(1, round(self.timeout * 1000))}ms"}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"{self.base_url}/api/v1/query?{urlencode(params)}"
        started_at, started = self.clock(), time.monotonic()
        try:
            body = get_bytes(url, self.timeout)
            try:
                document = orjson.loads(body)
            except orjson.JSONDecodeError as error:
                raise SourceError(f"GET {self.base_url}/api/v1/query: invalid JSON ({error})") from None
            samples = parse_vector(document, f"GET {self.base_url}/api/v1/query")
        except SourceError as error:
            self._record(name or promql, promql, started_at, time.monotonic() - started, error=str(error))
            raise
        self._record(name or promql, promql, started_at, time.monotonic() - started, series=len(samples))
        return samples

    def query_all(
        self, queries: Mapping[str, str], at: float | None = None
    ) -> tuple[dict[str, list[Sample]], dict[str, SourceError]]:
        """Run named queries concurrently at one evaluation time (default now, so all see the
        same data); Prometheus evaluates them in parallel. Returns (samples of the queries that
        answered, error of each that did not), by name; each outcome is also in `queries()`."""
        at = self.clock() if at is None else at
        names = list(queries)
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            futures = [pool.submit(self.query, queries[name], name, at) for name in names]
            wait(futures)
        results: dict[str, list[Sample]] = {}
        errors: dict[str, SourceError] = {}
        for name, future in zip(names, futures, strict=True):
            error = future.exception()
            if error is None:
                results[name] = future.result()
            elif isinstance(error, SourceError):
                errors[name] = error
            else:
                raise error
        return results, errors

    def queries(self) -> list[dict[str, Any]]:
        """The last run of every query, in the order they were first run."""
        with self._lock:
            return [record.to_dict() for record in self._records.values()]

    def _record(
        self,
        name: str,
        promql: str,
        at: float,
        duration_s: float,
        series: int | None = None,
        error: str | None = None,
    ) -> None:
        with self._lock:
            record = self._records.setdefault(name, QueryRecord(name=name, promql=promql))
            record.promql = promql
            record.last_run_at = at
            record.last_duration_s = round(duration_s, 6)
            if error is None:
                record.last_series = series
                record.last_success_at = at
            else:
                record.last_error = error
                record.last_error_at = at


def finite(value: float) -> float | None:
    """`value`, or None for NaN/±Inf (histogram_quantile answers NaN where no request was seen)."""
    return value if math.isfinite(value) else None


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(duration: str) -> float:
    """A simple Prometheus duration (`500ms`, `30s`, `1m`, `2h`) in seconds; ValueError otherwise."""
    for unit in ("ms", "s", "m", "h"):
        number = duration[: -len(unit)]
        if duration.endswith(unit) and number.isdigit():
            return int(number) * _DURATION_UNITS[unit]
    raise ValueError(f"not a Prometheus duration: {duration!r}")


def merge_records(before: list[dict[str, Any]] | None, now: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The query log of this run (`PrometheusSource.queries()`) over the one kept from earlier
    runs: a query that failed now keeps its last success, one that succeeded keeps its last error."""
    earlier = {record["name"]: record for record in before or ()}
    merged = []
    for record in now:
        old = earlier.get(record["name"], {})
        combined = dict(record)
        for key in ("last_success_at", "last_series", "last_error", "last_error_at"):
            if combined.get(key) is None and old.get(key) is not None:
                combined[key] = old[key]
        merged.append(combined)
    return merged
