"""security.istio.io resources, DestinationRule tls and the rate-limit EnvoyFilter in the model:
field-path validation, YAML in/out, Istio's precedence rules, and Kiali-style mTLS warnings."""

from __future__ import annotations

import pytest

from meshcore.bookinfo.topology import bookinfo_registry
from meshcore.model.errors import FieldError
from meshcore.model.registry import Registry
from meshcore.model.resources import Resource
from meshcore.model.security import SecurityIndex
from meshcore.model.security_validation import security_warnings
from meshcore.model.validation import validate
from meshcore.model.yaml_io import dump_documents, parse_documents
from tests.support.samples import sample


@pytest.fixture
def registry() -> Registry:
    return bookinfo_registry()


def peer_auth(name: str = "default", namespace: str = "istio-system", **spec) -> Resource:
    return Resource("security.istio.io/v1", "PeerAuthentication", name, namespace, spec)


def auth_policy(name: str = "policy", **spec) -> Resource:
    return Resource("security.istio.io/v1", "AuthorizationPolicy", name, "default", spec)


def rate_limit(config: dict, **patch) -> Resource:
    value = {
        "name": "envoy.filters.http.local_ratelimit",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            **config,
        },
    }
    config_patch = {
        "applyTo": "HTTP_FILTER",
        "patch": {"operation": "INSERT_BEFORE", "value": value},
        **patch,
    }
    spec = {"workloadSelector": {"labels": {"app": "details"}}, "configPatches": [config_patch]}
    return Resource("networking.istio.io/v1alpha3", "EnvoyFilter", "limit", "default", spec)


BUCKET = {"stat_prefix": "rl", "token_bucket": {"max_tokens": 2, "tokens_per_fill": 2, "fill_interval": "1s"}}


def errors_of(resource: Resource, registry: Registry) -> list[str]:
    return [str(error) for error in validate([resource], registry)]


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (peer_auth(mtls={"mode": "STRICT"}), []),
        (
            peer_auth(mtls={"mode": "strict"}),
            ['spec.mtls.mode: must be one of UNSET, DISABLE, PERMISSIVE, STRICT, got "strict"'],
        ),
        (
            peer_auth(portLevelMtls={"9080": {"mode": "DISABLE"}}),
            ["spec.portLevelMtls: requires a selector (ports belong to workloads)"],
        ),
        (
            peer_auth(selector={"matchLabels": {"app": "details"}}, portLevelMtls={"x": {"mode": "DISABLE"}}),
            ['spec.portLevelMtls["x"]: key "x" must be a port number from 1 to 65535'],
        ),
        (peer_auth(targetRef={"kind": "Service"}), ["spec.targetRef: not supported by meshcore"]),
        (auth_policy(), []),  # deny all
        (auth_policy(rules=[{}]), []),  # allow all
        (
            auth_policy(rules=[{"from": [{"source": {}}]}]),
            ["spec.rules[0].from[0].source: an empty source is not allowed; omit it to match any"],
        ),
        (
            auth_policy(action="AUDIT"),
            ["spec.action: AUDIT is not supported by meshcore; use ALLOW or DENY"],
        ),
        (
            auth_policy(rules=[{"from": [{"source": {"requestPrincipals": ["*"]}}]}]),
            [
                "spec.rules[0].from[0].source.requestPrincipals: not supported by meshcore (no "
                "RequestAuthentication/JWT)",
            ],
        ),
        (
            auth_policy(rules=[{"to": [{"operation": {"methods": ["get"], "ports": ["90000"]}}]}]),
            [
                'spec.rules[0].to[0].operation.methods[0]: "get" must be an HTTP method',
                'spec.rules[0].to[0].operation.ports[0]: "90000" must be a port number from 1 to 65535',
            ],
        ),
        (
            auth_policy(rules=[{"when": [{"key": "request.auth.claims[iss]", "values": ["x"]}]}]),
            [
                'spec.rules[0].when[0].key: "request.auth.claims[iss]" is not supported by meshcore; use '
                "request.headers[<name>], source.principal or source.namespace"
            ],
        ),
        (
            auth_policy(rules=[{"when": [{"key": "request.headers[end-user]"}]}]),
            ["spec.rules[0].when[0]: must set at least one of values, notValues"],
        ),
        (rate_limit(BUCKET), []),
        (
            rate_limit({"stat_prefix": "rl"}),
            ["spec.configPatches[0].patch.value.typed_config.token_bucket: required"],
        ),
        (
            rate_limit({**BUCKET, "tokenz": 1}),
            [
                "spec.configPatches[0].patch.value.typed_config: not a valid LocalRateLimit: Message type "
                '"envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit" has no field named '
                '"tokenz" at "LocalRateLimit".'
            ],
        ),
        (
            rate_limit(BUCKET, applyTo="CLUSTER"),
            [
                'spec.configPatches[0].applyTo: "CLUSTER" is not supported by meshcore: the only EnvoyFilter '
                "meshcore applies is an HTTP_FILTER patch inserting envoy.filters.http.local_ratelimit "
                "(Istio's local rate limit); use HTTP_FILTER"
            ],
        ),
        (
            rate_limit(BUCKET, match={"context": "GATEWAY"}),
            [
                'spec.configPatches[0].match.context: "GATEWAY" is not supported by meshcore (the rate '
                "limit runs on inbound sidecars); use SIDECAR_INBOUND"
            ],
        ),
    ],
)
def test_security_resources_are_checked_field_by_field(resource, expected, registry):
    assert errors_of(resource, registry) == expected


