"""Retention: by span count (oldest traces first, never above the cap) and by age."""

from __future__ import annotations

import random
import time
from pathlib import Path

from meshcore.tracer.queries import parse_query_request
from meshcore.tracer.samples import bookinfo_trace
from meshcore.tracer.store import TraceStore
from meshcore.tracer.validation import normalize_span

HOUR_US = 3600 * 1_000_000


def _traces(count: int, start_us: int, step_us: int, seed: int = 1) -> list[list[dict]]:
    rng = random.Random(seed)
    return [[normalize_span(s) for s in bookinfo_trace(rng, start_us + i * step_us)] for i in range(count)]


def test_count_cap_deletes_oldest_traces_first(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.sqlite3", writer="inline", max_spans=400)
    try:
        now = int(time.time() * 1_000_000)
        traces = _traces(120, now - HOUR_US, 1_000_000)  # 960 spans, oldest first
        # Send newest batches too, in shuffled order: age order, not arrival order, decides.
        batches = [traces[i : i + 10] for i in range(0, len(traces), 10)]
        random.Random(3).shuffle(batches)
        for batch in batches:
            store.write([span for trace in batch for span in trace])
            assert store.span_count() <= 400
        kept = {trace[0]["traceId"] for trace in store.iter_all_traces()}
        assert 0 < len(kept) * 8 <= 400
        expected_newest = {trace[0]["traceId"] for trace in traces[-len(kept) :]}
        assert kept == expected_newest
        count = store._reader().execute("SELECT count(*) FROM spans").fetchone()[0]
        assert count == store.span_count()
        # The search index forgot the deleted traces (except index rows of spans that started after
        # the cutoff, swept by the next pass; queries never return their traces).
        indexed = {row[0] for row in store._reader().execute("SELECT DISTINCT trace_id FROM terms")}
        assert kept <= indexed and len(indexed - kept) <= 3
        found = store.find_traces(parse_query_request({"limit": "1000"}))
        assert {t[0]["traceId"] for t in found} == kept
    finally:
        store.close()


def test_age_retention_is_continuous(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.sqlite3", writer="inline", retention_hours=1)
    try:
        now = int(time.time() * 1_000_000)
        old = _traces(3, now - 3 * HOUR_US, 1000, seed=1)
        recent = _traces(3, now - 10 * 60 * 1_000_000, 1000, seed=2)
        # Written while still young: kept.
        store.write([s for t in old + recent for s in t], now_us=now - 2 * HOUR_US - 30 * 60 * 1_000_000)
        assert store.span_count() == 48
        # Time passes: the next write (any write) enforces retention.
        store.write([], now_us=now)
        store.write(_traces(1, now, 1, seed=3)[0], now_us=now)
        kept = {trace[0]["traceId"] for trace in store.iter_all_traces()}
        assert kept == {t[0]["traceId"] for t in recent} | {_traces(1, now, 1, seed=3)[0][0]["traceId"]}
        assert store.span_count() == 32
    finally:
        store.close()


def test_idle_writer_thread_enforces_age_retention(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.sqlite3", writer="thread", retention_hours=1)
    try:
        now = int(time.time() * 1_000_000)
        store.write(_traces(2, now - 2 * HOUR_US, 1000)[0], now_us=now - 2 * HOUR_US)
        assert store.span_count() == 8
        deadline = time.monotonic() + 10
        while store.span_count() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.span_count() == 0
    finally:
        store.close()


def test_store_is_durable_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    store = TraceStore(path, writer="thread")
    spans = _traces(1, int(time.time() * 1_000_000), 1)[0]
    assert store.submit(spans)
    store.close()
    reopened = TraceStore(path, writer="inline")
    try:
        assert reopened.span_count() == 8
        assert len(reopened.get_trace(spans[0]["traceId"])) == 8
    finally:
        reopened.close()
