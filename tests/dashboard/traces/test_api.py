"""The trace JSON API against the real tracer: shapes, search, bad input, unknown ids, a tracer that is down."""

from __future__ import annotations

import itertools
import json

import pytest

from meshcore.tracer.samples import PRODUCTPAGE, RATINGS, REVIEWS
from tests.dashboard.traces.conftest import bookinfo, now_us, post

pytestmark = pytest.mark.django_db

TRACE_A = "a1" * 8
TRACE_B = "b2" * 8


@pytest.fixture
def loaded(tracer):
    start = now_us() - 60_000_000
    spans = bookinfo(1, start, trace_id=TRACE_A, reviews_version="v1")
    spans += bookinfo(2, start + 1_000_000, trace_id=TRACE_B, error=True)
    post(tracer, spans)
    return tracer


def test_search_answers_summaries_in_the_contract_shape(viewer_client, loaded):
    answer = viewer_client.get("/api/traces", {"lookback": "15m"})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["source"] == {"ok": True, "error": None}
    assert body["query"]["lookback"] == "15m" and body["query"]["limit"] == 20
    assert [t["traceId"] for t in body["traces"]] == [TRACE_B, TRACE_A]  # most recent first
    b = body["traces"][0]
    assert set(b) == {
        "traceId",
        "rootService",
        "rootOperation",
        "start_us",
        "duration_us",
        "spanCount",
        "errorCount",
        "services",
        "statusCode",
        "url",
    }
    assert b["spanCount"] == 8 and b["errorCount"] == 2 and b["statusCode"] == 200
    assert b["url"] == f"/traces/{TRACE_B}/"
    assert {"name": RATINGS, "count": 1} in b["services"]


def test_search_filters_on_service_tags_duration_and_sorts(viewer_client, loaded):
    def ids(**params):
        answer = viewer_client.get("/api/traces", params)
        assert answer.status_code == 200, answer.content
        return [t["traceId"] for t in answer.json()["traces"]]

    assert ids(service=RATINGS) == [TRACE_B]
    assert ids(tags="http.status_code=500 error") == [TRACE_B]
    assert ids(tags="error") == [TRACE_B]
    assert ids(minDuration="9ms") == [TRACE_B, TRACE_A]
    assert ids(minDuration="10ms") == []
    assert ids(sort="spans") == [TRACE_B, TRACE_A]
    assert ids(sort="errors", limit="1") == [TRACE_B]
    assert ids(q=TRACE_A.upper()) == [TRACE_A]


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"minDuration": "fast"}, "minDuration"),
        ({"maxDuration": "12"}, "maxDuration"),
        ({"minDuration": "2s", "maxDuration": "1s"}, "maxDuration"),
        ({"lookback": "1m"}, "lookback"),
        ({"lookback": "3d"}, "lookback"),
        ({"lookback": "soon"}, "lookback"),
        ({"lookback": "custom"}, "start"),
        ({"lookback": "custom", "start": "yesterday"}, "start"),
        ({"lookback": "custom", "start": "2026-01-02T00:00:00", "end": "2026-01-01"}, "end"),
        ({"end": "1700000000000x", "start": "1"}, "end"),
        ({"start": "1700000000000", "lookback": "1h"}, "start"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"sort": "random"}, "sort"),
        ({"tags": 'user="unterminated'}, "tags"),
        ({"tags": "=500"}, "tags"),
        ({"service": "x" * 501}, "service"),
        ({"operation": "a\x00b"}, "operation"),
        ({"q": "y" * 600}, "q"),
    ],
)
def test_bad_search_parameters_answer_400_naming_the_parameter(viewer_client, tracer, params, path):
    answer = viewer_client.get("/api/traces", params)
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert path in [e["path"] for e in body["errors"]], body
    assert body["error"]


