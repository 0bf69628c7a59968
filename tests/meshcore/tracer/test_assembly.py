"""Trace assembly without HTTP: merging pieces and halves, the tree, clock skew, the summary,
and the dependency rule (the SQL in the store must agree with the in-memory linker)."""

from __future__ import annotations

import random
import time
from pathlib import Path

from meshcore.tracer.assembly import (
    SpanNode,
    adjusted_timestamp,
    build_tree,
    correct_clock_skew,
    merge_spans,
    summarize,
)
from meshcore.tracer.dependencies import link_spans
from meshcore.tracer.samples import GATEWAY, PRODUCTPAGE, RATINGS, REVIEWS, bookinfo_trace
from meshcore.tracer.store import TraceStore
from meshcore.tracer.validation import normalize_span


def test_pieces_merge_but_shared_halves_stay_apart() -> None:
    trace = "00000000000000a1"
    client = {"traceId": trace, "id": "00000000000000b1", "parentId": "00000000000000c1", "kind": "CLIENT",
              "timestamp": 100, "duration": 50, "localEndpoint": {"serviceName": "front"}}  # fmt: skip
    server = {"traceId": trace, "id": "00000000000000b1", "kind": "SERVER", "shared": True, "timestamp": 110,
              "duration": 30, "localEndpoint": {"serviceName": "back"}}  # fmt: skip
    late_piece = {"traceId": trace, "id": "00000000000000b1", "shared": True, "tags": {"error": "true"}}
    merged = merge_spans([server, client, late_piece, dict(client)])
    assert len(merged) == 2
    front, back = merged
    assert front == client
    assert back["tags"] == {"error": "true"} and back["kind"] == "SERVER"
    assert back["parentId"] == "00000000000000c1"  # inherited from the client half


def test_tree_and_summary_of_a_bookinfo_trace() -> None:
    spans = bookinfo_trace(random.Random(5), 1_000_000, error=True)
    roots = build_tree(merge_spans(spans))
    assert len(roots) == 1
    root = roots[0]
    assert root.span["localEndpoint"]["serviceName"] == GATEWAY and root.span["kind"] == "CLIENT"
    [productpage] = root.children
    assert productpage.span["localEndpoint"]["serviceName"] == PRODUCTPAGE and productpage.span["shared"]
    assert [c.span["localEndpoint"]["serviceName"] for c in productpage.children] == [
        PRODUCTPAGE,
        PRODUCTPAGE,
    ]
    summary = summarize(spans)
    assert summary.root_service == GATEWAY
    assert summary.span_count == 8
    assert summary.error is True
    assert summary.duration == 9000
    assert summary.timestamp == 1_000_000
    assert RATINGS in summary.services


def test_clock_skew_of_a_server_is_corrected() -> None:
    trace = "00000000000000a2"
    client = {"traceId": trace, "id": "00000000000000b2", "kind": "CLIENT", "timestamp": 1000, "duration": 100,
              "localEndpoint": {"serviceName": "front"}}  # fmt: skip
    # The server's clock runs 5 s behind: its half starts before its caller.
    server = {"traceId": trace, "id": "00000000000000b2", "kind": "SERVER", "shared": True,
              "timestamp": 1000 - 5_000_000 + 20, "duration": 60, "localEndpoint": {"serviceName": "back"}}  # fmt: skip
    child = {"traceId": trace, "id": "00000000000000c2", "parentId": "00000000000000b2", "kind": "CLIENT",
             "timestamp": 1000 - 5_000_000 + 30, "duration": 10, "localEndpoint": {"serviceName": "back"}}  # fmt: skip
    roots = build_tree(merge_spans([client, server, child]))
    correct_clock_skew(roots)
    [server_node] = roots[0].children
    [child_node] = server_node.children
    assert adjusted_timestamp(server_node) == 1020  # centred: (100 - 60) / 2 after the client start
    assert adjusted_timestamp(child_node) == 1030  # the server's subtree moves with it
    assert server["timestamp"] == 1000 - 5_000_000 + 20  # the spans themselves are untouched
    assert summarize([client, server, child]).duration == 100


def test_clock_skew_is_not_corrected_on_one_host_nor_for_a_server_that_outlives_its_client() -> None:
    trace = "00000000000000a3"

    def rpc(server_start: int, server_duration: int, server_ip: str) -> list[SpanNode]:
        client = {"traceId": trace, "id": "00000000000000b3", "kind": "CLIENT", "timestamp": 1000,
                  "duration": 100, "localEndpoint": {"serviceName": "front", "ipv4": "10.0.0.1"}}  # fmt: skip
        server = {"traceId": trace, "id": "00000000000000b3", "kind": "SERVER", "shared": True,
                  "timestamp": server_start, "duration": server_duration,
                  "localEndpoint": {"serviceName": "back", "ipv4": server_ip}}  # fmt: skip
        roots = build_tree(merge_spans([client, server]))
        correct_clock_skew(roots)
        return roots[0].children

    [early_elsewhere] = rpc(900, 60, "10.0.0.2")
    assert adjusted_timestamp(early_elsewhere) == 1020
    [early_here] = rpc(900, 60, "10.0.0.1")
    assert adjusted_timestamp(early_here) == 900
    [overrun] = rpc(1010, 400, "10.0.0.2")  # the client gave up at 1100; the server went on
    assert adjusted_timestamp(overrun) == 1010


