"""Jaeger's trace JSON converts into the same model: services from processes, kinds from tags,
logs as annotations, and a FOLLOWS_FROM child that does not block its parent's critical path."""

from __future__ import annotations

import pytest

from dashboard.traces import analysis
from dashboard.traces.jaeger import to_trace

JAEGER_TRACE = {
    "traceID": "f00d" * 4,
    "processes": {"p1": {"serviceName": "frontend", "tags": []}, "p2": {"serviceName": "queue", "tags": []}},
    "warnings": None,
    "spans": [
        {
            "traceID": "f00d" * 4,
            "spanID": "0000000000000001",
            "operationName": "GET /order",
            "references": [],
            "startTime": 1_000,
            "duration": 100,
            "tags": [
                {"key": "span.kind", "type": "string", "value": "server"},
                {"key": "error", "type": "bool", "value": True},
            ],
            "logs": [{"timestamp": 1_050, "fields": [{"key": "event", "value": "retry"}]}],
            "processID": "p1",
        },
        {
            "traceID": "f00d" * 4,
            "spanID": "0000000000000002",
            "operationName": "publish",
            "references": [{"refType": "CHILD_OF", "traceID": "f00d" * 4, "spanID": "0000000000000001"}],
            "startTime": 1_010,
            "duration": 20,
            "tags": [{"key": "span.kind", "type": "string", "value": "client"}],
            "logs": [],
            "processID": "p1",
        },
        {
            "traceID": "f00d" * 4,
            "spanID": "0000000000000003",
            "operationName": "handle",
            "references": [{"refType": "FOLLOWS_FROM", "traceID": "f00d" * 4, "spanID": "0000000000000001"}],
            "startTime": 1_040,
            "duration": 500,
            "tags": [{"key": "http.status_code", "type": "int64", "value": 200}],
            "logs": [
                {
                    "timestamp": 1_100,
                    "fields": [{"key": "queue", "value": "orders"}, {"key": "n", "value": 3}],
                }
            ],
            "processID": "p2",
        },
    ],
}


def test_jaeger_trace_becomes_the_model():
    t = to_trace(JAEGER_TRACE)
    assert t.trace_id == "f00d" * 4
    assert [(s.span_id[-1], s.service, s.kind, s.depth) for s in t.spans] == [
        ("1", "frontend", "SERVER", 0),
        ("2", "frontend", "CLIENT", 1),
        ("3", "queue", None, 1),
    ]
    root, client, follower = t.spans
    assert root.error and root.tags["error"] == "true" and follower.tags["http.status_code"] == "200"
    assert [(a.timestamp_us, a.value) for a in root.annotations] == [(1_050, "retry")]
    assert [(a.timestamp_us, a.value) for a in follower.annotations] == [(1_100, "queue=orders n=3")]
    assert follower.follows_from and not client.follows_from
    assert t.duration_us == 540


def test_a_follows_from_child_does_not_block_its_parent():
    t = to_trace(JAEGER_TRACE)
    sections = [(t.spans[s.index].span_id[-1], s.start_us, s.end_us) for s in analysis.critical_path(t)]
    assert sections == [("1", 1_000, 1_010), ("2", 1_010, 1_030), ("1", 1_030, 1_100)]


def test_an_empty_jaeger_trace_is_refused():
    with pytest.raises(ValueError):
        to_trace({"traceID": "1", "spans": []})
