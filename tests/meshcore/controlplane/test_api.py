"""The resource API without Envoy: status codes and error bodies for good and bad input."""

from __future__ import annotations

import pytest

from tests.meshcore.controlplane.conftest import api_client
from tests.support.samples import reviews_weights, sample


@pytest.fixture
async def client(tmp_path):
    async with api_client(tmp_path) as (test_client, _control_plane):
        yield test_client


BAD_BODIES = [
    b"",
    b"\xff\xfe not utf-8",
    b"kind: [unclosed",
    b"null",
    b"[1, 2, 3]",
    b"just a string",
    b"apiVersion: networking.istio.io/v1\nkind: VirtualService\n",
    b"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec: [1]\n",
    b"apiVersion: networking.istio.io/v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n",
    b"apiVersion: v9\nkind: VirtualService\nmetadata: {name: UPPER}\nspec: {hosts: [reviews]}\n",
    b"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec: {hosts: [reviews], http: [{route: [{destination: {host: reviews}, weight: ten}]}]}\n",
    b"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec: {hosts: [reviews], http: [{timeout: -1s, route: [{destination: {host: reviews}}]}]}\n",
    b"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec: {hosts: [reviews], http: [{match: [{uri: {regex: '(a'}}], route: [{destination: {host: reviews}}]}]}\n",
    b"a: &a [*a]\n",
    b"[" * 5000 + b"]" * 5000,
]


@pytest.mark.parametrize("body", BAD_BODIES, ids=range(len(BAD_BODIES)))
async def test_bad_input_is_refused_with_field_errors_never_500(client, body):
    response = await client.post("/api/v1/apply", data=body)
    assert response.status in (400, 422), await response.text()
    payload = await response.json()
    assert payload["error"] and payload["errors"]
    assert all(error["message"] for error in payload["errors"])
    listed = await (await client.get("/api/v1/virtualservices")).json()
    assert listed["items"] == []


async def test_apply_get_and_yaml_round_trip(client):
    response = await client.post("/api/v1/apply", data=sample("destination-rule-all"))
    assert response.status == 200
    assert {item["action"] for item in (await response.json())["applied"]} == {"created"}
    response = await client.put("/api/v1/virtualservices/reviews", data=reviews_weights(v1=50, v3=50))
    assert response.status == 200
    as_yaml = await client.get("/api/v1/virtualservices/reviews", params={"format": "yaml"})
    assert as_yaml.content_type == "application/yaml"
    again = await client.post("/api/v1/apply", data=await as_yaml.text())
    assert (await again.json())["applied"][0]["action"] == "unchanged"


async def test_put_must_name_the_object_in_the_path(client):
    await client.post("/api/v1/apply", data=sample("destination-rule-all"))
    response = await client.put("/api/v1/virtualservices/ratings", data=reviews_weights(v1=100))
    assert response.status == 422
    assert (await response.json())["errors"][0]["path"] == "metadata.name"


async def test_deleting_a_rule_still_in_use_is_refused(client):
    await client.post("/api/v1/apply", data=sample("destination-rule-all"))
    await client.post("/api/v1/apply", data=reviews_weights(v3=100))
    response = await client.delete("/api/v1/destinationrules/reviews")
    assert response.status == 422
    assert "VirtualService/reviews" in (await response.json())["errors"][0]["message"]
    assert (await client.get("/api/v1/destinationrules/reviews")).status == 200


@pytest.mark.parametrize("wait", ["abc", "-1", "31", "nan"])
async def test_bad_wait_parameter_is_400(client, wait):
    response = await client.post("/api/v1/apply", params={"wait": wait}, data=reviews_weights(v1=100))
    assert response.status == 400
    assert "wait" in (await response.json())["error"]


@pytest.mark.parametrize("plural", ['pods"quoted', "x'y\\z"])
async def test_error_bodies_stay_json_whatever_the_input(client, plural):
    response = await client.get(f"/api/v1/{plural}")
    assert response.status == 404
    payload = await response.json()
    assert payload["error"].startswith("unknown resource type") and payload["errors"] == []
    response = await client.post("/api/v1/apply", params={"wait": '"}'}, data=reviews_weights(v1=100))
    assert response.status == 400
    assert (await response.json())["error"].startswith("wait:")
