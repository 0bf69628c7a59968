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
from tests.support.samples import reviews_weights, sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mesh


def virtual_service(http_route: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\n"
        f"spec:\n  hosts: [reviews]\n  http:\n  - {http_route}\n"
    )


def nested_aliases(levels: int = 9) -> str:
    """The "billion laughs": 9 aliases of 9 aliases ... (411 bytes stand for 9**9 strings)."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


HOSTILE_APPLIES = {
    "nested aliases": nested_aliases(),
    "recursive alias": "a: &a [*a]\n",
    "list as a mapping key": "? [1]: 2\n",
    "1,000-deep flow list": "[" * 1000 + "]" * 1000,
    "1,000-deep block list": "".join("  " * i + "-\n" for i in range(1000)),
    "regex of 1,000 nested groups": virtual_service(
        "match: [{uri: {regex: '"
        + "(" * 1000
        + "a"
        + ")" * 1000
        + "'}}]\n    route: [{destination: {host: reviews}}]"
    ),
    "20,000-digit duration": virtual_service(
        f"timeout: {'1' * 20_000}s\n    route: [{{destination: {{host: reviews}}}}]"
    ),
    "a million-item list": "[" + "1," * 1_000_000 + "1]",
    "10,000 documents": "kind: x\n---\n" * 10_000,
    "a 1 MB string": "spec: " + "x" * 1_000_000,
    "a 5,000-digit number": "spec: {weight: " + "9" * 5000 + "}",
}


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
