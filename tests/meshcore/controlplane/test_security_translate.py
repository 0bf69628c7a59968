"""Security translation: SDS secrets per proxy, filter chains per mode, auto mTLS, RBAC as Istio
builds it, the rate limit filter, and certificate rotation pushing only new secrets."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf import json_format

from meshcore.bookinfo.topology import bookinfo_registry
from meshcore.controlplane.builders.listeners import TracingSettings
from meshcore.controlplane.builders.proto import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, SECRET_TYPE
from meshcore.controlplane.ca import CertificateAuthority
from meshcore.controlplane.identities import WorkloadIdentities
from meshcore.controlplane.service import ControlPlane
from meshcore.controlplane.store import ResourceStore
from meshcore.controlplane.translate import translate
from meshcore.model.yaml_io import parse_documents
from tests.support.samples import sample

REGISTRY = bookinfo_registry()
DETAILS = REGISTRY.workload("details-v1")
REVIEWS = REGISTRY.workload("reviews-v1")


def as_dict(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def node(resources_yaml: str = "", workload=DETAILS) -> dict:
    resources = parse_documents(resources_yaml) if resources_yaml else []
    return translate(REGISTRY, resources, TracingSettings(enabled=False))[workload.node_id]


def inbound(resources_yaml: str = "", workload=DETAILS) -> dict:
    return as_dict(node(resources_yaml, workload)[LISTENER_TYPE]["virtualInbound"])


def mesh_wide(mode: str) -> str:
    return (
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        f"metadata: {{name: default, namespace: istio-system}}\nspec: {{mtls: {{mode: {mode}}}}}\n"
    )


def chains(listener: dict) -> list[tuple[str, str, bool]]:
    """(transport protocol matched, HCM stat prefix, requires a client certificate) per chain."""
    found = []
    for chain in listener["filter_chains"]:
        manager = chain["filters"][0]["typed_config"]
        socket = chain.get("transport_socket", {}).get("typed_config", {})
        found.append(
            (
                chain.get("filter_chain_match", {}).get("transport_protocol", ""),
                manager["stat_prefix"],
                socket.get("require_client_certificate", False),
            )
        )
    return found


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            "PERMISSIVE",
            [
                ("tls", "inbound_0.0.0.0_9080_mtls", True),
                ("raw_buffer", "inbound_0.0.0.0_9080_plaintext", False),
            ],
        ),
        ("STRICT", [("tls", "inbound_0.0.0.0_9080_mtls", True)]),
        ("DISABLE", [("", "inbound_0.0.0.0_9080_plaintext", False)]),
    ],
)
def test_inbound_filter_chains_follow_the_peer_authentication_mode(mode, expected):
    listener = inbound(mesh_wide(mode))
    assert chains(listener) == expected
    has_inspector = [f["name"] for f in listener.get("listener_filters", [])] == [
        "envoy.filters.listener.tls_inspector"
    ]
    assert has_inspector == (mode != "DISABLE")


def test_every_inbound_chain_forwards_the_callers_identity_to_the_app():
    for chain in inbound()["filter_chains"]:
        manager = chain["filters"][0]["typed_config"]
        assert manager["forward_client_cert_details"] == "SANITIZE_SET"
        assert manager["set_current_client_cert_details"] == {"uri": True}


def test_auto_mtls_sends_mtls_only_to_sidecars_that_accept_it():
    disabled_details = (
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: details}\n"
        "spec: {selector: {matchLabels: {app: details}}, mtls: {mode: DISABLE}}\n"
    )
    clusters = node(disabled_details, REVIEWS)[CLUSTER_TYPE]
    details = as_dict(clusters["outbound|9080||details.default.svc.cluster.local"])
    reviews = as_dict(clusters["outbound|9080||reviews.default.svc.cluster.local"])
    assert "transport_socket" not in details
    tls = reviews["transport_socket"]["typed_config"]
    assert tls["sni"] == "outbound_.9080_._.reviews.default.svc.cluster.local"
    sans = tls["common_tls_context"]["combined_validation_context"]["default_validation_context"]
    assert sans["match_typed_subject_alt_names"] == [
        {"san_type": "URI", "matcher": {"exact": "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"}}
    ]
    endpoints = as_dict(
        node(disabled_details, REVIEWS)[ENDPOINT_TYPE]["outbound|9080||details.default.svc.cluster.local"]
    )
    metadata = endpoints["endpoints"][0]["lb_endpoints"][0]["metadata"]
    assert metadata["filter_metadata"]["envoy.transport_socket_match"] == {"tlsMode": "disabled"}


def test_a_destination_rule_overrides_auto_mtls():
    plaintext = sample("destination-rule-all-mtls").replace("ISTIO_MUTUAL", "DISABLE")
    clusters = node(plaintext, REVIEWS)[CLUSTER_TYPE]
    assert all(
        "transport_socket" not in as_dict(c) for name, c in clusters.items() if name.startswith("outbound")
    )


REVIEWS_POLICIES = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: viewer}
spec:
  selector: {matchLabels: {app: reviews}}
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"], notNamespaces: [test]}
    to:
    - operation: {methods: [GET], paths: ["/reviews/*"], ports: ["9080"]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-jason}
spec:
  selector: {matchLabels: {app: reviews}}
  action: DENY
  rules:
  - when:
    - key: request.headers[end-user]
      values: [jason]
"""


