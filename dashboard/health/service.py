"""The health report as the dashboard measures it: checks built from settings, supervisor files.

Thin Django glue around dashboard.health.report (the pure logic). Every probe has its own socket
timeout (MESHSCOPE_SOURCE_TIMEOUT) and the whole report waits at most MESHSCOPE_HEALTH_DEADLINE.
Last success / last error are remembered per dashboard process (`MEMORY`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from dashboard.health.report import (
    Check,
    CheckMemory,
    HealthReport,
    ProbeFailed,
    Supervision,
    merge_supervision,
    poll_freshness,
    run_checks,
)
from dashboard.sources import configured
from dashboard.sources.errors import SourceError
from dashboard.sources.http import get_bytes, get_json
from dashboard.sources.registry import MeshRegistry, parse_registry
from dashboard.topology.poll import envoy_targets
from dashboard.topology.state import redis_poll_state

MEMORY = CheckMemory()
# The yes/no probe (compose health checks) answers 200 when these are up.
ESSENTIAL = ("database", "redis")


def _redis_client():
    import redis

    timeout = settings.SOURCE_TIMEOUT_SECONDS
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)


def probe_database() -> str:
    """One query on the default database; the thread's connection is closed afterwards."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return connection.vendor
    finally:
        connection.close()


def probe_redis() -> str:
    client = _redis_client()
    try:
        client.ping()
        return "PONG"
    finally:
        client.close()


def probe_controlplane() -> str:
    answer = get_json(f"{settings.MESHCORE_API_URL.rstrip('/')}/healthz", settings.SOURCE_TIMEOUT_SECONDS)
    if not (isinstance(answer, dict) and answer.get("ok") is True):
        raise ProbeFailed(f"/healthz answered {json.dumps(answer)[:200]}")
    return "ok"


def probe_tracer() -> str:
    """The tracer's /health (Zipkin's shape): UP, or DOWN (503) while its span writer is down; the
    writer's details are under zipkin.details.writer."""
    try:
        answer = get_json(
            f"{settings.MESHCORE_TRACER_URL.rstrip('/')}/health", settings.SOURCE_TIMEOUT_SECONDS
        )
    except SourceError as error:
        if error.status == 503:
            raise ProbeFailed("status DOWN: the span writer is down (spans are refused or wait)") from None
        raise
    status = answer.get("status") if isinstance(answer, dict) else None
    details = (answer.get("zipkin") or {}).get("details") if isinstance(answer, dict) else None
    writer = details.get("writer") if isinstance(details, dict) else None
    restarts = writer.get("restarts") if isinstance(writer, dict) else None
    if status != "UP":
        raise ProbeFailed(f"status {status}")
    return "UP" + (f", writer restarts {restarts}" if restarts is not None else "")


def probe_prometheus() -> str:
    """Prometheus's readiness endpoint (`/-/ready`: 200 once its storage is loaded)."""
    get_bytes(f"{settings.PROMETHEUS_URL.rstrip('/')}/-/ready", settings.SOURCE_TIMEOUT_SECONDS)
    return "ready"


def telemetry_queries() -> list[dict]:
    """The query log the poller keeps when it reads Prometheus ([] otherwise, or without Redis)."""
    if settings.TELEMETRY_SOURCE != "prometheus":
        return []
    try:
        return list(redis_poll_state().load("prometheus_queries") or [])
    except Exception:
        return []


def probe_poller() -> str:
    """The Celery poller's heartbeat in Redis; without Redis, the age of the newest snapshot."""
    interval = settings.TOPOLOGY_POLL_INTERVAL_SECONDS
    try:
        last_poll = redis_poll_state().load("last_poll")
    except Exception as error:
        from dashboard.topology.snapshots import latest_snapshot

        try:
            snapshot = latest_snapshot()
        finally:
            connection.close()
        if snapshot is None:
            raise ProbeFailed(f"heartbeat unreadable ({error}) and no snapshot stored") from None
        last_poll = {"finished_at": snapshot.taken_at.timestamp()}
    return poll_freshness(last_poll, interval, time.time())


def known_registry() -> MeshRegistry | None:
    """The registry the poller saw last (Redis), else asked now; None when neither answers."""
    try:
        cached = redis_poll_state().load("registry")
        if cached:
            return parse_registry(cached)
    except Exception:
        pass
    try:
        return configured.registry_source().registry()
    except Exception:
        return None


def sidecar_checks(registry: MeshRegistry | None) -> list[Check]:
    envoy = configured.envoy_admin()

    def probe(address: str):
        def ready() -> str:
            state = envoy.ready(address)
            if state != "LIVE":
                raise ProbeFailed(f"state {state}")
            return f"LIVE ({address})"

        return ready

    if registry is None:
        return []
    return [Check(f"sidecar:{name}", "sidecar", probe(address)) for name, address in envoy_targets(registry)]


def essential_checks() -> list[Check]:
    return [
        Check("database", "dashboard", probe_database, essential=True),
        Check("redis", "dashboard", probe_redis, essential=True),
    ]


def all_checks() -> list[Check]:
    return [
        *essential_checks(),
        Check("poller", "dashboard", probe_poller),
        Check("controlplane", "source", probe_controlplane),
        Check("tracer", "source", probe_tracer),
        *([Check("prometheus", "source", probe_prometheus)] if settings.PROMETHEUS_URL else []),
        *sidecar_checks(known_registry()),
    ]


def supervision() -> Supervision:
    """Parts of every supervisor file in MESHSCOPE_SUPERVISOR_FILES; "not supervised" when none exists."""
    documents = []
    for name in settings.SUPERVISOR_FILES:
        path = Path(name)
        try:
            documents.append((str(path), json.loads(path.read_text())))
        except FileNotFoundError:
            documents.append((str(path), None))
        except (OSError, ValueError) as error:
            documents.append((str(path), error))
    return merge_supervision(documents)


def health_report(checks: list[Check] | None = None) -> HealthReport:
    """Measure now: every check (or `checks`), plus the supervisors' view of the parts."""
    deadline = settings.HEALTH_DEADLINE_SECONDS
    results = run_checks(all_checks() if checks is None else checks, deadline, memory=MEMORY)
    return HealthReport(
        generated_at=time.time(),
        checks=results,
        supervision=supervision(),
        telemetry_queries=telemetry_queries() if checks is None else [],
    )
