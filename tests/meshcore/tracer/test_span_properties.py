"""Property tests of span validation and OTLP/JSON decoding: any input, never a 500, never garbage kept."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from meshcore.tracer.model import dumps
from meshcore.tracer.otlp import OtlpDecodeError, TooManySpans, spans_from_otlp_json
from meshcore.tracer.validation import MAX_FUTURE_SKEW_S, normalize_batch
from tests.meshcore.tracer.conftest import ServedTracer, http

NOW = int(time.time() * 1_000_000)
DOCUMENTED_KEYS = {
    "traceId", "id", "parentId", "name", "kind", "timestamp", "duration", "debug", "shared",
    "localEndpoint", "remoteEndpoint", "annotations", "tags",
}  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
hex_ids = st.sampled_from([16, 32]).flatmap(
    lambda n: st.text("0123456789abcdefABCDEF", min_size=n, max_size=n)
)
micros = st.integers(min_value=-5, max_value=2**64) | st.integers(
    min_value=NOW - 10**9, max_value=NOW + 10**10
)
endpoints = st.fixed_dictionaries(
    {},
    optional={
        "serviceName": st.text(max_size=10) | json_values,
        "port": st.integers(-5, 70000) | json_values,
    },
)
span_like = st.fixed_dictionaries(
    {},
    optional={
        "traceId": hex_ids | json_values,
        "id": hex_ids | json_values,
        "parentId": hex_ids | json_values,
        "name": st.text(max_size=20) | json_values,
        "kind": st.sampled_from(["CLIENT", "SERVER", "PRODUCER", "CONSUMER", "OTHER"]) | json_values,
        "timestamp": micros | json_values,
        "duration": micros | json_values,
        "debug": json_values,
        "shared": json_values,
        "localEndpoint": endpoints | json_values,
        "remoteEndpoint": endpoints | json_values,
        "annotations": st.lists(
            st.fixed_dictionaries(
                {"timestamp": micros | json_values, "value": st.text(max_size=5) | json_values}
            ),
            max_size=3,
        )
        | json_values,
        "tags": st.dictionaries(st.text(max_size=8), json_values, max_size=4) | json_values,
    },
)


@given(st.lists(span_like | json_values, max_size=6))
@example([{"traceId": "0000000000000001", "id": "0000000000000001", "kind": []}])  # once a 500
@settings(max_examples=300, deadline=None)
def test_validation_never_raises_and_valid_spans_keep_the_contract(batch: list[Any]) -> None:
    valid, problems = normalize_batch(batch, check_unicode=True, now_micros=NOW)
    assert len(valid) + len(problems) == len(batch)
    latest = NOW + MAX_FUTURE_SKEW_S * 1_000_000
    for span in valid:
        assert set(span) <= DOCUMENTED_KEYS
        assert re.fullmatch(r"[0-9a-f]{16}([0-9a-f]{16})?", span["traceId"]) and span["traceId"].strip("0")
        assert re.fullmatch(r"[0-9a-f]{16}", span["id"])
        assert None not in span.values()
        assert span.get("timestamp", 0) + span.get("duration", 0) <= max(latest, span.get("duration", 0))
        assert all(a["timestamp"] <= latest for a in span.get("annotations", []))
        assert all(isinstance(v, str) for v in span.get("tags", {}).values())
        dumps(span).encode("utf-8")  # storable as it is
    for problem in problems:
        assert problem.field_error().path.startswith(f"span[{problem.index}]")


otlp_spans = st.fixed_dictionaries(
    {},
    optional={
        "traceId": hex_ids | json_values,
        "spanId": hex_ids | json_values,
        "parentSpanId": json_values,
        "name": json_values,
        "kind": st.integers(0, 6) | json_values,
        "startTimeUnixNano": st.integers(0, 2**70).map(str) | json_values,
        "endTimeUnixNano": st.integers(0, 2**70).map(str) | json_values,
        "attributes": st.lists(st.fixed_dictionaries({"key": json_values, "value": json_values}), max_size=2)
        | json_values,
        "events": st.lists(json_values | st.fixed_dictionaries({"attributes": json_values}), max_size=2),
        "status": json_values | st.fixed_dictionaries({"code": json_values, "message": json_values}),
    },
)
otlp_requests = (
    st.fixed_dictionaries(
        {
            "resourceSpans": st.lists(
                json_values
                | st.fixed_dictionaries(
                    {},
                    optional={
                        "resource": json_values | st.fixed_dictionaries({"attributes": json_values}),
                        "scopeSpans": json_values
                        | st.lists(
                            json_values
                            | st.fixed_dictionaries(
                                {},
                                optional={
                                    "scope": json_values,
                                    "spans": st.lists(otlp_spans | json_values, max_size=3),
                                },
                            ),
                            max_size=2,
                        ),
                    },
                ),
                max_size=2,
            )
            | json_values
        }
    )
    | json_values
)


@given(otlp_requests)
@settings(max_examples=300, deadline=None)
def test_every_otlp_json_shape_is_decoded_or_refused_by_name(request: Any) -> None:
    try:
        raw = spans_from_otlp_json(json.dumps(request).encode(), max_spans=100)
    except (OtlpDecodeError, TooManySpans):
        return
    normalize_batch(raw, check_unicode=True)


@given(otlp_requests)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_tracer_answers_every_otlp_json_shape_with_200_or_400(tracer: ServedTracer, request: Any) -> None:
    reply = http(
        "POST", f"{tracer.url}/v1/traces", json.dumps(request).encode(), {"Content-Type": "application/json"}
    )
    assert reply.status in (200, 400), reply.text
    if reply.status == 400:
        assert reply.json()["error"] and reply.json()["code"] == 3