def http_filters(listener: dict) -> list[dict]:
    return listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]


def test_authorization_policies_become_rbac_filters_as_istio_builds_them():
    filters = http_filters(inbound(REVIEWS_POLICIES, REVIEWS))
    assert [f["name"] for f in filters] == [
        "envoy.filters.http.rbac",
        "envoy.filters.http.rbac",
        "envoy.filters.http.router",
    ]
    deny, allow = (f["typed_config"] for f in filters[:2])
    assert (deny["rules"]["action"], deny["rules_stat_prefix"]) == ("DENY", "deny_")
    assert allow["rules"].get("action", "ALLOW") == "ALLOW" and allow["rules_stat_prefix"] == "allow_"
    jason = deny["rules"]["policies"]["ns[default]-policy[no-jason]-rule[0]"]
    assert jason["permissions"] == [{"header": {"name": "end-user", "string_match": {"exact": "jason"}}}]
    assert jason["principals"] == [{"any": True}]
    viewer = allow["rules"]["policies"]["ns[default]-policy[viewer]-rule[0]"]
    assert viewer["principals"] == [
        {
            "and_ids": {
                "ids": [
                    {
                        "authenticated": {
                            "principal_name": {
                                "exact": "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
                            }
                        }
                    },
                    {
                        "not_id": {
                            "authenticated": {"principal_name": {"safe_regex": {"regex": ".*/ns/test/.*"}}}
                        }
                    },
                ]
            }
        }
    ]
    assert viewer["permissions"] == [
        {
            "and_rules": {
                "rules": [
                    {"destination_port": REVIEWS.inbound_port},
                    {"header": {"name": ":method", "string_match": {"exact": "GET"}}},
                    {"url_path": {"path": {"prefix": "/reviews/"}}},
                ]
            }
        }
    ]


def test_an_allow_policy_without_rules_denies_everything():
    deny_all = (
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-all}\n"
        "spec: {selector: {matchLabels: {app: reviews}}}\n"
    )
    allow = http_filters(inbound(deny_all, REVIEWS))[0]["typed_config"]
    assert allow["rules"] == {}  # ALLOW (the default action) with no policy: nothing is allowed
    assert [f["name"] for f in http_filters(inbound(deny_all, DETAILS))] == ["envoy.filters.http.router"]


def test_the_rate_limit_envoy_filter_is_inserted_into_the_inbound_chain():
    limit = """
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: limit}
spec:
  workloadSelector: {labels: {app: details}}
  configPatches:
  - applyTo: HTTP_FILTER
    patch:
      operation: INSERT_BEFORE
      value:
        name: envoy.filters.http.local_ratelimit
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
          stat_prefix: rl
          token_bucket: {max_tokens: 5, tokens_per_fill: 5, fill_interval: 1s}
"""
    filters = http_filters(inbound(limit))
    assert [f["name"] for f in filters] == ["envoy.filters.http.local_ratelimit", "envoy.filters.http.router"]
    assert filters[0]["typed_config"]["token_bucket"]["max_tokens"] == 5
    assert [f["name"] for f in http_filters(inbound(limit, REVIEWS))] == ["envoy.filters.http.router"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def test_each_proxy_gets_its_own_certificate_and_rotation_replaces_only_the_secrets(tmp_path):
    async def scenario() -> None:
        clock = Clock()
        identities = WorkloadIdentities(CertificateAuthority.self_signed(), lifetime_s=20, clock=clock)
        control_plane = ControlPlane(REGISTRY, ResourceStore(tmp_path / "r.json"), identities=identities)
        before = control_plane.cache.get(DETAILS.node_id)
        assert set(before.resources(SECRET_TYPE)) == {"default", "ROOTCA"}
        assert identities.certificate(DETAILS.node_id).spiffe_id.endswith("/sa/bookinfo-details")
        gateway = identities.certificate(REGISTRY.gateway.node_id)
        assert (
            gateway.spiffe_id
            == "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
        )
        assert await control_plane.rotate_due_certificates() == []  # nothing due yet
        clock.now += 10  # half of the 20 s lifetime: Istio's grace ratio
        rotated = await control_plane.rotate_due_certificates()
        assert len(rotated) == len(REGISTRY.workloads) + 1
        after = control_plane.cache.get(DETAILS.node_id)
        assert after.generation == before.generation
        assert after.types[SECRET_TYPE].version != before.types[SECRET_TYPE].version
        assert after.types[LISTENER_TYPE].version == before.types[LISTENER_TYPE].version
        assert identities.issued == 2 * len(rotated)

    asyncio.run(scenario())
