"""Self time, critical path, clock skew, stats and call graph on hand-built traces with known answers."""

from __future__ import annotations

from dashboard.traces import analysis
from dashboard.traces.model import Annotation
from tests.dashboard.traces.builders import chain, span, trace


def path(t) -> list[tuple[str, int, int]]:
    return [(t.spans[s.index].span_id, s.start_us, s.end_us) for s in analysis.critical_path(t)]


def selfs(t) -> dict[str, int]:
    return {s.span_id: v for s, v in zip(t.spans, analysis.self_times(t), strict=True)}


def test_nested_sequential_children():
    t = trace(
        span("A", None, 0, 100),
        span("C", "A", 50, 90),
        span("B", "A", 10, 40),
        span("D", "C", 60, 80),
    )
    assert [s.span_id for s in t.spans] == ["A", "B", "C", "D"]  # display order: depth first, by start
    assert [s.depth for s in t.spans] == [0, 1, 1, 2]
    assert selfs(t) == {"A": 30, "B": 30, "C": 20, "D": 20}
    assert path(t) == [
        ("A", 0, 10),
        ("B", 10, 40),
        ("A", 40, 50),
        ("C", 50, 60),
        ("D", 60, 80),
        ("C", 80, 90),
        ("A", 90, 100),
    ]
    assert analysis.critical_path_ids(t, analysis.critical_path(t)) == ["A", "B", "C", "D"]


def test_overlapping_children_only_the_last_finishing_blocks():
    t = trace(span("A", None, 0, 100), span("B", "A", 10, 70), span("C", "A", 20, 60))
    assert selfs(t) == {"A": 40, "B": 60, "C": 40}
    assert path(t) == [("A", 0, 10), ("B", 10, 70), ("A", 70, 100)]


def test_child_overrunning_its_parent_is_cut_at_the_parent_end():
    t = trace(span("A", None, 0, 100), span("B", "A", 50, 150), span("late", "A", 120, 130))
    assert path(t) == [("A", 0, 50), ("B", 50, 100)]
    assert selfs(t)["A"] == 50  # B covers 50..100 of A; `late` starts after A ended


def test_async_consumer_outliving_its_parent_is_not_on_the_path_and_not_moved():
    t = trace(
        span("A", None, 0, 50, service="orders", kind="SERVER"),
        span("P", "A", 10, 20, service="orders", kind="PRODUCER"),
        span("C", "P", 30, 200, service="billing", kind="CONSUMER"),
    )
    assert t.duration_us == 200
    assert path(t) == [("A", 0, 10), ("P", 10, 20), ("A", 20, 50)]
    assert selfs(t) == {"A": 40, "P": 10, "C": 170}
    adjusted = analysis.adjust_clock_skew(t)
    assert [(s.span_id, s.start_us, s.skew_us) for s in adjusted.spans] == [
        ("A", 0, 0),
        ("P", 10, 0),
        ("C", 30, 0),
    ]
    assert adjusted.warnings == []


def test_server_half_on_a_skewed_clock_is_centred_in_its_client_span_with_a_warning():
    t = trace(
        span("root", None, 0, 3000, service="productpage", kind="SERVER"),
        span("c", "root", 1000, 2000, service="productpage", kind="CLIENT"),
        span("s", "c", 400, 1200, service="reviews", kind="SERVER"),  # 600 µs early on its clock
        span("g", "s", 500, 900, service="reviews", kind="CLIENT"),
    )
    t.spans[2].annotations.append(Annotation(450, "sr"))
    adjusted = analysis.adjust_clock_skew(t)
    by_id = {s.span_id: s for s in adjusted.spans}
    # centred: (1000 - 800) // 2 = 100 µs of network time on each side
    assert (by_id["s"].start_us, by_id["s"].skew_us) == (1100, 700)
    assert (by_id["g"].start_us, by_id["g"].skew_us) == (1200, 700)  # the subtree moves with it
    assert by_id["s"].annotations[0].timestamp_us == 1150
    assert by_id["c"].skew_us == 0
    assert (
        len(adjusted.warnings) == 1 and "700 µs" in adjusted.warnings[0] and "reviews" in adjusted.warnings[0]
    )