def test_store_dependencies_agree_with_the_in_memory_linker(tmp_path: Path) -> None:
    now = int(time.time() * 1_000_000)
    rng = random.Random(9)
    traces = [
        bookinfo_trace(rng, now - i * 1000, error=i % 4 == 1, reviews_version=("v1", "v2")[i % 2])
        for i in range(40)
    ]
    # Non-shared B3 style (server is a child of the client span) and a client to an uninstrumented server.
    traces.append(
        [
            {
                "traceId": "00000000000000d1",
                "id": "00000000000000e1",
                "kind": "CLIENT",
                "timestamp": now,
                "duration": 9,
                "localEndpoint": {"serviceName": "a"},
                "tags": {"error": "true"},
            },
            {
                "traceId": "00000000000000d1",
                "id": "00000000000000e2",
                "parentId": "00000000000000e1",
                "kind": "SERVER",
                "timestamp": now,
                "duration": 5,
                "localEndpoint": {"serviceName": "b"},
            },
            {
                "traceId": "00000000000000d1",
                "id": "00000000000000e3",
                "parentId": "00000000000000e2",
                "kind": "CLIENT",
                "timestamp": now,
                "duration": 2,
                "localEndpoint": {"serviceName": "b"},
                "remoteEndpoint": {"serviceName": "cache"},
            },
        ]
    )
    store = TraceStore(tmp_path / "t.sqlite3", writer="inline")
    try:
        store.write([normalize_span(span) for trace in traces for span in trace])
        # A client span to an uninstrumented server counts once no server answered it for a minute.
        store.write([], now_us=now + 2 * 60 * 1_000_000)
        expected = link_spans(traces)
        assert store.dependencies(now // 1000 + 1000, 3_600_000) == expected
        by_pair = {(link["parent"], link["child"]): link for link in expected}
        assert by_pair[(REVIEWS, RATINGS)] == {
            "parent": REVIEWS,
            "child": RATINGS,
            "callCount": 20,
            "errorCount": 10,
        }
        assert by_pair[("a", "b")]["errorCount"] == 1
        assert by_pair[("b", "cache")]["callCount"] == 1
    finally:
        store.close()


def test_links_do_not_depend_on_arrival_order(tmp_path: Path) -> None:
    """Envoy's inbound sidecar often reports the server half before the caller's client half."""
    now = int(time.time() * 1_000_000)
    rng = random.Random(10)
    traces = [bookinfo_trace(rng, now - i * 1000, error=i % 3 == 0) for i in range(12)]
    servers = [normalize_span(s) for t in traces for s in t if s.get("shared")]
    clients = [normalize_span(s) for t in traces for s in t if not s.get("shared")]
    store = TraceStore(tmp_path / "t.sqlite3", writer="inline")
    try:
        for span in servers:  # one by one, as separate batches
            store.write([span])
        early = store.dependencies(now // 1000 + 1000, 3_600_000)
        # Calls made inside productpage resolve through their parent (productpage's server half);
        # the gateway's call waits for the gateway's client half.
        assert GATEWAY not in {link["parent"] for link in early}
        assert {link["parent"] for link in early} == {PRODUCTPAGE, REVIEWS}
        store.write(clients[: len(clients) // 2])
        store.write(clients[len(clients) // 2 :])
        assert store.dependencies(now // 1000 + 1000, 3_600_000) == link_spans(traces)
        assert {link["child"] for link in link_spans(traces)} == {
            PRODUCTPAGE,
            "details.default",
            REVIEWS,
            RATINGS,
        }
    finally:
        store.close()


def test_store_summarizes_a_stored_trace(tmp_path: Path) -> None:
    spans = bookinfo_trace(random.Random(12), int(time.time() * 1_000_000), error=True)
    store = TraceStore(tmp_path / "t.sqlite3", writer="inline")
    try:
        store.write([normalize_span(span) for span in spans])
        summary = store.trace_summary(spans[0]["traceId"])
        assert summary is not None
        assert (summary.root_service, summary.span_count, summary.error, summary.duration) == (
            GATEWAY,
            8,
            True,
            9000,
        )
        assert store.trace_summary("00000000000000ee") is None
    finally:
        store.close()
