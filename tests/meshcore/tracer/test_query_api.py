"""The Zipkin v2 query API: every parameter, limits, lookback windows, 400s and 404s."""

from __future__ import annotations

import random
import time
from urllib.parse import urlencode

import pytest

from meshcore.tracer.model import loads
from meshcore.tracer.samples import DETAILS, GATEWAY, PRODUCTPAGE, RATINGS, REVIEWS, bookinfo_trace
from meshcore.tracer.validation import normalize_span
from tests.meshcore.tracer.conftest import ServedTracer, http

MINUTE_US = 60 * 1_000_000


@pytest.fixture
def data(tracer: ServedTracer) -> dict[str, object]:
    """Four traces: ok (10 min ago), ratings 500 (5 min ago), reviews v1 (2 h ago), custom (1 min ago)."""
    now_us = int(time.time() * 1_000_000)
    rng = random.Random(11)
    ok = bookinfo_trace(rng, now_us - 10 * MINUTE_US)
    failed = bookinfo_trace(rng, now_us - 5 * MINUTE_US, error=True)
    old = bookinfo_trace(rng, now_us - 120 * MINUTE_US, reviews_version="v1")
    custom = [
        {
            "traceId": "1111111111111111",
            "id": "2222222222222222",
            "name": "custom",
            "kind": "CLIENT",
            "timestamp": now_us - MINUTE_US,
            "duration": 5000,
            "localEndpoint": {"serviceName": "web"},
            "remoteEndpoint": {"serviceName": "db"},
            "annotations": [{"timestamp": now_us - MINUTE_US + 10, "value": "cache.miss"}],
            "tags": {"user": "alice", "http.method": "POST"},
        }
    ]
    tracer.store.write([normalize_span(span) for span in ok + failed + old + custom])
    # Let the writer's clock pass the link wait: web's client span to the uninstrumented db counts.
    tracer.store.write([], now_us=now_us + 2 * MINUTE_US)
    return {
        "now_ms": now_us // 1000,
        "ok": ok[0]["traceId"],
        "failed": failed[0]["traceId"],
        "old": old[0]["traceId"],
        "custom": "1111111111111111",
    }


def trace_ids(tracer: ServedTracer, **params: object) -> list[str]:
    reply = tracer.get("/api/v2/traces?" + urlencode(params))
    assert reply.status == 200, reply.text
    return [trace[0]["traceId"] for trace in reply.json()]


def test_services_span_names_remote_services(tracer: ServedTracer, data: dict) -> None:
    assert tracer.get("/api/v2/services").json() == sorted(
        [GATEWAY, PRODUCTPAGE, DETAILS, REVIEWS, RATINGS, "web"]
    )
    assert tracer.get(f"/api/v2/spans?serviceName={REVIEWS}").json() == ["ratings:9080/*", "reviews:9080/*"]
    assert tracer.get("/api/v2/spans?serviceName=nobody").json() == []
    assert tracer.get("/api/v2/remoteServices?serviceName=web").json() == ["db"]
    for path in ("/api/v2/spans", "/api/v2/remoteServices", "/api/v2/autocompleteValues"):
        reply = tracer.get(path)
        assert reply.status == 400
        assert "parameter is required" in reply.text


def test_traces_default_window_limit_and_order(tracer: ServedTracer, data: dict) -> None:
    assert trace_ids(tracer) == [data["custom"], data["failed"], data["ok"], data["old"]]
    assert trace_ids(tracer, limit=2) == [data["custom"], data["failed"]]
    traces = tracer.get("/api/v2/traces?limit=1").json()
    assert len(traces) == 1 and all(span["traceId"] == data["custom"] for span in traces[0])


def test_traces_lookback_and_end_ts(tracer: ServedTracer, data: dict) -> None:
    now_ms = data["now_ms"]
    assert trace_ids(tracer, lookback=3_600_000) == [data["custom"], data["failed"], data["ok"]]
    assert trace_ids(tracer, endTs=now_ms - 90 * 60_000, lookback=3_600_000) == [data["old"]]
    assert trace_ids(tracer, endTs=now_ms - 7 * 60_000, lookback=600_000) == [data["ok"]]
    assert trace_ids(tracer, endTs=now_ms - 200 * 60_000) == []


