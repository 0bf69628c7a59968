"""The real service (`python -m meshcore.tracer` as a subprocess): hostile input, flood, shutdown."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from meshcore.tracer.model import dumps
from meshcore.tracer.samples import bookinfo_trace
from meshcore.tracer.store import TraceStore
from tests.meshcore.tracer.conftest import Reply, http
from tests.support.ports import free_port
from tests.support.processes import log_tail, start_process, stop_process
from tests.support.waiting import wait_until


class Service:
    def __init__(self, tmp: Path, *extra: str) -> None:
        self.db = tmp / "state" / "traces.sqlite3"
        self.log = tmp / "tracer.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = start_process(
            [sys.executable, "-m", "meshcore.tracer", "--host", "127.0.0.1", "--port", str(self.port),
             "--db", str(self.db), *extra],
            self.log,
        )  # fmt: skip
        ready = f"tracer listening on http://127.0.0.1:{self.port}"
        wait_until(self._ready_line(ready), timeout=30, what="tracer ready line")

    def _ready_line(self, line: str):  # type: ignore[no-untyped-def]
        def check() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"tracer exited early:\n{log_tail(self.log)}")
            return self.log.exists() and line in self.log.read_text()

        return check

    def post(self, spans: list[dict] | bytes) -> Reply:
        body = spans if isinstance(spans, bytes) else dumps(spans).encode()
        return http("POST", f"{self.url}/api/v2/spans", body, {"Content-Type": "application/json"})

    def stored_spans(self) -> int:
        for line in http("GET", f"{self.url}/metrics").text.splitlines():
            if line.startswith("meshcore_tracer_store_spans "):
                return int(float(line.split()[1]))
        raise AssertionError("no store gauge")

    def pending(self) -> int:
        for line in http("GET", f"{self.url}/metrics").text.splitlines():
            if line.startswith("meshcore_tracer_ingest_queue_spans "):
                return int(float(line.split()[1]))
        raise AssertionError("no queue gauge")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = Service(tmp_path_factory.mktemp("tracer"), "--max-pending-spans", "3000")
    yield running
    stop_process(running.process)


def _now() -> int:
    return int(time.time() * 1_000_000)


def test_hostile_input_leaves_the_service_up_and_data_intact(service: Service) -> None:
    rng = random.Random(21)
    earlier = bookinfo_trace(rng, _now())
    assert service.post(earlier).status == 202
    path = f"/api/v2/trace/{earlier[0]['traceId']}"
    wait_until(lambda: http("GET", service.url + path).status == 200, what="earlier trace stored")

    text = dumps(bookinfo_trace(rng, _now()))
    truncated = service.post(text[:-7].encode())
    assert truncated.status == 400 and "malformed JSON" in truncated.json()["error"]
    wrong = service.post(
        [{**earlier[0], "id": "123"}, {**earlier[0], "traceId": "g" * 16}, {**earlier[0], "duration": -1}]
    )
    assert wrong.status == 400 and "rejected 3 of 3 spans" in wrong.json()["error"]

    # 10 MB of otherwise valid spans: refused as a whole (413), nothing half-stored.
    one_trace = len(dumps(bookinfo_trace(rng, _now())))
    big = [span for _ in range(11 * 1024 * 1024 // one_trace) for span in bookinfo_trace(rng, _now())]
    assert len(dumps(big)) >= 10 * 1024 * 1024
    before = service.stored_spans()
    reply = http(
        "POST", f"{service.url}/api/v2/spans", dumps(big).encode(), {"Content-Type": "application/json"}
    )
    assert reply.status == 413
    assert "larger than" in reply.json()["error"]
    assert service.process.poll() is None
    assert service.stored_spans() == before
    assert len(http("GET", service.url + path).json()) == len(earlier)


def test_span_flood_gets_202_or_503_and_nothing_is_lost_silently(service: Service) -> None:
    # One batch bigger than the whole queue could never be accepted: 413, not a 503 to retry forever.
    rng = random.Random(22)
    huge = [span for _ in range(400) for span in bookinfo_trace(rng, _now())]
    refused = service.post(huge)
    assert refused.status == 413 and "can never fit the write queue" in refused.json()["error"]

    wait_until(lambda: service.pending() == 0, what="queue drained")
    before = service.stored_spans()
    bodies = []
    for _ in range(300):
        batch = [span for _ in range(25) for span in bookinfo_trace(rng, _now())][:100]
        bodies.append(dumps(batch).encode())
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = Counter(pool.map(lambda body: service.post(body).status, bodies))
    assert set(statuses) <= {202, 503}, statuses
    assert statuses[202] > 0
    assert service.process.poll() is None
    # Every 202 is stored; every refused batch is refused as a whole.
    wait_until(lambda: service.pending() == 0, timeout=30, what="flood committed")
    assert service.stored_spans() == before + 100 * statuses[202]
    assert http("GET", f"{service.url}/api/v2/services").status == 200


def test_sigterm_commits_accepted_spans_and_exits_cleanly(tmp_path: Path) -> None:
    running = Service(tmp_path)
    spans = bookinfo_trace(random.Random(23), _now())
    try:
        assert running.post(spans).status == 202
    finally:
        running.process.send_signal(signal.SIGTERM)
        try:
            code = running.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            stop_process(running.process)
            raise
    assert code == 0, log_tail(running.log)
    store = TraceStore(running.db, writer="inline")
    try:
        assert len(store.get_trace(spans[0]["traceId"])) == len(spans)
    finally:
        store.close()
