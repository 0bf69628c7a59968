"""Span validation: every bad field is named, good spans are normalized as Zipkin does."""

from __future__ import annotations

import pytest

from meshcore.tracer.validation import SpanFieldError, normalize_batch, normalize_span

GOOD = {
    "traceId": "463ac35c9f6413ad",
    "id": "a2fb4a1d1a96d312",
    "name": "get /",
    "timestamp": 1,
    "duration": 2,
}


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"traceId": "463ac35c9f6413"}, "traceId", "16 or 32 hex"),
        ({"traceId": "463ac35c9f6413ad463ac35c9f6413ad00"}, "traceId", "16 or 32 hex"),
        ({"traceId": "zz3ac35c9f6413ad"}, "traceId", "16 or 32 hex"),
        ({"traceId": 12345}, "traceId", "must be a string"),
        ({"traceId": "0000000000000000"}, "traceId", "all zeros"),
        ({"id": "a2fb4a1d1a96d3"}, "id", "16 hex"),
        ({"id": "a2fb4a1d1a96d312a2fb4a1d1a96d312"}, "id", "16 hex"),
        ({"id": None}, "id", "must be a string"),
        ({"parentId": "xyz"}, "parentId", "16 hex"),
        ({"duration": -5}, "duration", "must not be negative"),
        ({"timestamp": -1}, "timestamp", "must not be negative"),
        ({"timestamp": 1.5}, "timestamp", "integer number of microseconds"),
        ({"timestamp": "123"}, "timestamp", "integer number of microseconds"),
        ({"kind": "SERVERX"}, "kind", "must be one of"),
        ({"tags": {"a": {"b": 1}}}, "tags.a", "must be a string"),
        ({"tags": ["a"]}, "tags", "must be an object"),
        ({"localEndpoint": {"port": 70000}}, "localEndpoint.port", "0..65535"),
        ({"annotations": [{"timestamp": 1}]}, "annotations[0].value", "non-empty string"),
        ({"shared": "yes"}, "shared", "true or false"),
    ],
)
def test_bad_field_is_named(change: dict, field: str, reason: str) -> None:
    with pytest.raises(SpanFieldError) as raised:
        normalize_span({**GOOD, **change})
    assert raised.value.field == field
    assert reason in raised.value.reason


def test_normalization_follows_zipkin() -> None:
    span = normalize_span(
        {
            **GOOD,
            "traceId": "463AC35C9F6413AD",
            "parentId": "",
            "duration": 0,
            "debug": False,
            "tags": {"http.status_code": 200, "error": True, "gone": None},
            "localEndpoint": {"serviceName": "frontend", "port": 0},
            "remoteEndpoint": {},
        }
    )
    assert span == {
        "traceId": "463ac35c9f6413ad",
        "id": "a2fb4a1d1a96d312",
        "name": "get /",
        "timestamp": 1,
        "tags": {"http.status_code": "200", "error": "true"},
        "localEndpoint": {"serviceName": "frontend"},
    }


def test_batch_keeps_valid_spans_and_reports_each_bad_one() -> None:
    batch = [GOOD, {**GOOD, "id": "bad"}, "not a span", {**GOOD, "id": "b2fb4a1d1a96d312"}]
    valid, problems = normalize_batch(batch)
    assert [span["id"] for span in valid] == ["a2fb4a1d1a96d312", "b2fb4a1d1a96d312"]
    assert [(p.index, p.field) for p in problems] == [(1, "id"), (2, "(span)")]
    assert (
        problems[0].message()
        == "span[1] traceId=463ac35c9f6413ad id=bad: field 'id': must be 16 hex characters, got 'bad'"
    )