def test_traces_by_service_span_name_and_remote_service(tracer: ServedTracer, data: dict) -> None:
    assert trace_ids(tracer, serviceName=RATINGS) == [data["failed"], data["ok"]]
    assert trace_ids(tracer, serviceName=REVIEWS, spanName="ratings:9080/*") == [data["failed"], data["ok"]]
    assert trace_ids(tracer, serviceName=RATINGS, spanName="details:9080/*") == []
    assert trace_ids(tracer, spanName="custom") == [data["custom"]]
    assert trace_ids(tracer, remoteServiceName="db") == [data["custom"]]
    assert trace_ids(tracer, serviceName="web", remoteServiceName="db") == [data["custom"]]
    assert trace_ids(tracer, serviceName="unknown") == []


def test_annotation_query(tracer: ServedTracer, data: dict) -> None:
    assert trace_ids(tracer, annotationQuery="http.status_code=500 and error") == [data["failed"]]
    assert trace_ids(tracer, serviceName=RATINGS, annotationQuery="http.status_code=500 and error") == [
        data["failed"]
    ]
    # The 500 is reported by ratings and reviews only: scoped to details it does not match.
    assert trace_ids(tracer, serviceName=DETAILS, annotationQuery="http.status_code=500") == []
    assert trace_ids(tracer, annotationQuery="error") == [data["failed"]]
    assert trace_ids(tracer, annotationQuery="cache.miss") == [data["custom"]]  # an annotation value
    assert trace_ids(tracer, annotationQuery="user=alice") == [data["custom"]]  # a non-indexed tag
    assert trace_ids(tracer, annotationQuery="user=bob") == []
    assert trace_ids(tracer, annotationQuery="http.method=POST and user") == [data["custom"]]
    assert trace_ids(tracer, annotationQuery="http.method=GET", lookback=3_600_000) == [
        data["failed"],
        data["ok"],
    ]


def test_duration_filters_in_microseconds(tracer: ServedTracer, data: dict) -> None:
    assert trace_ids(tracer, serviceName="web", minDuration=5000) == [data["custom"]]
    assert trace_ids(tracer, serviceName="web", minDuration=5001) == []
    assert trace_ids(tracer, serviceName="web", minDuration=1000, maxDuration=4999) == []
    assert trace_ids(tracer, serviceName=RATINGS, minDuration=2000, maxDuration=3000) == [
        data["failed"],
        data["ok"],
    ]
    assert trace_ids(tracer, minDuration=8000) == [data["failed"], data["ok"], data["old"]]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("maxDuration=10", "minDuration is required"),
        ("minDuration=10&maxDuration=5", "maxDuration should be >= minDuration"),
        ("minDuration=abc", "minDuration must be an integer"),
        ("limit=0", "limit must be greater than 0"),
        ("lookback=-1", "lookback must be greater than 0"),
        ("endTs=soon", "endTs must be an integer"),
        ("endTs=99999999999999999999", "endTs is too large"),
        ("minDuration=99999999999999999999", "minDuration is too large"),
    ],
)
def test_traces_bad_parameters_are_400(tracer: ServedTracer, query: str, message: str) -> None:
    reply = tracer.get(f"/api/v2/traces?{query}")
    assert reply.status == 400
    assert message in reply.text


def test_trace_by_id_and_trace_many(tracer: ServedTracer, data: dict) -> None:
    spans = tracer.get(f"/api/v2/trace/{data['failed']}").json()
    assert len(spans) == 8 and {span["traceId"] for span in spans} == {data["failed"]}
    assert tracer.get(f"/api/v2/trace/{data['failed'].upper()}").status == 200
    missing = tracer.get("/api/v2/trace/00000000000000ff")
    assert missing.status == 404 and "not found" in missing.text
    assert tracer.get("/api/v2/trace/xyz").status == 400
    assert tracer.get("/api/v2/trace/123").status == 400
    many = tracer.get(f"/api/v2/traceMany?traceIds={data['ok']},00000000000000ff,{data['custom']}").json()
    assert [trace[0]["traceId"] for trace in many] == [data["ok"], data["custom"]]
    assert tracer.get("/api/v2/traceMany").status == 400
    assert tracer.get("/api/v2/traceMany?traceIds=nothex").status == 400


