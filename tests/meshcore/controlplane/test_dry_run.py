"""The resource API's dry run (`dryRun=All`): same checks as an apply, nothing stored or pushed,
and the would-be Envoy route tables per group of proxies; warnings on apply; the revision probe."""

from __future__ import annotations

import pytest

from tests.meshcore.controlplane.conftest import api_client
from tests.support.samples import reviews_weights, sample

REVIEWS_HOST = "reviews.default.svc.cluster.local:9080"


@pytest.fixture
async def setup(tmp_path):
    async with api_client(tmp_path) as (client, control_plane):
        yield client, control_plane


def reviews_clusters(route_config: dict) -> list[str]:
    host = next(h for h in route_config["virtual_hosts"] if h["name"] == REVIEWS_HOST)
    action = host["routes"][0]["route"]
    if "cluster" in action:
        return [action["cluster"]]
    return [c["name"] for c in action["weighted_clusters"]["clusters"]]


async def test_dry_run_answers_the_route_change_and_stores_nothing(setup):
    client, control_plane = setup
    await client.post("/api/v1/apply", data=sample("destination-rule-all"))
    generation, revision = control_plane.generation, control_plane.store.revision
    response = await client.put(
        "/api/v1/virtualservices/reviews", params={"dryRun": "All"}, data=reviews_weights(v3=100)
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["dryRun"] is True
    assert body["applied"][0]["action"] == "created"
    assert body["applied"][0]["metadata"]["resourceVersion"] == str(revision + 1)
    # Every sidecar and the gateway share the outbound table of port 9080: one group, one change.
    [change] = [c for c in body["changes"] if c["routes"]]
    assert "reviews-v1" in change["proxies"] and "productpage-v1" in change["proxies"]
    table = next(name for name in change["routes"] if name == "9080")
    assert reviews_clusters(change["routes"][table]["current"]) == [
        "outbound|9080||reviews.default.svc.cluster.local"
    ]
    assert reviews_clusters(change["routes"][table]["proposed"]) == [
        "outbound|9080|v3|reviews.default.svc.cluster.local"
    ]
    # Nothing stored, nothing published.
    assert (await client.get("/api/v1/virtualservices/reviews")).status == 404
    assert (control_plane.generation, control_plane.store.revision) == (generation, revision)


async def test_dry_run_refuses_what_apply_refuses(setup):
    client, _ = setup
    await client.post("/api/v1/apply", data=sample("destination-rule-all"))
    response = await client.post(
        "/api/v1/apply", params={"dryRun": "All"}, data=reviews_weights(v1=50, v3=40)
    )
    assert response.status == 422
    assert (await response.json())["errors"] == [
        {"path": "spec.http[0].route", "message": "weights sum to 90, must be 100"}
    ]
    stale = reviews_weights(v1=100).replace("name: reviews\n", "name: reviews\n  resourceVersion: '99'\n")
    assert (await client.post("/api/v1/apply", params={"dryRun": "All"}, data=stale)).status == 409


async def test_dry_run_of_an_unchanged_object_changes_nothing(setup):
    client, _ = setup
    await client.post("/api/v1/apply", data=sample("destination-rule-all"))
    body = await (
        await client.post("/api/v1/apply", params={"dryRun": "All"}, data=sample("destination-rule-all"))
    ).json()
    assert {item["action"] for item in body["applied"]} == {"unchanged"}
    assert body["changes"] == []


async def test_bad_dry_run_value_is_400(setup):
    client, _ = setup
    response = await client.post("/api/v1/apply", params={"dryRun": "yes"}, data=reviews_weights(v1=100))
    assert response.status == 400
    assert (await response.json())["error"].startswith("dryRun:")


async def test_apply_answers_warnings_and_the_revision_moves(setup):
    client, _ = setup
    before = await (await client.get("/api/v1/revision")).json()
    body = await (await client.post("/api/v1/apply", data=sample("destination-rule-all"))).json()
    assert "DestinationRule/ratings.spec.subsets[1].labels" in {w["path"] for w in body["warnings"]}
    after = await (await client.get("/api/v1/revision")).json()
    assert int(after["resourceVersion"]) == int(before["resourceVersion"]) + 1
    listed = await (await client.get("/api/v1/destinationrules")).json()
    assert listed["metadata"]["resourceVersion"] == after["resourceVersion"]
