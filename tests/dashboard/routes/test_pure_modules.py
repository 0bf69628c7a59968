"""The routes app's pure modules: match syntax, what-if semantics, recorded requests, annotations."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.routes.annotations import route_annotations
from dashboard.routes.conditions import ConditionError, format_conditions, parse_conditions, parse_weights
from dashboard.routes.diffing import envoy_diffs, unified_diff
from dashboard.routes.impact import impact
from dashboard.routes.recorded import RecordedRequest, requests_from_traces
from dashboard.routes.whatif import NO_ROUTE, Workload, predict

WORKLOADS = [
    Workload(f"reviews-{v}", "reviews", v, {"app": "reviews", "version": v}) for v in ("v1", "v2", "v3")
]
RULE = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "DestinationRule",
    "metadata": {"name": "reviews"},
    "spec": {
        "host": "reviews",
        "subsets": [{"name": v, "labels": {"version": v}} for v in ("v1", "v2", "v3")],
    },
}


def vs(*http: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "reviews"},
        "spec": {"hosts": ["reviews"], "http": list(http)},
    }


def to(subset: str, **extra: Any) -> dict[str, Any]:
    return {"route": [{"destination": {"host": "reviews", "subset": subset}}], **extra}


def request(
    path: str = "/reviews/0", headers: dict | None = None, query: dict | None = None, method: str = "GET"
) -> RecordedRequest:
    return RecordedRequest("reviews", method, path, query or {}, headers or {})


def test_conditions_round_trip_through_the_form_text() -> None:
    text = "name canary\nuri prefix /api\nmethod exact POST\nheader x-canary present\nquery v exact 2\nignore-uri-case\n\nheader end-user regex ja.*"
    matches = parse_conditions(text)
    assert matches == [
        {
            "name": "canary",
            "uri": {"prefix": "/api"},
            "method": {"exact": "POST"},
            "headers": {"x-canary": {"regex": ".*"}},
            "queryParams": {"v": {"exact": "2"}},
            "ignoreUriCase": True,
        },
        {"headers": {"end-user": {"regex": "ja.*"}}},
    ]
    assert parse_conditions(format_conditions(matches)) == matches


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("header end-user", "line 1: missing operator"),
        ("header end-user equals jason", "line 1: unknown operator 'equals'"),
        ("uri prefix", "line 1: prefix needs a value"),
        ("cookie user exact jason", "line 1: unknown condition 'cookie'"),
        ("uri exact /a\nuri exact /b", "line 2: uri is already set"),
    ],
)
def test_bad_conditions_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ConditionError) as raised:
        parse_conditions(text)
    assert raised.value.messages[0].startswith(message)


def test_weights_syntax() -> None:
    assert parse_weights("v2", ["v1", "v2"]) == {"v2": None}
    assert parse_weights("v1=80, v3=20", ["v1", "v3"]) == {"v1": 80, "v3": 20}
    for bad, message in (
        ("v1=80 v3=10", "weights sum to 90"),
        ("v9", "unknown version 'v9'"),
        ("v1=x v2=100", "weight of v1"),
    ):
        with pytest.raises(ConditionError) as raised:
            parse_weights(bad, ["v1", "v2", "v3"])
        assert raised.value.messages[0].startswith(message)


def test_first_matching_rule_wins_and_weights_give_expected_shares() -> None:
    proposed = vs(
        to("v2", match=[{"headers": {"end-user": {"exact": "jason"}}}]),
        {
            "route": [
                {"destination": {"host": "reviews", "subset": "v1"}, "weight": 75},
                {"destination": {"host": "reviews", "subset": "v3"}, "weight": 25},
            ]
        },
    )
    requests = [request(headers={"end-user": "jason"})] * 3 + [request()] * 7
    result = predict("reviews", requests, proposed, {"reviews": RULE}, WORKLOADS)
    assert result.predicted == pytest.approx({"v2": 0.3, "v1": 0.525, "v3": 0.175})
    assert result.rule_hits == [3, 7]


def test_uri_method_query_regex_semantics_follow_envoy() -> None:
    proposed = vs(
        to(
            "v3",
            match=[
                {
                    "uri": {"regex": "/reviews/[0-9]+"},
                    "method": {"exact": "GET"},
                    "queryParams": {"v": {"exact": "3"}},
                }
            ],
        ),
        to("v2", match=[{"uri": {"prefix": "/REVIEWS"}, "ignoreUriCase": True}]),
    )
    cases = {
        "v3": request("/reviews/12", query={"v": "3"}),
        "v2": request("/reviews/12x", query={"v": "3"}),  # the regex must match the whole path
        NO_ROUTE: request("/other"),
    }
    for expected, replayed in cases.items():
        assert predict("reviews", [replayed], proposed, {"reviews": RULE}, WORKLOADS).predicted == {
            expected: 1.0
        }
    assert predict(
        "reviews",
        [request("/reviews/1", query={"v": "3"}, method="POST")],
        proposed,
        {"reviews": RULE},
        WORKLOADS,
    ).predicted == {"v2": 1.0}


def test_abort_and_no_virtual_service() -> None:
    proposed = vs(to("v1", fault={"abort": {"httpStatus": 500, "percentage": {"value": 40}}}))
    assert predict("reviews", [request()], proposed, {"reviews": RULE}, WORKLOADS).predicted == pytest.approx(
        {"aborted (500)": 0.4, "v1": 0.6}
    )
    even = predict("reviews", [request()] * 3, None, {}, WORKLOADS).predicted
    assert even == pytest.approx({"v1": 1 / 3, "v2": 1 / 3, "v3": 1 / 3})


def span(span_id: str, kind: str, tags: dict[str, str], ts: int = 1) -> dict[str, Any]:
    return {"traceId": "a" * 16, "id": span_id, "kind": kind, "timestamp": ts, "tags": tags}


def test_requests_come_from_client_spans_and_the_served_workload_from_the_server_half() -> None:
    client = span(
        "b" * 16,
        "CLIENT",
        {
            "upstream_cluster": "outbound|9080|v1|reviews.default.svc.cluster.local",
            "http.url": "http://reviews:9080/reviews/0?x=1",
            "http.method": "GET",
            "http.request.header.end-user": "jason",
        },
        ts=5,
    )
    server = span(
        "b" * 16, "SERVER", {"node_id": "sidecar~127.0.0.1~reviews-v2.default~default.svc.cluster.local"}
    )
    other = span(
        "c" * 16,
        "CLIENT",
        {
            "upstream_cluster": "outbound|9080||details.default.svc.cluster.local",
            "http.url": "http://details:9080/",
        },
    )
    [found] = requests_from_traces([[client, server, other]], "reviews")
    assert found == RecordedRequest(
        "reviews",
        "GET",
        "/reviews/0",
        {"x": "1"},
        {"end-user": "jason"},
        "reviews-v2",
        5,
        f"{'a' * 16}/{'b' * 16}",
    )
    assert RecordedRequest.from_dict(found.to_dict()) == found


def test_annotations_give_catch_all_weights_and_badges() -> None:
    document = vs(
        to(
            "v2",
            match=[{"headers": {"end-user": {"exact": "jason"}}}],
            fault={"delay": {"fixedDelay": "7s", "percentage": {"value": 100}}},
        ),
        {
            "route": [
                {"destination": {"host": "reviews", "subset": "v1"}, "weight": 90},
                {"destination": {"host": "reviews", "subset": "v3"}, "weight": 10},
            ],
            "timeout": "1s",
            "mirror": {"host": "reviews", "subset": "v3"},
        },
    )
    annotations = route_annotations([document], [RULE])
    assert annotations == {
        "reviews": {
            "badges": ["fault-delay", "mirror", "timeout"],
            "weights": {"v1": 90.0, "v3": 10.0},
            "matched": ["v2"],
            "rules": 2,
        }
    }


def test_envoy_diffs_show_only_changed_virtual_hosts() -> None:
    same = {"name": "details:9080", "routes": [{"name": "d"}]}
    change = {
        "proxies": ["productpage-v1"],
        "routes": {
            "9080": {
                "current": {"virtual_hosts": [same, {"name": "reviews:9080", "routes": [{"cluster": "a"}]}]},
                "proposed": {"virtual_hosts": [same, {"name": "reviews:9080", "routes": [{"cluster": "b"}]}]},
            }
        },
    }
    [diff] = envoy_diffs([change])
    text = "\n".join(line.text for line in diff.lines)
    assert "-- cluster: a" in text and "+- cluster: b" in text and "details" not in text
    assert unified_diff("a\n", "a\n") == []


def test_impact_averages_before_and_after() -> None:
    def snapshot(t: float, rps: float) -> dict[str, Any]:
        return {
            "taken_at": t,
            "nodes": [{"id": "svc:reviews", "kind": "service"}],
            "edges": [{"source": "wl:productpage-v1", "target": "svc:reviews", "rps": rps, "rps_2xx": rps}],
        }

    result = impact([snapshot(t, 5.0 if t < 100 else 9.0) for t in range(40, 160, 10)], "reviews", 100.0, 1)
    assert (
        result["before"]["inbound"]["all"]["rps"] == 5.0 and result["after"]["inbound"]["all"]["rps"] == 9.0
    )
    assert result["before"]["snapshots"] == 6 and result["after"]["snapshots"] == 5
