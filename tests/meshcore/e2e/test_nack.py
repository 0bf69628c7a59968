"""A config Envoy rejects (NACK) is reported with Envoy's own message; the last good config stays."""

from __future__ import annotations

import json
import random
import string

import pytest

from tests.support.samples import reviews_weights, sample
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mesh

# Valid for Python's re and for RE2's syntax, but RE2 compiles it to a program far larger than
# Envoy's default limit (re2.max_program_size.error_level = 100): Envoy refuses the route table.
_words = random.Random(7)
HUGE_REGEX = "^(" + "|".join("".join(_words.choices(string.ascii_lowercase, k=12)) for _ in range(60)) + ")$"


def header_regex_route(regex: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - match:
    - headers:
        end-user:
          regex: '{regex}'
    route:
    - destination: {{host: reviews, subset: v2}}
  - route:
    - destination: {{host: reviews, subset: v3}}
"""


def test_rejected_config_is_reported_by_status_and_traffic_keeps_flowing(clean_mesh):
    mesh = clean_mesh
    mesh.apply_ok(sample("destination-rule-all"))
    mesh.apply_ok(reviews_weights(v3=100))

    response = mesh.apply(header_regex_route(HUGE_REGEX))
    assert response.status_code == 200, response.text
    rejected = response.json()["sync"]["rejected"]
    assert rejected, "no proxy rejected the oversized regex"
    assert any("program size" in r["message"] for r in rejected), rejected

    status = mesh.cli("status")
    assert status.returncode == 0, status.stderr
    assert "NACK" in status.stdout and "program size" in status.stdout
    as_json = json.loads(mesh.cli("status", "-o", "json").stdout)
    productpage = next(n for n in as_json["nodes"] if n["name"] == "productpage-v1")
    assert productpage["nacked"] and "program size" in productpage["nack"]["message"]

    # The last good config (reviews -> v3) stays in force everywhere.
    assert set(mesh.versions_seen(10)) == {"v3"}

    # A good config afterwards is ACKed and clears the rejection.
    mesh.apply_ok(header_regex_route("^jason$"))
    wait_until(mesh.all_in_sync, timeout=10, what="every proxy ACKs the corrected config")
    assert set(mesh.versions_seen(5, user="jason")) == {"v2"}
    assert "NACK" not in mesh.cli("status").stdout
    recovered = next(n for n in mesh.status()["nodes"] if n["name"] == "productpage-v1")
    assert recovered["nack"] is None and "program size" in recovered["last_nack"]["message"]
