"""The Jaeger trace source against a STAND-IN Jaeger (jaeger_standin.py): Jaeger cannot run on
this machine, so a small real HTTP server (127.0.0.1, free port) answers in the shapes Jaeger's
source defines (api_v3's HTTP gateway and the classic query API; see that module)."""

from __future__ import annotations

import json

import pytest

from dashboard.sources.errors import SourceError
from dashboard.sources.jaeger import (
    CLASSIC,
    JAEGER_CLASSIC,
    JAEGER_V3,
    V3,
    ZIPKIN,
    JaegerTraceSource,
    annotation_attributes,
    detect_trace_kind,
    rfc3339,
)
from dashboard.traces.zipkin import to_trace
from tests.dashboard.cluster.jaeger_standin import SPANS, START_US, TRACE_ID, stand_in_jaeger
from tests.support.ports import free_port
from tests.support.served_app import ServedApp


@pytest.fixture(params=["v3", "classic"])
def jaeger(request):
    app, seen = stand_in_jaeger(request.param)
    served = ServedApp(app)
    served.seen = seen
    served.api = request.param
    yield served
    served.stop()


def test_detects_the_api_and_reads_one_trace_as_zipkin_spans(jaeger):
    source = JaegerTraceSource(jaeger.url, 5.0)
    assert source.api == (V3 if jaeger.api == "v3" else CLASSIC)
    spans = source.trace(TRACE_ID)
    by_id = {s["id"]: s for s in spans}
    root, call, failing = (by_id[s[0]] for s in SPANS)
    assert root["localEndpoint"] == {"serviceName": "istio-ingressgateway"} and "parentId" not in root
    assert (root["kind"], call["kind"]) == ("SERVER", "CLIENT")
    assert call["parentId"] == root["id"] and failing["parentId"] == call["id"]
    assert (failing["timestamp"], failing["duration"]) == (START_US + 2_500, 3_000)
    assert failing["tags"]["error"] == "upstream 500" and failing["tags"]["http.status_code"] == "500"
    assert failing["annotations"] == [{"timestamp": START_US + 2_600, "value": "retry"}]
    # The trace explorer's model takes them as they are.
    trace = to_trace(spans)
    assert [(s.service, s.depth) for s in trace.spans] == [
        ("istio-ingressgateway", 0),
        ("productpage", 1),
        ("reviews", 2),
    ]


def test_both_apis_give_the_same_spans():
    answers = []
    for api in ("v3", "classic"):
        served = ServedApp(stand_in_jaeger(api)[0])
        try:
            answers.append(sorted(JaegerTraceSource(served.url, 5.0).trace(TRACE_ID), key=lambda s: s["id"]))
        finally:
            served.stop()
    assert answers[0] == answers[1]


def test_unknown_trace_is_404_and_exists_says_no(jaeger):
    source = JaegerTraceSource(jaeger.url, 5.0)
    with pytest.raises(SourceError) as raised:
        source.trace("0" * 31 + "1")
    assert raised.value.status == 404
    assert source.exists("0" * 31 + "1") is False and source.exists(TRACE_ID) is True
    assert [t[0]["traceId"] for t in source.trace_many([TRACE_ID, "0" * 31 + "1", TRACE_ID])] == [TRACE_ID]


def test_search_sends_the_window_durations_and_tags(jaeger):
    source = JaegerTraceSource(jaeger.url, 5.0)
    end_ms = START_US // 1000 + 60_000
    found = source.search(
        service="reviews",
        span_name="GET /ratings/0",
        annotation_query="http.status_code=500 and error",
        min_duration_us=1_000,
        max_duration_us=9_000,
        end_ts_ms=end_ms,
        lookback_ms=120_000,
        limit=5,
    )
    assert [t[0]["traceId"] for t in found] == [TRACE_ID]
    query = jaeger.seen[-1]
    if jaeger.api == "v3":
        assert query["query.serviceName"] == "reviews" and query["query.operationName"] == "GET /ratings/0"
        assert query["query.startTimeMin"] == rfc3339((end_ms - 120_000) * 1000)
        assert query["query.startTimeMax"] == rfc3339(end_ms * 1000)
        assert (query["query.durationMin"], query["query.durationMax"]) == ("1000us", "9000us")
        assert json.loads(query["query.attributes"]) == {"http.status_code": "500", "error": "true"}
        assert query["query.searchDepth"] == "5"
    else:
        assert (query["service"], query["operation"]) == ("reviews", "GET /ratings/0")
        assert (int(query["start"]), int(query["end"])) == ((end_ms - 120_000) * 1000, end_ms * 1000)
        assert (query["minDuration"], query["maxDuration"]) == ("1000us", "9000us")
        assert json.loads(query["tags"]) == {"http.status_code": "500", "error": "true"}


def test_a_search_without_match_is_empty_and_without_service_searches_every_service(jaeger):
    source = JaegerTraceSource(jaeger.url, 5.0, clock=lambda: START_US / 1e6 + 10)
    assert source.search(service="ratings") == []  # v3 answers 404 "No traces found"
    everywhere = source.traces(limit=10)  # each service finds the same trace: kept once
    assert [t[0]["traceId"] for t in everywhere] == [TRACE_ID]


def test_dependencies_in_zipkins_shape(jaeger):
    links = JaegerTraceSource(jaeger.url, 5.0).dependencies(end_ts_ms=START_US // 1000, lookback_ms=3_600_000)
    assert links == [{"parent": "productpage", "child": "reviews", "callCount": 7, "errorCount": 0}]
    assert jaeger.seen[-1] == {"endTs": str(START_US // 1000), "lookback": "3600000"}


def test_detect_trace_kind_tells_jaeger_from_zipkin(jaeger, tracer):
    assert detect_trace_kind(jaeger.url, 5.0) == (JAEGER_V3 if jaeger.api == "v3" else JAEGER_CLASSIC)
    assert detect_trace_kind(tracer.url, 5.0) == ZIPKIN  # the local tracer speaks Zipkin's API
    with pytest.raises(SourceError) as raised:
        detect_trace_kind(f"http://127.0.0.1:{free_port()}", 1.0)
    assert raised.value.unreachable


@pytest.mark.parametrize(
    ("query", "attributes"),
    [
        (None, {}),
        ("error", {"error": "true"}),
        ("http.status_code=500 and error", {"http.status_code": "500", "error": "true"}),
        (" a=b  and  c = d ", {"a": "b", "c": "d"}),
    ],
)
def test_annotation_attributes(query, attributes):
    assert annotation_attributes(query) == attributes


def test_rfc3339_has_nanoseconds_and_utc():
    assert rfc3339(1_764_590_000_123_456) == "2025-12-01T11:53:20.123456000Z"