def test_security_kinds_need_their_own_api_group(registry):
    wrong = Resource("networking.istio.io/v1", "PeerAuthentication", "default", "istio-system", {})
    assert errors_of(wrong, registry) == [
        'apiVersion: unsupported apiVersion "networking.istio.io/v1"; use one of security.istio.io/v1, '
        "security.istio.io/v1beta1"
    ]


def test_istios_all_mtls_destination_rules_are_valid_and_round_trip(registry):
    resources = parse_documents(sample("destination-rule-all-mtls"))
    assert validate(resources, registry) == []
    assert parse_documents(dump_documents(resources)) == resources


@pytest.mark.parametrize(
    ("policies", "workload", "mode", "source"),
    [
        ([], "details-v1", "PERMISSIVE", None),
        (
            [peer_auth(mtls={"mode": "STRICT"})],
            "details-v1",
            "STRICT",
            "PeerAuthentication/istio-system/default",
        ),
        (
            [peer_auth(mtls={"mode": "STRICT"}), peer_auth("ns", "default", mtls={"mode": "DISABLE"})],
            "details-v1",
            "DISABLE",
            "PeerAuthentication/ns",
        ),
        (
            [
                peer_auth(mtls={"mode": "STRICT"}),
                peer_auth(
                    "d", "default", selector={"matchLabels": {"app": "details"}}, mtls={"mode": "UNSET"}
                ),
            ],
            "details-v1",
            "STRICT",  # UNSET inherits from the level above
            "PeerAuthentication/istio-system/default",
        ),
        (
            [
                peer_auth(
                    "d",
                    "default",
                    selector={"matchLabels": {"app": "details"}},
                    mtls={"mode": "STRICT"},
                    portLevelMtls={9080: {"mode": "PERMISSIVE"}},
                )
            ],
            "details-v1",
            "PERMISSIVE",  # the port's own setting wins
            "PeerAuthentication/d",
        ),
        (
            [
                peer_auth(
                    "d", "default", selector={"matchLabels": {"app": "details"}}, mtls={"mode": "DISABLE"}
                )
            ],
            "ratings-v1",
            "PERMISSIVE",
            None,
        ),
    ],
)
def test_effective_mtls_mode_follows_istios_precedence(policies, workload, mode, source, registry):
    decision = SecurityIndex.build(policies).mtls_mode(registry.workload(workload), 9080)
    assert (decision.mode, decision.source_ref or None) == (mode, source)


def test_root_namespace_policies_select_workloads_of_every_namespace(registry):
    mesh_wide = Resource(
        "security.istio.io/v1",
        "AuthorizationPolicy",
        "all",
        "istio-system",
        {"action": "DENY", "rules": [{}]},
    )
    elsewhere = Resource("security.istio.io/v1", "AuthorizationPolicy", "x", "other", {"rules": [{}]})
    index = SecurityIndex.build([mesh_wide, elsewhere])
    assert [r.name for r, _ in index.policies_for(registry.workload("reviews-v2"))] == ["all"]


def test_a_rule_disabling_mtls_towards_strict_servers_is_warned_on_both_sides(registry):
    rule = Resource(
        "networking.istio.io/v1",
        "DestinationRule",
        "ratings",
        "default",
        {"host": "ratings", "trafficPolicy": {"tls": {"mode": "DISABLE"}}},
    )
    strict = peer_auth(mtls={"mode": "STRICT"})
    message = (
        "KIA0208: DestinationRule/ratings makes clients send plaintext (DISABLE) to ratings-v1, but "
        "PeerAuthentication/istio-system/default requires mTLS (STRICT) there, so the sidecars refuse "
        "them; set PERMISSIVE in PeerAuthentication/istio-system/default or ISTIO_MUTUAL in "
        "DestinationRule/ratings"
    )
    assert security_warnings([rule], registry, [strict]) == [
        FieldError("spec.trafficPolicy.tls.mode", message)
    ]
    assert security_warnings([strict], registry, [rule]) == [FieldError("spec.mtls.mode", message)]
    # Namespace-level STRICT is Kiali's KIA0207; PERMISSIVE contradicts nothing.
    namespace_strict = peer_auth("ns", "default", mtls={"mode": "STRICT"})
    assert security_warnings([rule], registry, [namespace_strict])[0].message.startswith("KIA0207: ")
    assert security_warnings([rule], registry, [peer_auth(mtls={"mode": "PERMISSIVE"})]) == []


def test_mutual_tls_towards_servers_that_disable_it_is_warned(registry):
    rules = parse_documents(sample("destination-rule-all-mtls"))
    disabled = peer_auth(
        "details", "default", selector={"matchLabels": {"app": "details"}}, mtls={"mode": "DISABLE"}
    )
    warnings = security_warnings(rules, registry, [disabled])
    assert [w.path for w in warnings] == ["DestinationRule/details.spec.trafficPolicy.tls.mode"]
    assert warnings[0].message.startswith("KIA0206: DestinationRule/details makes clients send mTLS")


def test_selectors_without_workloads_and_unknown_namespaces_are_warned(registry):
    policy = auth_policy(
        selector={"matchLabels": {"app": "revieww"}},
        rules=[{"from": [{"source": {"namespaces": ["default", "prod"]}}]}],
    )
    assert security_warnings([policy], registry) == [
        FieldError(
            "spec.selector.matchLabels", "no workload in namespace default has the labels app=revieww"
        ),
        FieldError(
            "spec.rules[0].from[0].source.namespaces[1]", "KIA0101: namespace prod not found in the mesh"
        ),
    ]
