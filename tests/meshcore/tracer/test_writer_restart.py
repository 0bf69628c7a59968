"""The writer process dies (kill -9): /health says DOWN, the store starts a new writer, accepted
spans keep being stored, and what was lost is counted. A clean stop loses nothing."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

import meshcore.tracer.store as store_module
from meshcore.supervisor import RestartPolicy
from meshcore.tracer.samples import bookinfo_trace
from meshcore.tracer.store import TraceStore
from tests.meshcore.tracer.conftest import ServedTracer, http
from tests.meshcore.tracer.test_service import Service
from tests.support.processes import stop_process
from tests.support.waiting import wait_until


def now_us() -> int:
    return int(time.time() * 1_000_000)


def stored_ids(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT trace_id FROM traces")}


def test_health_is_down_while_the_writer_is_dead_and_up_once_restarted(tmp_path, monkeypatch):
    # A long backoff so the DOWN window is wide enough to observe (the default is 50 ms).
    monkeypatch.setattr(
        store_module, "WRITER_RESTARTS", RestartPolicy(initial_backoff_s=2.0, max_backoff_s=2.0, jitter=0.0)
    )
    store = TraceStore(tmp_path / "t.sqlite3", writer="process")
    served = ServedTracer(store)
    try:
        health = http("GET", f"{served.url}/health")
        writer = health.json()["zipkin"]["details"]["writer"]
        assert health.status == 200 and health.json()["status"] == "UP" and writer["pid"]
        os.kill(writer["pid"], signal.SIGKILL)
        down = wait_until(lambda: (r := http("GET", f"{served.url}/health")).status == 503 and r, timeout=10)
        assert down.json()["status"] == "DOWN" and down.json()["zipkin"]["details"]["writer"]["pid"] is None
        # Spans accepted while it is down wait in the queue and are written by the next writer.
        trace = bookinfo_trace(random.Random(1), now_us())
        assert served.post_spans(trace).status == 202
        up = wait_until(lambda: (r := http("GET", f"{served.url}/health")).status == 200 and r, timeout=30)
        details = up.json()["zipkin"]["details"]["writer"]
        assert details["restarts"] == 1 and details["pid"] not in (None, writer["pid"])
        assert details["last_exit"] == -signal.SIGKILL
        assert store.flush(30)
        assert served.get(f"/api/v2/trace/{trace[0]['traceId']}").status == 200
    finally:
        served.stop()
        store.close()


@pytest.fixture
def service(tmp_path: Path):
    running = Service(tmp_path)
    yield running
    stop_process(running.process)


def writer_pid(service: Service) -> int | None:
    return http("GET", f"{service.url}/health").json()["zipkin"]["details"]["writer"]["pid"]


def test_the_tracer_service_restarts_its_killed_writer_and_keeps_storing(service):
    rng = random.Random(2)
    before = [bookinfo_trace(rng, now_us()) for _ in range(20)]
    for trace in before:
        assert service.post(trace).status == 202
    wait_until(lambda: service.pending() == 0, timeout=30, what="the first traces committed")
    first = writer_pid(service)
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: writer_pid(service) not in (None, first), timeout=30, what="a new writer")
    after = [bookinfo_trace(rng, now_us()) for _ in range(20)]
    for trace in after:
        assert service.post(trace).status == 202
    wait_until(lambda: service.pending() == 0, timeout=30, what="the later traces committed")
    ids = stored_ids(service.db)
    # Committed spans survive the kill; spans accepted after it are stored by the new writer.
    assert {t[0]["traceId"] for t in before + after} <= ids
    health = http("GET", f"{service.url}/health").json()["zipkin"]["details"]["writer"]
    assert health["restarts"] == 1 and health["lost_spans"] == 0
    metrics = http("GET", f"{service.url}/metrics").text
    assert "meshcore_tracer_writer_restarts_total 1.0" in metrics
    assert "meshcore_tracer_writer_up 1.0" in metrics and "meshcore_tracer_spans_lost_total 0.0" in metrics
    assert service.process.poll() is None


def test_a_clean_stop_loses_no_accepted_span(service):
    rng = random.Random(3)
    traces = [bookinfo_trace(rng, now_us()) for _ in range(200)]
    for trace in traces:
        assert service.post(trace).status == 202
    # SIGTERM at once, with spans still queued: all of them are committed before exit.
    assert stop_process(service.process) == 0
    assert {t[0]["traceId"] for t in traces} <= stored_ids(service.db)


def test_a_writer_that_cannot_be_kept_running_fails_the_store(tmp_path, monkeypatch):
    """Budget spent: the store refuses spans (503 upstream) and says failed, so the tracer exits."""
    monkeypatch.setattr(store_module, "WRITER_RESTARTS", RestartPolicy(budget=0))
    store = TraceStore(tmp_path / "t.sqlite3", writer="process")
    try:
        os.kill(store.writer_state()["pid"], signal.SIGKILL)
        wait_until(lambda: store.failed, timeout=30, what="the store gives up")
        assert store.writer_state()["status"] == "DOWN"
        assert store.submit(bookinfo_trace(random.Random(4), now_us())) is False
    finally:
        store.close(timeout=5)
