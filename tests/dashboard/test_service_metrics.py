"""Golden-signal series over a sliding window (dashboard.services.metrics), on known series."""

from __future__ import annotations

import pytest

from dashboard.services.metrics import RATE_WINDOW_S, combine, service_series, windowed, workload_series

VERSIONS = ("v1", "v2", "v3")


def node(version: str) -> dict:
    return {"id": f"wl:reviews-{version}", "kind": "workload", "service": "reviews", "version": version}


def snapshot(taken_at: float, counts: dict[str, int], interval_s: float | None = 1.0, **edge_fields) -> dict:
    """A map taken at `taken_at` in which each reviews version served counts[v] requests during
    the last `interval_s` seconds (rates are counts / interval, as the poll computes them)."""
    seconds = interval_s or 1.0
    edges = [
        {"source": "svc:reviews", "target": f"wl:reviews-{v}", "rps": n / seconds, "rps_2xx": n / seconds}
        | edge_fields
        for v, n in counts.items()
    ]
    edges.append(
        {"source": "wl:productpage-v1", "target": "svc:reviews", "rps": sum(counts.values()) / seconds}
    )
    return {
        "taken_at": taken_at,
        "interval_s": interval_s,
        "nodes": [{"id": "svc:reviews", "kind": "service"}, *(node(v) for v in VERSIONS)],
        "edges": edges,
    }


def round_robin(rps: int, seconds: int) -> list[dict]:
    """One-second polls of `rps` requests a second spread round-robin over three versions."""
    documents, sent = [], 0
    for second in range(1, seconds + 1):
        counts = dict.fromkeys(VERSIONS, 0)
        for _ in range(rps):
            counts[VERSIONS[sent % 3]] += 1
            sent += 1
        documents.append(snapshot(1000.0 + second, counts))
    return documents


def test_a_steady_5_rps_over_three_versions_is_flat_not_a_zig_zag():
    documents = round_robin(5, 60)
    per_poll = service_series(documents, "reviews", window_s=None)
    # What the charts showed before: each version alternates between 1 and 2 requests a second.
    assert set(per_poll["inbound"]["v1"]["rps"]) == {1.0, 2.0}

    series = service_series(documents, "reviews")
    assert series["window_s"] == RATE_WINDOW_S
    settled = int(RATE_WINDOW_S)  # from the first full window on
    for version in VERSIONS:
        rates = series["inbound"][version]["rps"][settled:]
        assert max(rates) - min(rates) <= 0.1 + 1e-9, (version, rates)
        assert sum(rates) / len(rates) == pytest.approx(5 / 3, abs=0.05)
    assert set(series["inbound"]["all"]["rps"]) == {5.0}


def test_a_step_ramps_over_the_window_like_prometheus_rate():
    quiet = [snapshot(100.0 + s, {"v1": 0}) for s in range(1, 11)]
    busy = [snapshot(110.0 + s, {"v1": 6}) for s in range(1, 21)]
    rates = service_series(quiet + busy, "reviews", window_s=10)["inbound"]["v1"]["rps"]
    assert rates[:10] == [0.0] * 10
    # One more busy second in the window each poll: 0.6, 1.2, ... 6.0, then 6 from there on.
    assert rates[10:20] == pytest.approx([0.6 * k for k in range(1, 11)])
    assert rates[20:] == [6.0] * 10


def test_the_window_divides_by_the_seconds_its_snapshots_cover():
    # Polls 2 s apart (or thinned): 4 requests in 2 s is 2/s, in every window.
    documents = [snapshot(200.0 + 2 * k, {"v1": 4}, interval_s=2.0) for k in range(10)]
    assert service_series(documents, "reviews", window_s=10)["inbound"]["v1"]["rps"] == [2.0] * 10
    # Without interval_s (the first poll after a restart) the gap to the previous snapshot counts.
    documents[3]["interval_s"] = None
    assert service_series(documents, "reviews", window_s=10)["inbound"]["v1"]["rps"][3] == 2.0


def test_errors_are_recomputed_from_the_window_counts_and_latency_is_request_weighted():
    samples = [
        (1.0, 1.0, None),
        (2.0, 1.0, {"rps": 4, "rps_2xx": 4, "rps_3xx": 0, "rps_4xx": 0, "rps_5xx": 0, "latency": {}}),
        (
            3.0,
            1.0,
            {
                "rps": 1,
                "rps_2xx": 0,
                "rps_3xx": 0,
                "rps_4xx": 0,
                "rps_5xx": 1,
                "latency": {"p95_ms": [100.0, 1.0, 100.0, 1]},
            },
        ),
    ]
    first, second, third = windowed(samples, 10)
    assert first == dict.fromkeys(first)  # no rate yet: every signal None
    assert (second["rps"], second["error_pct"], second["p95_ms"]) == (4.0, 0.0, None)
    # 5 requests in 2 s, one of them a 500: 2.5/s and 20 %, not the last poll's 100 %.
    assert (third["rps"], third["error_pct"], third["error_5xx_pct"]) == (2.5, 20.0, 20.0)
    assert third["p95_ms"] == 100.0


def test_latency_weights_each_poll_by_its_requests():
    slow = snapshot(1.0, {"v1": 1}, p95_ms=900.0)
    fast = snapshot(2.0, {"v1": 9}, p95_ms=100.0)
    series = service_series([slow, fast], "reviews", window_s=10)["inbound"]["v1"]["p95_ms"]
    assert series == [900.0, 180.0]  # (1*900 + 9*100) / 10


def test_outbound_of_a_version_that_calls_nobody_stays_empty():
    series = service_series(round_robin(5, 15), "reviews")
    assert series["outbound"]["v1"]["rps"] == [None] * 15


def test_workload_series_use_the_same_window():
    documents = round_robin(5, 30)
    series = workload_series(documents, "reviews-v2")
    rates = series["inbound"]["rps"][10:]
    assert max(rates) - min(rates) <= 0.1 + 1e-9
    assert series["window_s"] == RATE_WINDOW_S


def test_without_a_window_each_point_is_its_own_poll():
    documents = round_robin(5, 6)
    per_poll = service_series(documents, "reviews", window_s=None)["inbound"]["v1"]["rps"]
    assert per_poll == [
        combine(e for e in d["edges"] if e["target"] == "wl:reviews-v1")["rps"] for d in documents
    ]
    assert per_poll == [2.0, 2.0, 1.0, 2.0, 2.0, 1.0]