def skewed_rpc(server_start: int, server_end: int, client_ip: str | None, server_ip: str | None):
    client = span("c", None, 1000, 2000, service="productpage", kind="CLIENT")
    server = span("s", "c", server_start, server_end, service="reviews", kind="SERVER")
    client.local_endpoint = {"serviceName": "productpage", **({"ipv4": client_ip} if client_ip else {})}
    server.local_endpoint = {"serviceName": "reviews", **({"ipv4": server_ip} if server_ip else {})}
    return trace(client, server)


def test_a_server_that_starts_early_on_another_host_is_moved_and_on_the_same_host_is_not():
    moved = analysis.adjust_clock_skew(skewed_rpc(400, 1200, "10.0.0.1", "10.0.0.2"))
    assert moved.spans[1].skew_us == 700 and len(moved.warnings) == 1
    # One IP, one clock (every sidecar of the local mesh): what was measured is what is shown.
    same = skewed_rpc(400, 1200, "192.0.2.2", "192.0.2.2")
    assert analysis.adjust_clock_skew(same) is same and same.spans[1].skew_us == 0


def test_a_server_that_outlives_its_client_is_not_skew():
    # The client timed out at 2000 µs; the server went on until 2600 µs. Both clocks may be fine,
    # and the overrun is what the waterfall has to show.
    t = skewed_rpc(1010, 2600, "10.0.0.1", "10.0.0.2")
    assert analysis.adjust_clock_skew(t) is t and t.spans[1].start_us == 1010


def test_server_inside_its_client_is_left_alone():
    t = trace(
        span("c", None, 1000, 2000, service="a", kind="CLIENT"),
        span("s", "c", 1010, 1990, service="b", kind="SERVER"),
    )
    assert analysis.adjust_clock_skew(t) is t and t.spans[1].skew_us == 0


def test_a_50000_span_chain_needs_no_recursion():
    n = 50_000
    t = chain(n)
    assert t.spans[-1].depth == n - 1
    own = analysis.self_times(t)
    assert own[:3] == [2, 2, 2] and own[-1] == 2 * n - 2 * (n - 1)
    sections = analysis.critical_path(t)
    assert len(analysis.critical_path_ids(t, sections)) == n
    assert sum(s.end_us - s.start_us for s in sections) == t.duration_us
    stats = analysis.stats_table(t, own)
    assert len(stats) == n and sum(r["self_us"] for r in stats) == t.duration_us


def test_missing_parent_makes_a_root_with_a_warning():
    t = trace(span("A", None, 0, 10), span("orphan", "gone", 5, 8))
    assert [t.spans[i].span_id for i in t.roots] == ["A", "orphan"]
    assert any("never arrived" in w for w in t.warnings)
    assert path(t) == [("A", 0, 10), ("orphan", 5, 8)]


def test_stats_group_by_service_and_operation_with_self_time_percent():
    t = trace(
        span("A", None, 0, 100, service="front"),
        span("B", "A", 0, 25, service="back"),
        span("C", "A", 50, 75, service="back"),
    )
    t.spans[2].name = t.spans[1].name  # two calls of one operation
    rows = analysis.stats_table(t, analysis.self_times(t))
    assert rows == [
        {"service": "back", "operation": "op-B", "count": 2, "total_us": 50, "self_us": 50, "percent": 50.0},
        {
            "service": "front",
            "operation": "op-A",
            "count": 1,
            "total_us": 100,
            "self_us": 50,
            "percent": 50.0,
        },
    ]


def test_call_graph_counts_calls_between_services():
    t = trace(
        span("A", None, 0, 100, service="front"),
        span("B", "A", 0, 25, service="back"),
        span("C", "A", 50, 75, service="back"),
        span("D", "C", 55, 60, service="back"),
    )
    graph = analysis.call_graph(t)
    assert graph["nodes"] == [{"id": "front", "service": "front"}, {"id": "back", "service": "back"}]
    assert graph["edges"] == [{"source": "front", "target": "back", "count": 2}]


def test_parent_cycle_is_shown_not_lost():
    t = trace(span("A", None, 0, 10), span("x", "y", 1, 2), span("y", "x", 3, 4))
    assert sorted(s.span_id for s in t.spans) == ["A", "x", "y"]
    assert any("cycle" in w for w in t.warnings)