def test_trace_document_has_model_spans_analysis_and_flags(viewer_client, tracer):
    start = now_us() - 30_000_000
    spans = bookinfo(3, start, trace_id=TRACE_A)
    ratings_client = next(
        s for s in spans if s["kind"] == "CLIENT" and s["localEndpoint"]["serviceName"] == REVIEWS
    )
    ratings_client["tags"].update(
        {
            "response_flags": "DI",
            "meshscope.route.namespace": "default",
            "meshscope.route.name": "ratings",
            "meshscope.route.rule": "0",
        }
    )
    post(tracer, spans)
    answer = viewer_client.get(f"/api/traces/{TRACE_A}")
    assert answer.status_code == 200, answer.content
    doc = answer.json()
    assert set(doc) >= {
        "traceId",
        "start_us",
        "duration_us",
        "services",
        "spans",
        "criticalPath",
        "stats",
        "callGraph",
        "warnings",
    }
    assert doc["traceId"] == TRACE_A and len(doc["spans"]) == 8
    first = doc["spans"][0]
    assert first["parentId"] is None and first["depth"] == 0
    seen = set()
    for span in doc["spans"]:  # parents before children
        assert span["parentId"] is None or span["parentId"] in seen
        seen.add(span["spanId"])
    assert len(seen) == 8  # the shared server halves got their own ids
    flagged = next(s for s in doc["spans"] if s["flags"])
    assert flagged["flags"] == [{"code": "DI", "meaning": "the request was delayed by fault injection"}]
    assert flagged["route"] == {
        "namespace": "default",
        "name": "ratings",
        "rule": 0,
        "url": "/routes/virtualservices/default/ratings/",
    }
    assert flagged["spanId"] in doc["criticalPath"]
    assert doc["criticalPath"][0] == first["spanId"]
    assert {(e["source"], e["target"]) for e in doc["callGraph"]["edges"]} >= {
        (PRODUCTPAGE, REVIEWS),
        (REVIEWS, RATINGS),
    }
    assert sum(row["self_us"] for row in doc["stats"]) == doc["duration_us"]
    sections = doc["criticalSections"]
    assert sections[0][1] == doc["start_us"] and sections[-1][2] == doc["start_us"] + doc["duration_us"]
    assert all(a[2] == b[1] for a, b in itertools.pairwise(sections))  # contiguous, in order
    assert [sid for sid, _, _ in sections if sid == flagged["spanId"]]
    # The phases of the answer, in ms, for the browser's network panel.
    timing = dict(part.split(";dur=") for part in answer["Server-Timing"].split(", "))
    assert list(timing) == ["read", "model", "analysis", "json"]
    assert all(float(ms) >= 0 for ms in timing.values())


def test_download_gives_the_raw_zipkin_json(viewer_client, loaded):
    answer = viewer_client.get(f"/api/traces/{TRACE_A}", {"download": "zipkin"})
    assert answer.status_code == 200
    assert answer["Content-Disposition"] == f'attachment; filename="trace-{TRACE_A}.json"'
    spans = json.loads(answer.content)
    assert len(spans) == 6 and {s["traceId"] for s in spans} == {TRACE_A}
    bad = viewer_client.get(f"/api/traces/{TRACE_A}", {"download": "jaeger"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "download"


def test_unknown_trace_is_404_and_malformed_id_400(viewer_client, tracer):
    unknown = viewer_client.get("/api/traces/" + "c3" * 8)
    assert unknown.status_code == 404 and "not found" in unknown.json()["error"]
    for bad in ("xyz", "0" * 16, "a" * 20):
        answer = viewer_client.get(f"/api/traces/{bad}")
        assert answer.status_code == 400, bad
        assert answer.json()["errors"][0]["path"] == "trace_id"


def test_compare_reports_structure_and_durations(viewer_client, loaded):
    answer = viewer_client.get("/api/traces/compare", {"a": TRACE_A, "b": TRACE_B})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["a"]["traceId"] == TRACE_A and body["b"]["traceId"] == TRACE_B
    assert body["onlyA"] == []
    # reviews v1 never calls ratings: both halves of that hop are only in B.
    assert [key.rsplit(" > ", 1)[-1] for key in body["onlyB"]] == [
        f"{REVIEWS}:ratings:9080/*",
        f"{RATINGS}:ratings:9080/*",
    ]
    assert all(set(row) == {"key", "a_us", "b_us", "diff_us"} for row in body["both"])
    missing = viewer_client.get("/api/traces/compare", {"a": TRACE_A, "b": "d4" * 8})
    assert missing.status_code == 404
    bad = viewer_client.get("/api/traces/compare", {"a": "nope"})
    assert bad.status_code == 400
    assert sorted(e["path"] for e in bad.json()["errors"]) == ["a", "b"]


def test_tracer_down_answers_503_with_the_reason(viewer_client, tracer_down):
    search = viewer_client.get("/api/traces")
    assert search.status_code == 503
    assert search.json()["source"]["ok"] is False and search.json()["source"]["error"]
    for url in (f"/api/traces/{TRACE_A}", f"/api/traces/compare?a={TRACE_A}&b={TRACE_B}"):
        answer = viewer_client.get(url)
        assert answer.status_code == 503, url
        assert "trace source unavailable" in answer.json()["error"]


def test_api_requires_login(client, tracer):
    assert client.get("/api/traces").status_code == 401
    assert client.get(f"/api/traces/{TRACE_A}").status_code == 401


def test_longest_is_the_longest_of_many_recent_traces_not_of_the_newest_few(viewer_client, tracer):
    start = now_us() - 120_000_000
    slow = bookinfo(50, start, trace_id="5a" * 8)
    for span in slow:
        span["duration"] *= 10
    spans = slow + [s for i in range(6) for s in bookinfo(60 + i, start + (i + 1) * 1_000_000)]
    post(tracer, spans)
    recent = viewer_client.get("/api/traces", {"limit": "2"}).json()["traces"]
    assert "5a" * 8 not in [t["traceId"] for t in recent]
    longest = viewer_client.get("/api/traces", {"limit": "2", "sort": "longest"}).json()["traces"]
    assert longest[0]["traceId"] == "5a" * 8 and len(longest) == 2