def test_dependencies(tracer: ServedTracer, data: dict) -> None:
    now_ms = data["now_ms"]
    links = tracer.get(f"/api/v2/dependencies?endTs={now_ms}").json()
    assert links == [
        {"parent": GATEWAY, "child": PRODUCTPAGE, "callCount": 3, "errorCount": 0},
        {"parent": PRODUCTPAGE, "child": DETAILS, "callCount": 3, "errorCount": 0},
        {"parent": PRODUCTPAGE, "child": REVIEWS, "callCount": 3, "errorCount": 0},
        {"parent": REVIEWS, "child": RATINGS, "callCount": 2, "errorCount": 1},
        {"parent": "web", "child": "db", "callCount": 1, "errorCount": 0},
    ]
    recent = tracer.get(f"/api/v2/dependencies?endTs={now_ms}&lookback=3600000").json()
    assert {(link["parent"], link["child"]): link["callCount"] for link in recent}[
        (GATEWAY, PRODUCTPAGE)
    ] == 2
    assert tracer.get(f"/api/v2/dependencies?endTs={now_ms - 300 * 60_000}").json() != links
    assert tracer.get("/api/v2/dependencies").status == 400
    assert tracer.get("/api/v2/dependencies?endTs=abc").status == 400


def test_autocomplete(tracer: ServedTracer, data: dict) -> None:
    assert tracer.get("/api/v2/autocompleteKeys").json() == [
        "http.method",
        "http.status_code",
        "response_flags",
        "upstream_cluster",
    ]
    assert tracer.get("/api/v2/autocompleteValues?key=http.status_code").json() == ["200", "500"]
    assert tracer.get("/api/v2/autocompleteValues?key=http.method").json() == ["GET", "POST"]
    assert tracer.get("/api/v2/autocompleteValues?key=user").json() == []


def test_metrics_expose_store_and_query_latency(tracer: ServedTracer, data: dict) -> None:
    tracer.get("/api/v2/traces")
    text = tracer.get("/metrics").text
    assert "meshcore_tracer_store_spans 23.0" in text
    assert 'meshcore_tracer_query_duration_seconds_count{endpoint="traces"} 1.0' in text
    assert "meshcore_tracer_spans_written_total 23.0" in text
    assert "python_gc" not in text  # a private registry, not the global one


def test_head_of_a_trace_answers_whether_it_exists_without_a_body(tracer: ServedTracer, data: dict) -> None:
    known = http("HEAD", f"{tracer.url}/api/v2/trace/{data['ok'].upper()}")
    assert (known.status, known.body) == (200, b"")
    assert http("HEAD", f"{tracer.url}/api/v2/trace/{'9' * 16}").status == 404
    assert http("HEAD", f"{tracer.url}/api/v2/trace/nothex").status == 400


def test_trace_json_fast_path_answers_what_the_merge_gives(tracer: ServedTracer) -> None:
    """Whole spans are joined from storage; pieces and parentless server halves are merged."""
    now = int(time.time() * 1_000_000)
    whole = bookinfo_trace(random.Random(3), now - MINUTE_US, trace_id="ab" * 8)
    pieces = bookinfo_trace(random.Random(4), now - MINUTE_US, trace_id="cd" * 8)
    late = {
        "traceId": "cd" * 8,
        "id": pieces[2]["id"],
        "tags": {"late": "piece"},
        "localEndpoint": pieces[2]["localEndpoint"],
    }
    orphan_half = bookinfo_trace(random.Random(5), now - MINUTE_US, trace_id="ef" * 8)
    orphan_half[3].pop("parentId")  # the server half of a hop: it inherits its client's
    tracer.store.write([normalize_span(s) for s in whole + pieces + [late] + orphan_half])
    for trace_id in ("ab" * 8, "cd" * 8, "ef" * 8):
        fast = loads(tracer.store.get_trace_json(trace_id))
        merged = tracer.store.get_trace(trace_id)
        key = lambda s: (s["id"], bool(s.get("shared")))  # noqa: E731
        assert sorted(fast, key=key) == sorted(merged, key=key), trace_id
        assert [s["timestamp"] for s in fast] == sorted(s["timestamp"] for s in fast)
    assert tracer.store.get_trace_json("12" * 8) is None
    merged_piece = next(
        s
        for s in loads(tracer.store.get_trace_json("cd" * 8))
        if s["id"] == pieces[2]["id"] and not s.get("shared")
    )
    assert merged_piece["tags"]["late"] == "piece"
    server = next(
        s
        for s in loads(tracer.store.get_trace_json("ef" * 8))
        if s["id"] == orphan_half[3]["id"] and s.get("shared")
    )
    assert server["parentId"] == orphan_half[2]["parentId"]
