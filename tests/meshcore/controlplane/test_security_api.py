"""The resource API's security side without Envoy: bad security input never 500, warnings on
apply, and the per-workload security view the dashboard reads."""

from __future__ import annotations

import pytest

from tests.meshcore.controlplane.conftest import api_client
from tests.support.samples import sample

PA = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\n"


@pytest.fixture
async def client(tmp_path):
    async with api_client(tmp_path) as (test_client, _control_plane):
        yield test_client


BAD_BODIES = [
    PA + "spec: {mtls: {mode: 7}}\n",
    PA + "spec: {mtls: [STRICT]}\n",
    PA + "spec: {portLevelMtls: {'0': {mode: STRICT}}, selector: {matchLabels: {app: x}}}\n",
    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x}\nspec: {rules: [{from: 3}]}\n",
    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x}\nspec: {rules: [{when: [{}]}]}\n",
    "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: x}\nspec: {configPatches: []}\n",
    "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: x}\n"
    "spec: {configPatches: [{applyTo: HTTP_FILTER, patch: {operation: INSERT_FIRST, value: {name: "
    "envoy.filters.http.local_ratelimit, typed_config: {'@type': nope}}}}]}\n",
    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews}\n"
    "spec: {host: reviews, trafficPolicy: {tls: {mode: ISTIO_MUTUAL, credentialName: x}}}\n",
]


@pytest.mark.parametrize("body", BAD_BODIES, ids=range(len(BAD_BODIES)))
async def test_bad_security_input_is_refused_with_field_errors_never_500(client, body):
    response = await client.post("/api/v1/apply", data=body.encode())
    assert response.status == 422, await response.text()
    payload = await response.json()
    assert payload["errors"] and all(e["path"].startswith("spec") for e in payload["errors"])
    for plural in ("peerauthentications", "authorizationpolicies", "envoyfilters", "destinationrules"):
        assert (await (await client.get(f"/api/v1/{plural}")).json())["items"] == []


async def test_security_resources_round_trip_with_namespaces(client):
    response = await client.post("/api/v1/apply", data=(PA + "spec: {mtls: {mode: STRICT}}\n").encode())
    assert response.status == 200
    assert (await response.json())["warnings"] == []
    got = await client.get("/api/v1/pa/default", params={"namespace": "istio-system", "format": "yaml"})
    assert "mode: STRICT" in await got.text()
    view = await (await client.get("/api/v1/security/workloads")).json()
    details = next(w for w in view["workloads"] if w["name"] == "details-v1")
    assert details["spiffe_id"] == "spiffe://cluster.local/ns/default/sa/bookinfo-details"
    assert details["mtls"] == {
        "mode": "STRICT",
        "level": "mesh",
        "source": "PeerAuthentication/istio-system/default",
    }
    assert details["certificate"]["not_after"] > details["certificate"]["not_before"]
    deleted = await client.delete("/api/v1/peerauthentications/default", params={"namespace": "istio-system"})
    assert deleted.status == 200


async def test_a_contradicting_apply_is_accepted_with_warnings(client):
    await client.post("/api/v1/apply", data=(PA + "spec: {mtls: {mode: STRICT}}\n").encode())
    plaintext = sample("destination-rule-all-mtls").replace("ISTIO_MUTUAL", "DISABLE")
    response = await client.post("/api/v1/apply", data=plaintext.encode())
    assert response.status == 200
    # Route checks warn too (BookInfo's undeployed subsets); the TLS contradictions are ours here.
    warnings = [w for w in (await response.json())["warnings"] if w["path"].endswith(".tls.mode")]
    assert {w["path"] for w in warnings} == {
        f"DestinationRule/{name}.spec.trafficPolicy.tls.mode"
        for name in ("productpage", "reviews", "ratings", "details")
    }
    assert all(w["message"].startswith("KIA0208: ") for w in warnings)
