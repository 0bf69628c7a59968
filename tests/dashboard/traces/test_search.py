"""Search parameters: durations, tags, lookback and custom windows, normalization, the live tail predicate."""

from __future__ import annotations

import random

import pytest

from dashboard.traces.search import (
    TraceFacts,
    format_duration,
    matches,
    parse_duration,
    parse_query,
    parse_tags,
)
from dashboard.traces.zipkin import to_trace
from meshcore.tracer.samples import PRODUCTPAGE, RATINGS, REVIEWS, bookinfo_trace

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


@pytest.mark.parametrize(
    ("text", "us"),
    [
        ("100ms", 100_000),
        ("1.2s", 1_200_000),
        ("250us", 250),
        ("250µs", 250),
        ("2m", 120_000_000),
        (".5s", 500_000),
        ("1d", 86_400_000_000),
    ],
)
def test_durations(text, us):
    assert parse_duration(text) == us
    assert parse_duration(format_duration(us)) == us


def test_duration_spelling_is_the_shortest():
    assert format_duration(1_200_000) == "1.2s"
    assert format_duration(100_000) == "100ms"
    assert format_duration(3_600_000_000) == "1h"
    assert format_duration(7) == "7us"


@pytest.mark.parametrize("text", ["12", "fast", "1.2.3s", "-1s", "1 parsec", ""])
def test_bad_durations_say_why(text):
    with pytest.raises(ValueError, match="unit"):
        parse_duration(text)


def test_tags_in_logfmt():
    assert parse_tags('http.status_code=500 error user="jason smith"') == [
        ("http.status_code", "500"),
        ("error", None),
        ("user", "jason smith"),
    ]


def test_normalized_query_round_trips_through_its_query_string():
    query, errors = parse_query(
        {
            "service": " reviews ",
            "tags": "error  http.status_code=500",
            "minDuration": "1000ms",
            "lookback": "60m",
            "limit": "50",
            "sort": "longest",
        },
        now_ms=NOW,
    )
    assert errors == []
    normalized = query.normalized()
    assert normalized == {
        "service": "reviews",
        "operation": "",
        "tags": "error http.status_code=500",
        "minDuration": "1s",
        "maxDuration": "",
        "lookback": "1h",
        "start": None,
        "end": None,
        "limit": 50,
        "sort": "longest",
        "q": "",
    }
    assert query.start_ms == NOW - 3_600_000 and query.end_ms == NOW
    again, errors = parse_query(
        dict(pair.split("=", 1) for pair in _unquote(query.query_string())), now_ms=NOW
    )
    assert errors == [] and again.normalized() == normalized
    assert "lookback" not in query.query_string()  # defaults stay out of shared links


def _unquote(qs: str) -> list[str]:
    from urllib.parse import unquote_plus

    return [unquote_plus(part) for part in qs.split("&")]


def test_custom_window_from_epoch_ms_or_iso():
    query, errors = parse_query(
        {"lookback": "custom", "start": "2025-12-31T23:00:00Z", "end": str(NOW)}, now_ms=NOW
    )
    assert errors == [] and (query.start_ms, query.end_ms) == (NOW - 3_600_000, NOW)
    assert query.normalized()["start"] == NOW - 3_600_000
    implied, errors = parse_query({"start": "2025-12-31T23:30:00"}, now_ms=NOW)  # naive = UTC; end = now
    assert errors == [] and implied.custom and implied.start_ms == NOW - 1_800_000 and implied.end_ms == NOW


def test_every_problem_is_reported_with_its_parameter():
    _, errors = parse_query(
        {"limit": "0", "sort": "x", "minDuration": "5s", "maxDuration": "1s", "lookback": "10d"}, now_ms=NOW
    )
    assert sorted(e.path for e in errors) == ["limit", "lookback", "maxDuration", "sort"]


def test_zipkin_prefilter_parameters():
    query, _ = parse_query(
        {"service": RATINGS, "operation": "op", "tags": "error http.status_code=500", "maxDuration": "2s"},
        now_ms=NOW,
    )
    assert query.zipkin_params() == {
        "endTs": NOW,
        "lookback": 3_600_000,
        "limit": 20,
        "serviceName": RATINGS,
        "spanName": "op",
        "annotationQuery": "error and http.status_code=500",
        "minDuration": 1,
        "maxDuration": 2_000_000,
    }


def test_matches_follows_zipkin_semantics_on_the_trace():
    rng = random.Random(5)
    failing = to_trace(bookinfo_trace(rng, 0, error=True))
    v1 = to_trace(bookinfo_trace(rng, 0, reviews_version="v1"))

    def q(**params):
        query, errors = parse_query(params, now_ms=NOW)
        assert errors == []
        return query

    assert matches(failing, q()) and matches(v1, q())
    assert matches(failing, q(service=RATINGS)) and not matches(v1, q(service=RATINGS))
    assert matches(failing, q(tags="error")) and not matches(v1, q(tags="error"))
    assert matches(failing, q(tags="http.status_code=500")) and not matches(
        failing, q(tags="http.status_code=404")
    )
    # with a service, tag conditions look at that service's spans only
    assert matches(failing, q(service=RATINGS, tags="http.status_code=500"))
    assert not matches(failing, q(service=PRODUCTPAGE, tags="http.status_code=500"))
    assert matches(v1, q(service=REVIEWS, operation="reviews:9080/*"))
    assert not matches(v1, q(service=PRODUCTPAGE, operation="ratings:9080/*"))
    assert matches(v1, q(minDuration="9ms", maxDuration="9ms")) and not matches(v1, q(minDuration="9.001ms"))
    assert not matches(v1, q(maxDuration="8ms"))
    facts = TraceFacts.from_dict(TraceFacts.of(failing).to_dict())
    assert facts == TraceFacts.of(failing)
    assert matches(facts, q(service=RATINGS, tags="error"))
