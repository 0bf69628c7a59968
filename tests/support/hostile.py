"""Small inputs that once stalled or crashed the control plane (tests and benchmarks send them)."""

from __future__ import annotations


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


def hostile_span_uploads(now_micros: int) -> dict[str, tuple[str, bytes]]:
    """Name -> (tracer path, JSON body) of span uploads the tracer must refuse with a 4xx."""
    import json

    span = {"traceId": "463ac35c9f6413ad", "id": "a2fb4a1d1a96d312", "name": "get", "timestamp": now_micros}
    return {
        "5 MiB of empty span objects": ("/api/v2/spans", b"[" + b"{}," * (5 * 1024 * 1024 // 3 - 2) + b"{}]"),
        "a span ten years ahead": (
            "/api/v2/spans",
            json.dumps([{**span, "timestamp": now_micros + 10 * 365 * 24 * 3600 * 10**6}]).encode(),
        ),
        "timestamp + duration overflow": (
            "/api/v2/spans",
            json.dumps([{**span, "duration": 2**63 - 100}]).encode(),
        ),
        "5,000 bad spans": ("/api/v2/spans", json.dumps([{"traceId": "x"}] * 5000).encode()),
        "malformed OTLP/JSON": ("/v1/traces", b'{"resourceSpans": [{"scopeSpans": [{"spans": {}}]}]}'),
    }
