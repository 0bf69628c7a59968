"""Zipkin v2 -> model conversion, Envoy response flags and route tags in words, trace comparison."""

from __future__ import annotations

import random

import pytest

from dashboard.traces.compare import compare
from dashboard.traces.flags import FLAG_MEANINGS, explain_flags, route_rule
from dashboard.traces.zipkin import to_trace
from meshcore.tracer.samples import DETAILS, GATEWAY, PRODUCTPAGE, RATINGS, REVIEWS, bookinfo_trace


def test_bookinfo_trace_becomes_a_tree_of_unique_spans():
    spans = bookinfo_trace(random.Random(7), 1_000_000, trace_id="ab" * 8)
    t = to_trace(spans)
    assert t.trace_id == "ab" * 8 and len(t.spans) == 8
    assert len({s.span_id for s in t.spans}) == 8
    assert [(s.service, s.kind, s.depth) for s in t.spans] == [
        (GATEWAY, "CLIENT", 0),
        (PRODUCTPAGE, "SERVER", 1),
        (PRODUCTPAGE, "CLIENT", 2),
        (DETAILS, "SERVER", 3),
        (PRODUCTPAGE, "CLIENT", 2),
        (REVIEWS, "SERVER", 3),
        (REVIEWS, "CLIENT", 4),
        (RATINGS, "SERVER", 5),
    ]
    server = t.spans[1]
    assert server.shared and server.span_id == server.raw_id + "-server"
    assert server.parent_id == t.spans[0].span_id
    assert t.spans[2].parent_id == server.span_id  # calls hang under the half that executes them
    assert t.start_us == 1_000_000 and t.duration_us == 9000
    assert t.warnings == []


def test_pieces_of_one_span_are_merged_and_untimed_spans_still_show():
    base = {"traceId": "cd" * 8, "localEndpoint": {"serviceName": "a"}}
    spans = [
        {**base, "id": "1" * 16, "name": "root", "timestamp": 100, "duration": 50},
        {**base, "id": "1" * 16, "tags": {"late": "tag"}},
        {**base, "id": "2" * 16, "parentId": "1" * 16, "name": "child"},
    ]
    t = to_trace(spans)
    assert len(t.spans) == 2 and t.spans[0].tags == {"late": "tag"}
    assert t.spans[1].start_us == 100 and t.spans[1].duration_us == 0
    assert any("without a timestamp" in w for w in t.warnings)
    with pytest.raises(ValueError):
        to_trace([])


def test_response_flags_are_spelled_out():
    assert explain_flags({"response_flags": "-"}) == []
    assert explain_flags({}) == []
    assert explain_flags({"response_flags": "UT,URX"}) == [
        {"code": "UT", "meaning": FLAG_MEANINGS["UT"]},
        {"code": "URX", "meaning": FLAG_MEANINGS["URX"]},
    ]
    assert explain_flags({"response_flags": "ZZ"}) == [
        {"code": "ZZ", "meaning": "unknown Envoy response flag ZZ"}
    ]
    for code in (
        "DI",
        "FI",
        "UT",
        "URX",
        "UH",
        "UF",
        "NR",
        "RL",
        "UO",
        "LH",
        "LR",
        "UC",
        "UR",
        "UAEX",
        "RLSE",
        "DC",
        "DPE",
        "UMSDR",
        "OM",
        "DF",
        "SI",
        "IH",
        "NFCF",
    ):
        assert FLAG_MEANINGS[code]
    assert "fault injection" in FLAG_MEANINGS["DI"] and "delayed" in FLAG_MEANINGS["DI"]
    assert "aborted" in FLAG_MEANINGS["FI"] and "timeout" in FLAG_MEANINGS["UT"]


def test_route_rule_needs_all_three_tags():
    tags = {
        "meshscope.route.namespace": "default",
        "meshscope.route.name": "ratings",
        "meshscope.route.rule": "2",
    }
    assert route_rule(tags, lambda ns, name: f"/vs/{ns}/{name}") == {
        "namespace": "default",
        "name": "ratings",
        "rule": 2,
        "url": "/vs/default/ratings",
    }
    assert route_rule({**tags, "meshscope.route.rule": "x"}) is None
    assert route_rule({**tags, "meshscope.route.rule": "-1"}) is None
    assert route_rule({k: v for k, v in tags.items() if k != "meshscope.route.name"}) is None


def test_compare_finds_structure_and_duration_differences():
    rng = random.Random(3)
    v1 = to_trace(bookinfo_trace(rng, 0, reviews_version="v1", trace_id="a" * 16))
    v3 = to_trace(bookinfo_trace(rng, 0, reviews_version="v3", trace_id="b" * 16))
    slow = v3.spans[1]
    slow.duration_us += 500  # productpage's server half takes longer in B
    result = compare(v1, v3)
    assert result["onlyA"] == []
    assert [k.rsplit(" > ", 1)[-1] for k in result["onlyB"]] == [
        f"{REVIEWS}:ratings:9080/*",
        f"{RATINGS}:ratings:9080/*",
    ]
    assert result["onlyB"][0].startswith(
        f"{GATEWAY}:productpage:9080/* > {PRODUCTPAGE}:productpage:9080/* > "
    )
    top = result["both"][0]
    assert top["key"] == f"{GATEWAY}:productpage:9080/* > {PRODUCTPAGE}:productpage:9080/*"
    assert (top["diff_us"], top["b_us"] - top["a_us"]) == (500, 500)
    assert all(row["diff_us"] == 0 for row in result["both"][1:])
