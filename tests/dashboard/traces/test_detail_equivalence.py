"""The trace document computed over columns (dashboard.traces.analysis, service.trace_detail) is
byte for byte the one the previous span-by-span analysis (previous_detail.py) built, on large
generated traces and on one with every irregularity the converter handles."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from dashboard.traces import service
from dashboard.traces.zipkin import to_trace
from tests.dashboard.traces import previous_detail
from tests.support.largetrace import large_trace

START_US = 1_700_000_000_000_000


def route_url(namespace: str, name: str) -> str:
    return f"/routes/virtualservices/{namespace}/{name}/"


def irregular_trace(n: int, seed: int) -> list[dict[str, Any]]:
    """A large trace with shared server halves on skewed clocks, spans whose parent never arrived,
    untimed spans, annotations, PRODUCER/CONSUMER hops and route tags, all at random places."""
    rng = random.Random(seed)
    result: list[dict[str, Any]] = []
    for span in large_trace(n, START_US, seed=seed, fanout=3)[1]:
        span = dict(span, tags=dict(span["tags"]))
        draw = rng.random()
        if draw < 0.1 and "parentId" in span:
            span["kind"] = "CLIENT"
            server = dict(
                span,
                shared=True,
                kind="SERVER",
                localEndpoint={"serviceName": "remote.default"},
                timestamp=span["timestamp"] - rng.randint(0, 5000),  # early or inside its client
            )
            del server["parentId"]  # as Envoy reports a server half: the client's parent applies
            result.append(server)
        elif draw < 0.12:
            span["parentId"] = f"{rng.getrandbits(64) | 1:016x}"  # never arrives
        elif draw < 0.13:
            del span["timestamp"]
        elif draw < 0.2:
            span["annotations"] = [{"timestamp": span["timestamp"] + 5, "value": "sr"}]
        elif draw < 0.22:
            span["kind"] = rng.choice(["PRODUCER", "CONSUMER"])
        elif draw < 0.3:
            span["tags"].update(
                {
                    "meshscope.route.namespace": "default",
                    "meshscope.route.name": "reviews",
                    "meshscope.route.rule": "1",
                }
            )
        result.append(span)
    return result


def documents(raw: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    """(current, previous) trace documents of `raw` as the API serializes them."""
    current = service.trace_detail(to_trace(orjson.loads(orjson.dumps(raw))), route_url)
    previous = previous_detail.trace_detail(to_trace(orjson.loads(orjson.dumps(raw))), route_url)
    return orjson.dumps(current), orjson.dumps(previous)


@pytest.mark.parametrize("fanout", [2, 6, 40])
def test_large_trace_document_is_unchanged(fanout):
    current, previous = documents(large_trace(20_000, START_US, seed=fanout, fanout=fanout)[1])
    assert current == previous


def test_irregular_trace_document_is_unchanged():
    raw = irregular_trace(6000, seed=5)
    current, previous = documents(raw)
    document = orjson.loads(current)
    # The irregularities are there: several roots, skew corrections and async hops.
    assert any(w.startswith("clock skew") for w in document["warnings"])
    assert any("never arrived" in w for w in document["warnings"])
    assert sum(1 for s in document["spans"] if s["parentId"] is None) > 1
    assert any(s["kind"] == "CONSUMER" for s in document["spans"])
    assert current == previous
