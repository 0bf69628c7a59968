"""Small hostile inputs get their 4xx while the gateway keeps serving, the API keeps answering and a
valid change still reaches every Envoy; the tracer refuses its hostile inputs the same way."""

from __future__ import annotations

import gzip
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from meshcore.tracer.samples import bookinfo_trace
from tests.meshcore.e2e.gateway_watch import GatewayWatch
from tests.support.hostile import HOSTILE_APPLIES
from tests.support.samples import reviews_weights, sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mesh


@pytest.fixture
def pinned_to_v3(clean_mesh):
    clean_mesh.apply_ok(sample("destination-rule-all"))
    clean_mesh.apply_ok(reviews_weights(v3=100))
    return clean_mesh


def test_hostile_applies_are_refused_while_the_mesh_keeps_working(pinned_to_v3):
    mesh = pinned_to_v3
    before = mesh.session.get(f"{mesh.api_url}/api/v1/virtualservices/reviews", timeout=5).json()

    def attack(body: str) -> tuple[int, dict]:
        response = mesh.apply(body, wait=0)
        return response.status_code, response.json()

    with GatewayWatch(f"{mesh.gateway_url}/productpage") as watch, ThreadPoolExecutor(4) as pool:
        answers = pool.map(attack, HOSTILE_APPLIES.values())
        # While the hostile inputs are being checked, the API answers and a valid change is
        # pushed to every Envoy and acknowledged.
        assert mesh.status()["ready"]
        mesh.apply_ok(reviews_weights(v2=100))
        mesh.apply_ok(reviews_weights(v3=100))
        results = dict(zip(HOSTILE_APPLIES, answers, strict=True))
        wait_until(lambda: watch.ok >= 20, timeout=60, what="traffic through the gateway")
    for name, (status, payload) in results.items():
        assert status in (400, 422), (name, status, payload)
        assert payload["error"] and payload["errors"] and payload["errors"][0]["message"], name
    assert set(watch.statuses) == {200}, watch.statuses
    after = mesh.session.get(f"{mesh.api_url}/api/v1/virtualservices/reviews", timeout=5).json()
    assert after["spec"] == before["spec"]
    assert set(mesh.versions_seen(5)) == {"v3"}
    assert mesh.all_in_sync()


def post_json(url: str, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(
        url, data=body, headers={"Content-Type": "application/json", **(headers or {})}, timeout=30
    )


def test_hostile_spans_are_refused_and_the_tracer_keeps_serving(mesh):
    spans_url = f"{mesh.tracer_url}/api/v2/spans"
    now = int(time.time() * 1_000_000)
    span = bookinfo_trace(random.Random(11), now)[0]
    empty_objects = b"[" + b"{}," * (5 * 1024 * 1024 // 3 - 2) + b"{}]"
    assert post_json(spans_url, empty_objects).status_code == 413
    assert post_json(spans_url, gzip.compress(empty_objects), {"Content-Encoding": "gzip"}).status_code == 413
    future = {**span, "timestamp": now + 10 * 365 * 24 * 3600 * 1_000_000}
    overflow = {**span, "timestamp": now, "duration": 2**63 - 100}
    refused = post_json(spans_url, json.dumps([future, overflow]).encode())
    assert refused.status_code == 400
    assert [e["path"] for e in refused.json()["errors"]] == ["span[0].timestamp", "span[1].duration"]
    many_bad = post_json(spans_url, json.dumps([{"traceId": "x"}] * 5000).encode())
    assert many_bad.status_code == 400 and len(many_bad.json()["errors"]) <= 11
    for shape in ([], {"resourceSpans": {}}, {"resourceSpans": [{"scopeSpans": [{"spans": {}}]}]},
                  {"resourceSpans": [{"resource": []}]}, {"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": [1]}]}]}]}):  # fmt: skip
        reply = post_json(f"{mesh.tracer_url}/v1/traces", json.dumps(shape).encode())
        assert reply.status_code == 400, (shape, reply.text)
    assert requests.get(f"{mesh.tracer_url}/api/v2/services", timeout=5).status_code == 200
    assert post_json(spans_url, json.dumps([span]).encode()).status_code == 202
    trace = f"{mesh.tracer_url}/api/v2/trace/{span['traceId']}"
    wait_until(
        lambda: requests.get(trace, timeout=5).status_code == 200, timeout=20, what="a good span stored"
    )
