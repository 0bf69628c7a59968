"""Property tests of the resource API's apply path: any input, never a 5xx, never a partial apply.

Documents are Istio-shaped with random values spliced in at random places (and sometimes plain
random text or YAML tricks), sent over real HTTP to the real API with the time-bounded checker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshcore.bookinfo.topology import bookinfo_registry
from meshcore.controlplane.api import make_api
from meshcore.controlplane.checker import ProcessChecker
from meshcore.controlplane.service import ControlPlane
from meshcore.controlplane.store import ResourceStore
from tests.support.served_app import ServedApp

TOKEN = "property-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/yaml"}

scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=12)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
hosts = st.sampled_from(
    ["reviews", "ratings", "details", "productpage", "nope", "reviews.default.svc.cluster.local"]
)
subsets = st.sampled_from(["v1", "v2", "v3", "v9"])
durations = st.sampled_from(["1s", "0.5s", "100ms", "-1s", "5", "1" * 80 + "s", "1h2m3s"])
routes = st.lists(
    st.fixed_dictionaries(
        {"destination": st.fixed_dictionaries({"host": hosts}, optional={"subset": subsets})},
        optional={"weight": st.integers(-10, 120)},
    ),
    min_size=1,
    max_size=3,
)
http_routes = st.fixed_dictionaries(
    {"route": routes},
    optional={
        "timeout": durations,
        "match": st.lists(
            st.fixed_dictionaries(
                {"uri": st.sampled_from([{"prefix": "/"}, {"regex": "(a"}, {"regex": "(" * 40 + ")" * 40}])}
            ),
            max_size=2,
        ),
        "fault": st.fixed_dictionaries(
            {"abort": st.fixed_dictionaries({"httpStatus": st.integers(100, 700)})}
        ),
    },
)
virtual_services = st.fixed_dictionaries(
    {
        "apiVersion": st.just("networking.istio.io/v1"),
        "kind": st.just("VirtualService"),
        "metadata": st.fixed_dictionaries({"name": st.sampled_from(["reviews", "ratings", "Bad_Name", "x"])}),
        "spec": st.fixed_dictionaries(
            {"hosts": st.lists(hosts, min_size=1, max_size=2), "http": st.lists(http_routes, max_size=2)}
        ),
    }
)
destination_rules = st.fixed_dictionaries(
    {
        "apiVersion": st.just("networking.istio.io/v1"),
        "kind": st.just("DestinationRule"),
        "metadata": st.fixed_dictionaries({"name": st.sampled_from(["reviews", "ratings"])}),
        "spec": st.fixed_dictionaries(
            {
                "host": hosts,
                "subsets": st.lists(
                    st.fixed_dictionaries(
                        {"name": subsets, "labels": st.fixed_dictionaries({"version": subsets})}
                    ),
                    max_size=3,
                ),
            }
        ),
    }
)


@st.composite
def spliced(draw: st.DrawFn, documents: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A document with, sometimes, one random value replacing a random field."""
    document = draw(documents)
    if draw(st.booleans()):
        return document
    node: Any = document
    path = draw(
        st.lists(st.text(max_size=6) | st.sampled_from(["spec", "http", "route", "metadata"]), max_size=3)
    )
    for key in path[:-1]:
        child = node.get(key) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            break
        node = child
    if isinstance(node, dict):
        node[path[-1] if path else "spec"] = draw(values)
    return document


TRICKS = [
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
    "? [1]: 2\n",
    "a: &a [*a]\n",
    "[" * 200 + "]" * 200,
    "x: " + "9" * 5000,
    "--- !!python/object:os.system\n",
]
bodies = (
    st.lists(spliced(virtual_services) | spliced(destination_rules), min_size=1, max_size=4).map(
        lambda docs: yaml.safe_dump_all(docs)
    )
    | st.lists(spliced(virtual_services), min_size=1, max_size=3).map(json.dumps)
    | st.sampled_from(TRICKS)
    | st.text(max_size=200)
)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[ServedApp, ControlPlane]]:
    checker = ProcessChecker()
    store = ResourceStore(tmp_path_factory.mktemp("apply") / "resources.json")
    control_plane = ControlPlane(bookinfo_registry(), store, checker=checker)
    server = ServedApp(make_api(control_plane, token=TOKEN))
    yield server, control_plane
    server.stop()
    checker.close()


def stored(control_plane: ControlPlane) -> tuple[int, list[dict[str, Any]]]:
    return control_plane.store.revision, [r.to_dict() for r in control_plane.store.list()]


@given(body=bodies)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_apply_answers_every_body_with_200_or_a_field_error_and_never_half_applies(served, body: str) -> None:
    server, control_plane = served
    before = stored(control_plane)
    response = requests.post(f"{server.url}/api/v1/apply", data=body.encode(), headers=HEADERS, timeout=30)
    assert response.status_code in (200, 400, 409, 422), response.text
    payload = response.json()
    if response.status_code != 200:
        assert payload["error"] and payload["errors"], payload
        assert all(isinstance(e["path"], str) and e["message"] for e in payload["errors"])
        assert stored(control_plane) == before  # nothing at all was applied
        return
    now = {(r["kind"], r["metadata"]["name"]): r for r in stored(control_plane)[1]}
    for item in payload["applied"]:
        key = (item["kind"], item["metadata"]["name"])
        assert now[key]["spec"] == item["spec"]  # everything in the batch was applied
