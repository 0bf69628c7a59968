"""Reliability of `make run`: time to recover after a kill -9 of each part, gateway errors meanwhile,
and spans lost when the tracer's writer (or the tracer) is killed at 2,000 spans/s.

Recovery: the whole stack with the real mesh (tests/support/faults.py), steady gateway traffic at
10 requests/s; each part is killed 3 times; the figure is the median time until it runs again with
a new pid (and answers, for Daphne; for the control plane: its API answers and every Envoy has
reconnected to xDS), and the gateway errors are the median
per kill. Spans: a tracer service on its own; 20 POSTs/s of 100 spans (2,000 spans/s); after 3 s
the writer process (or the whole tracer) gets SIGKILL; lost = spans answered 202 that are not in
the database once the queue drained (a clean stop is measured too).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

from benchmarks.harness import Figure, median
from meshcore.tracer.model import dumps
from meshcore.tracer.samples import bookinfo_trace
from tests.support.faults import ALL_PARTS, FaultStack, GatewayTraffic, recover
from tests.support.ports import free_port
from tests.support.processes import start_process, stop_process
from tests.support.waiting import wait_until

ROUNDS = 3
SPANS_PER_POST = 100
POSTS_PER_S = 20


def recovery_figures(parts: tuple[str, ...] = ALL_PARTS) -> list[Figure]:
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as root:
        stack = FaultStack(Path(root))
        try:
            stack.wait_up()
            traffic = GatewayTraffic(stack.gateway_url + "/productpage").start()
            for part in parts:
                results = []
                for _ in range(ROUNDS):
                    results.append(recover(stack, traffic, part, timeout=90))
                    # Settle before the next kill: everything answers again.
                    wait_until(stack.gateway_ok, timeout=60, what="the gateway")
                    wait_until(lambda: all(stack.pid(p) for p in ALL_PARTS), timeout=60, what="all parts")
                seconds = median([r["seconds"] for r in results])
                errors = median([r["failed"] for r in results])
                target = "<= 30 s"
                figures.append(
                    Figure(
                        f"recovery after kill -9 of {part}",
                        seconds,
                        "s",
                        target,
                        seconds <= 30,
                        f"median of {ROUNDS}; runs "
                        + ", ".join(f"{r['seconds']:.1f}" for r in results)
                        + " s",
                    )
                )
                figures.append(
                    Figure(
                        f"gateway errors per kill of {part}",
                        errors,
                        "requests",
                        "0",
                        errors == 0,
                        f"10 req/s; per kill {[r['failed'] for r in results]}",
                    )
                )
            traffic.stop()
        finally:
            stack.stop()
    return figures


class SpanLoad:
    """POSTs of SPANS_PER_POST spans at POSTS_PER_S from a thread; counts the spans answered 202."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._rng = random.Random(7)

    def _body(self) -> bytes:
        spans: list[dict] = []
        while len(spans) < SPANS_PER_POST:
            spans.extend(bookinfo_trace(self._rng, int(time.time() * 1_000_000)))
        return dumps(spans[:SPANS_PER_POST]).encode()

    def _run(self) -> None:
        session = requests.Session()
        start = time.perf_counter()
        index = 0
        while not self._stop.is_set():
            delay = start + index / POSTS_PER_S - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            index += 1
            try:
                reply = session.post(
                    self.url, data=self._body(), headers={"Content-Type": "application/json"}, timeout=5
                )
                if reply.status_code == 202:
                    self.accepted += SPANS_PER_POST
            except requests.RequestException:
                pass

    def start(self) -> SpanLoad:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def stored_spans(db: Path) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute("SELECT count(*) FROM spans").fetchone()[0]


def spans_lost(root: Path, victim: str) -> int:
    """Spans answered 202 but not stored after a kill of `victim` (writer | tracer | clean stop)."""
    root.mkdir(parents=True, exist_ok=True)
    db = root / "traces.sqlite3"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_process(
        [sys.executable, "-m", "meshcore.tracer", "--port", str(port), "--db", str(db)], root / "tracer.log"
    )
    try:
        wait_until(lambda: requests.get(url + "/health", timeout=2).status_code == 200, timeout=60)
        writer = requests.get(url + "/health", timeout=2).json()["zipkin"]["details"]["writer"]["pid"]
        load = SpanLoad(url + "/api/v2/spans").start()
        time.sleep(3.0)  # steady load before the kill
        if victim == "writer":
            os.kill(writer, signal.SIGKILL)
            time.sleep(3.0)  # the new writer takes over under load
            load.stop()
            wait_until(
                lambda: requests.get(url + "/health", timeout=2).status_code == 200,
                timeout=60,
                what="writer back",
            )
            stop_process(process)  # clean stop: commits everything still queued
        elif victim == "tracer":
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            load.stop()
            # The orphaned writer commits what it received (EOF on its pipe) and exits.
            wait_until(lambda: not psutil.pid_exists(writer), timeout=60, what="the writer exits")
        else:
            load.stop()
            stop_process(process)
        return max(0, load.accepted - stored_spans(db))
    finally:
        stop_process(process)


def span_figures() -> list[Figure]:
    figures = []
    with tempfile.TemporaryDirectory(prefix="bench-reliability-spans-") as root:
        for victim, target in (("writer", "<= 2000 (1 s)"), ("tracer", "<= 2000 (1 s)"), ("clean stop", "0")):
            losses = [
                spans_lost(Path(root) / f"{victim}-{n}".replace(" ", "-"), victim) for n in range(ROUNDS)
            ]
            value = median(losses)
            limit = 0 if victim == "clean stop" else POSTS_PER_S * SPANS_PER_POST
            figures.append(
                Figure(
                    f"spans lost per {'kill -9 of the ' + victim if victim != 'clean stop' else victim} at 2,000 spans/s",
                    value,
                    "spans",
                    target,
                    value <= limit,
                    f"median of {ROUNDS}; runs {losses}",
                )
            )
    return figures


def run() -> list[Figure]:
    """Every figure; with BENCH_RELIABILITY_PARTS=a,b only the recovery of those parts."""
    chosen = [p for p in os.environ.get("BENCH_RELIABILITY_PARTS", "").split(",") if p]
    if chosen:
        unknown = set(chosen) - set(ALL_PARTS)
        if unknown:
            raise SystemExit(f"BENCH_RELIABILITY_PARTS: unknown parts {sorted(unknown)}; known: {ALL_PARTS}")
        return recovery_figures(tuple(chosen))
    return span_figures() + recovery_figures()
