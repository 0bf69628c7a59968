"""Validation: structure with field paths, then meaning against the registry and the combined set."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from meshcore.model.errors import FieldError
from meshcore.model.registry import Registry
from meshcore.model.resources import Resource
from meshcore.model.validation import validate, validate_delete
from tests.meshcore.model.bookinfo_samples import SAMPLE_FILES, load_sample, make_resource

V1 = {"destination": {"host": "reviews", "subset": "v1"}}


def route(**fields: Any) -> dict[str, Any]:
    """One http[] entry sending everything to reviews v1, with ``fields`` replacing/adding keys."""
    return {"route": [copy.deepcopy(V1)], **fields}


def reviews_vs(*http: dict[str, Any], **spec: Any) -> Resource:
    return make_resource(
        "VirtualService", "reviews", {"hosts": ["reviews"], "http": list(http) or [route()], **spec}
    )


def split(*weights: Any) -> dict[str, Any]:
    subsets = ["v1", "v2", "v3"]
    return route(
        route=[
            {"destination": {"host": "reviews", "subset": subsets[i]}, "weight": w}
            for i, w in enumerate(weights)
        ]
    )


def reviews_dr(*subsets: str, **spec: Any) -> Resource:
    listed = [{"name": name, "labels": {"version": name}} for name in subsets]
    return make_resource("DestinationRule", "reviews", {"host": "reviews", "subsets": listed, **spec})


def http_gateway(**server: Any) -> Resource:
    spec = {
        "selector": {"istio": "ingressgateway"},
        "servers": [{"port": {"number": 8080, "name": "http", "protocol": "HTTP"}, "hosts": ["*"], **server}],
    }
    return make_resource("Gateway", "bookinfo-gateway", spec)


def assert_error(errors: list[FieldError], path: str, message: str) -> None:
    """``message`` ending in "..." matches as a prefix; otherwise it must match exactly."""
    prefix = message.endswith("...")
    for error in errors:
        if error.path == path and (
            error.message.startswith(message[:-3]) if prefix else error.message == message
        ):
            return
    pytest.fail(f"no error {path}: {message}\ngot:\n" + "\n".join(map(str, errors)))


# --- valid input --------------------------------------------------------------------------------


def test_the_bookinfo_install_validates_in_one_atomic_apply(
    registry: Registry, baseline: list[Resource]
) -> None:
    # The VirtualServices use subsets defined by DestinationRules of the same apply.
    assert validate(baseline, registry) == []


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_every_sample_applies_cleanly_on_top_of_the_install(
    name: str, registry: Registry, baseline: list[Resource]
) -> None:
    assert validate(load_sample(name), registry, baseline) == []


def test_a_fully_featured_route_is_valid(registry: Registry, baseline: list[Resource]) -> None:
    http = route(
        name="canary",
        match=[{"uri": {"regex": "^/reviews/[0-9]+$"}, "headers": {"end-user": {"prefix": "ja"}}}],
        timeout="1.5s",
        retries={"attempts": 3, "perTryTimeout": "500ms", "retryOn": "5xx,503,connect-failure,retriable-4xx"},
        fault={"delay": {"fixedDelay": "100ms", "percentage": {"value": 0.5}}},
        mirror={"host": "reviews.default.svc.cluster.local", "subset": "v2"},
        mirrorPercentage={"value": 10},
        rewrite={"uri": "/"},
    )
    assert validate([reviews_vs(http)], registry, baseline) == []


# --- structure ----------------------------------------------------------------------------------

STRUCTURE_CASES = [
    ("unknown field", reviews_vs({"rout": [V1], "route": [V1]}), "spec.http[0].rout", "unknown field"),
    (
        "weight type",
        reviews_vs(split("ten")),
        "spec.http[0].route[0].weight",
        'must be an integer, got "ten"',
    ),
    (
        "weight bool",
        reviews_vs(split(True, 0)),
        "spec.http[0].route[0].weight",
        "must be an integer, got true",
    ),
    (
        "weight range",
        reviews_vs(split(120, -20)),
        "spec.http[0].route[0].weight",
        "must be between 0 and 100, got 120",
    ),
    (
        "hosts required",
        make_resource("VirtualService", "reviews", {"http": [route()]}),
        "spec.hosts",
        "required",
    ),
    ("hosts empty", reviews_vs(hosts=[]), "spec.hosts", "must not be empty"),
    ("hosts not a list", reviews_vs(hosts="reviews"), "spec.hosts", 'must be a list, got "reviews"'),
    ("route required", reviews_vs({"timeout": "1s"}), "spec.http[0].route", "required"),
    ("route empty", reviews_vs(route(route=[])), "spec.http[0].route", "must not be empty"),
    (
        "destination host",
        reviews_vs(route(route=[{"destination": {"subset": "v1"}}])),
        "spec.http[0].route[0].destination.host",
        "required",
    ),
    ("unsupported tcp", reviews_vs(tcp=[]), "spec.tcp", "not supported by meshcore (only http routes)"),
    (
        "unsupported redirect",
        reviews_vs(route(redirect={"uri": "/"})),
        "spec.http[0].redirect",
        "not supported by meshcore",
    ),
    (
        "two string kinds",
        reviews_vs(route(match=[{"uri": {"exact": "/a", "prefix": "/"}}])),
        "spec.http[0].match[0].uri",
        "must set exactly one of exact, prefix, regex (found exact, prefix)",
    ),
    (
        "no string kind",
        reviews_vs(route(match=[{"method": {}}])),
        "spec.http[0].match[0].method",
        "must set exactly one of exact, prefix, regex",
    ),
    (
        "header case",
        reviews_vs(route(match=[{"headers": {"End-User": {"exact": "jason"}}}])),
        "spec.http[0].match[0].headers.End-User",
        'key "End-User" must be a lowercase HTTP header name...',
    ),
    (
        "bad regex",
        reviews_vs(route(match=[{"uri": {"regex": "/a(["}}])),
        "spec.http[0].match[0].uri.regex",
        "invalid regex '/a([': ...",
    ),
    (
        "backreference",
        reviews_vs(route(match=[{"uri": {"regex": r"^/(a)\1$"}}])),
        "spec.http[0].match[0].uri.regex",
        r"regex '^/(a)\\1$' uses backreference \1, which is not supported by RE2 (Envoy's regex engine)",
    ),
    (
        "lookahead",
        reviews_vs(route(match=[{"uri": {"regex": "^/(?=api)"}}])),
        "spec.http[0].match[0].uri.regex",
        "regex '^/(?=api)' uses lookahead (?=...), which is not supported by RE2...",
    ),
    (
        "negative lookahead",
        reviews_vs(route(match=[{"uri": {"regex": "^/(?!api)"}}])),
        "spec.http[0].match[0].uri.regex",
        "regex '^/(?!api)' uses negative lookahead (?!...), which is not supported by RE2...",
    ),
    (
        "lookbehind",
        reviews_vs(route(match=[{"uri": {"regex": "(?<=/)x"}}])),
        "spec.http[0].match[0].uri.regex",
        "regex '(?<=/)x' uses lookbehind (?<=...), which is not supported by RE2...",
    ),
    (
        "negative lookbehind",
        reviews_vs(route(match=[{"uri": {"regex": "(?<!/)x"}}])),
        "spec.http[0].match[0].uri.regex",
        "regex '(?<!/)x' uses negative lookbehind (?<!...), which is not supported by RE2...",
    ),
    (
        "atomic group",
        reviews_vs(route(match=[{"uri": {"regex": "(?>a+)b"}}])),
        "spec.http[0].match[0].uri.regex",
        "regex '(?>a+)b' uses atomic group (?>...), which is not supported by RE2...",
    ),
    (
        "possessive",
        reviews_vs(route(match=[{"uri": {"regex": "a*+b"}}])),
        "spec.http[0].match[0].uri.regex",
        "regex 'a*+b' uses a possessive quantifier (e.g. a++), which is not supported by RE2...",
    ),
    (
        "timeout junk",
        reviews_vs(route(timeout="abc")),
        "spec.http[0].timeout",
        'invalid duration "abc": expected a number with a unit...',
    ),
    (
        "timeout negative",
        reviews_vs(route(timeout="-1s")),
        "spec.http[0].timeout",
        'invalid duration "-1s": negative durations are not allowed',
    ),
    (
        "timeout number",
        reviews_vs(route(timeout=5)),
        "spec.http[0].timeout",
        'must be a duration string such as "5s", got 5',
    ),
    (
        "delay needs fixedDelay",
        reviews_vs(route(fault={"delay": {"percentage": {"value": 10}}})),
        "spec.http[0].fault.delay.fixedDelay",
        "required",
    ),
    (
        "fault empty",
        reviews_vs(route(fault={})),
        "spec.http[0].fault",
        "must set at least one of delay, abort",
    ),
    (
        "abort status",
        reviews_vs(route(fault={"abort": {"httpStatus": 700, "percentage": {"value": 1}}})),
        "spec.http[0].fault.abort.httpStatus",
        "must be between 200 and 599, got 700",
    ),
    (
        "abort percentage",
        reviews_vs(route(fault={"abort": {"httpStatus": 503, "percentage": {"value": 150}}})),
        "spec.http[0].fault.abort.percentage.value",
        "must be between 0 and 100, got 150",
    ),
    (
        "delay percent",
        reviews_vs(route(fault={"delay": {"fixedDelay": "1s", "percent": 101}})),
        "spec.http[0].fault.delay.percent",
        "must be between 0 and 100, got 101",
    ),
    (
        "retry attempts",
        reviews_vs(route(retries={"attempts": -1})),
        "spec.http[0].retries.attempts",
        "must be >= 0, got -1",
    ),
    (
        "retry perTryTimeout",
        reviews_vs(route(retries={"attempts": 2, "perTryTimeout": "soon"})),
        "spec.http[0].retries.perTryTimeout",
        'invalid duration "soon"...',
    ),
    (
        "retryOn",
        reviews_vs(route(retries={"attempts": 2, "retryOn": "5xx,bogus,42"})),
        "spec.http[0].retries.retryOn",
        "unknown retry condition(s) 'bogus', '42'; use a comma-separated list of HTTP status codes or of: ...",
    ),
    (
        "mirror percentage",
        reviews_vs(route(mirror={"host": "reviews"}, mirrorPercentage={"value": 100.5})),
        "spec.http[0].mirrorPercentage.value",
        "must be between 0 and 100, got 100.5",
    ),
    (
        "subset name",
        reviews_vs(route(route=[{"destination": {"host": "reviews", "subset": "V1"}}])),
        "spec.http[0].route[0].destination.subset",
        '"V1" must be a DNS-1123 label...',
    ),
    (
        "port range",
        reviews_vs(route(route=[{"destination": {"host": "reviews", "port": {"number": 0}}}])),
        "spec.http[0].route[0].destination.port.number",
        "must be between 1 and 65535, got 0",
    ),
]


@pytest.mark.parametrize(
    ("resource", "path", "message"),
    [case[1:] for case in STRUCTURE_CASES],
    ids=[case[0] for case in STRUCTURE_CASES],
)
def test_virtual_service_structure_errors_name_the_field(
    resource: Resource, path: str, message: str, registry: Registry, baseline: list[Resource]
) -> None:
    assert_error(validate([resource], registry, baseline), path, message)


WEIGHT_CASES = [
    ("sum below", split(80, 10), "spec.http[0].route", "weights sum to 90, must be 100"),
    ("sum above", split(80, 10, 20), "spec.http[0].route", "weights sum to 110, must be 100"),
    (
        "missing weight",
        route(route=[{**V1, "weight": 100}, {"destination": {"host": "reviews", "subset": "v2"}}]),
        "spec.http[0].route[1].weight",
        "required when a route has more than one destination",
    ),
    (
        "single not 100",
        split(50),
        "spec.http[0].route[0].weight",
        "a single destination receives all traffic: omit weight or set 100, got 50",
    ),
]


@pytest.mark.parametrize(
    ("http", "path", "message"), [c[1:] for c in WEIGHT_CASES], ids=[c[0] for c in WEIGHT_CASES]
)
def test_weights(
    http: dict[str, Any], path: str, message: str, registry: Registry, baseline: list[Resource]
) -> None:
    assert validate([reviews_vs(http)], registry, baseline) == [FieldError(path, message)]


@pytest.mark.parametrize("weights", [(100,), (0, 100), (34, 33, 33), (50, 50)])
def test_weights_that_split_all_traffic_are_valid(
    weights: tuple[int, ...], registry: Registry, baseline: list[Resource]
) -> None:
    assert validate([reviews_vs(split(*weights))], registry, baseline) == []


# --- meaning in context -------------------------------------------------------------------------


def test_unknown_subset_lists_the_defined_ones(registry: Registry, baseline: list[Resource]) -> None:
    vs = reviews_vs(route(route=[{"destination": {"host": "reviews", "subset": "v9"}}]))
    assert validate([vs], registry, baseline) == [
        FieldError(
            "spec.http[0].route[0].destination.subset",
            'unknown subset "v9" for host reviews (defined: v1, v2, v3)',
        )
    ]


def test_subset_without_any_destination_rule(registry: Registry) -> None:
    assert validate([reviews_vs()], registry) == [
        FieldError(
            "spec.http[0].route[0].destination.subset",
            'unknown subset "v1" for host reviews (no DestinationRule defines subsets for it)',
        )
    ]


def test_mirror_must_name_a_known_host_and_subset(registry: Registry, baseline: list[Resource]) -> None:
    errors = validate([reviews_vs(route(mirror={"host": "shadow"}))], registry, baseline)
    assert_error(
        errors,
        "spec.http[0].mirror.host",
        'unknown host "shadow": not a service in the registry (known: details, productpage, ratings, reviews)',
    )
    errors = validate([reviews_vs(route(mirror={"host": "reviews", "subset": "v7"}))], registry, baseline)
    assert_error(
        errors, "spec.http[0].mirror.subset", 'unknown subset "v7" for host reviews (defined: v1, v2, v3)'
    )


def test_hosts_and_destinations_must_be_registry_services(
    registry: Registry, baseline: list[Resource]
) -> None:
    vs = make_resource(
        "VirtualService",
        "shop",
        {"hosts": ["shop", "*"], "http": [{"route": [{"destination": {"host": "shop"}}]}]},
    )
    errors = validate([vs], registry, baseline)
    assert errors == [
        FieldError(
            "spec.hosts[0]",
            'unknown host "shop": not a service in the registry (known: details, productpage, ratings, reviews)',
        ),
        FieldError(
            "spec.hosts[1]",
            'wildcard host "*" is only allowed in a VirtualService bound to gateways only (not "mesh")',
        ),
        FieldError(
            "spec.http[0].route[0].destination.host",
            'unknown host "shop": not a service in the registry (known: details, productpage, ratings, reviews)',
        ),
    ]


def test_destination_port_must_be_a_service_port(registry: Registry, baseline: list[Resource]) -> None:
    vs = reviews_vs(route(route=[{"destination": {"host": "reviews", "port": {"number": 9090}}}]))
    assert validate([vs], registry, baseline) == [
        FieldError(
            "spec.http[0].route[0].destination.port.number",
            "port 9090 is not a port of service reviews (ports: 9080)",
        )
    ]


def test_gateway_bound_virtual_service_may_use_any_host_but_needs_the_gateway(
    registry: Registry, baseline: list[Resource]
) -> None:
    _, bookinfo = load_sample("bookinfo-gateway.yaml")
    spec = {**bookinfo.spec, "hosts": ["bookinfo.example.com"], "gateways": ["bookinfo-gw"]}
    renamed = make_resource("VirtualService", "bookinfo-public", spec)
    assert validate([renamed], registry, baseline) == [
        FieldError("spec.gateways[0]", 'unknown Gateway "bookinfo-gw" (defined: bookinfo-gateway)')
    ]
    spec["gateways"] = ["bookinfo-gateway", "mesh"]  # bound to the mesh too: hosts must be services
    errors = validate([make_resource("VirtualService", "bookinfo-public", spec)], registry, baseline)
    assert_error(
        errors, "spec.hosts[0]", 'unknown host "bookinfo.example.com": not a service in the registry...'
    )


def test_two_virtual_services_must_not_claim_the_same_host(
    registry: Registry, baseline: list[Resource]
) -> None:
    canary = make_resource(
        "VirtualService",
        "reviews-canary",
        {"hosts": ["reviews.default.svc.cluster.local"], "http": [route()]},
    )
    assert validate([canary], registry, baseline) == [
        FieldError(
            "spec.hosts[0]",
            'host "reviews.default.svc.cluster.local" is already claimed by VirtualService/reviews; Istio merges '
            "VirtualServices for the same host unpredictably, so put these routes into one VirtualService",
        )
    ]


def test_two_gateway_routes_for_the_same_host_conflict(registry: Registry, baseline: list[Resource]) -> None:
    _, bookinfo = load_sample("bookinfo-gateway.yaml")
    second = make_resource("VirtualService", "bookinfo-2", dict(bookinfo.spec))
    assert_error(
        validate([second], registry, baseline),
        "spec.hosts[0]",
        'host "*" is already claimed by VirtualService/bookinfo...',
    )


def test_rule_violations_do_not_hide_semantic_problems(registry: Registry, baseline: list[Resource]) -> None:
    http = route(
        route=[
            {"destination": {"host": "reviews", "subset": "v9"}, "weight": 60},
            {"destination": {"host": "nope"}, "weight": 30},
        ],
        rout=1,
    )
    errors = [str(e) for e in validate([reviews_vs(http)], registry, baseline)]
    assert errors == [
        "spec.http[0].rout: unknown field",
        "spec.http[0].route: weights sum to 90, must be 100",
        'spec.http[0].route[1].destination.host: unknown host "nope": not a service in the registry '
        "(known: details, productpage, ratings, reviews)",
        'spec.http[0].route[0].destination.subset: unknown subset "v9" for host reviews (defined: v1, v2, v3)',
    ]


def test_shape_errors_suppress_semantic_checks(registry: Registry, baseline: list[Resource]) -> None:
    vs = make_resource("VirtualService", "reviews", {"hosts": "nope", "http": [route()]})
    assert validate([vs], registry, baseline) == [FieldError("spec.hosts", 'must be a list, got "nope"')]


# --- DestinationRule ----------------------------------------------------------------------------

DR_CASES = [
    (
        "unknown host",
        make_resource("DestinationRule", "shop", {"host": "shop"}),
        "spec.host",
        'unknown host "shop": not a service in the registry...',
    ),
    ("duplicate subset", reviews_dr("v1", "v2", "v1"), "spec.subsets[2].name", 'duplicate name "v1"'),
    ("subset name", reviews_dr("V1"), "spec.subsets[0].name", '"V1" must be a DNS-1123 label...'),
    (
        "labels empty",
        make_resource(
            "DestinationRule", "reviews", {"host": "reviews", "subsets": [{"name": "v1", "labels": {}}]}
        ),
        "spec.subsets[0].labels",
        "must not be empty",
    ),
    (
        "labels required",
        make_resource("DestinationRule", "reviews", {"host": "reviews", "subsets": [{"name": "v1"}]}),
        "spec.subsets[0].labels",
        "required",
    ),
    (
        "label value",
        make_resource(
            "DestinationRule",
            "reviews",
            {"host": "reviews", "subsets": [{"name": "v1", "labels": {"version": 1}}]},
        ),
        "spec.subsets[0].labels.version",
        "must be a string, got 1",
    ),
    (
        "load balancer",
        reviews_dr("v1", trafficPolicy={"loadBalancer": {"simple": "FASTEST"}}),
        "spec.trafficPolicy.loadBalancer.simple",
        'must be one of ROUND_ROBIN, LEAST_REQUEST, RANDOM, PASSTHROUGH, got "FASTEST"',
    ),
    (
        "max ejection",
        reviews_dr("v1", trafficPolicy={"outlierDetection": {"maxEjectionPercent": 150}}),
        "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
        "must be between 0 and 100, got 150",
    ),
    (
        "negative int",
        reviews_dr("v1", trafficPolicy={"connectionPool": {"tcp": {"maxConnections": -1}}}),
        "spec.trafficPolicy.connectionPool.tcp.maxConnections",
        "must be >= 0, got -1",
    ),
    (
        "interval",
        reviews_dr("v1", trafficPolicy={"outlierDetection": {"interval": "often"}}),
        "spec.trafficPolicy.outlierDetection.interval",
        'invalid duration "often"...',
    ),
    (
        "subset policy",
        make_resource(
            "DestinationRule",
            "reviews",
            {
                "host": "reviews",
                "subsets": [
                    {
                        "name": "v1",
                        "labels": {"version": "v1"},
                        "trafficPolicy": {"connectionPool": {"http": {"maxRetries": "3"}}},
                    }
                ],
            },
        ),
        "spec.subsets[0].trafficPolicy.connectionPool.http.maxRetries",
        'must be an integer, got "3"',
    ),
    (
        "tls with external certificates unsupported",
        reviews_dr("v1", trafficPolicy={"tls": {"mode": "MUTUAL", "clientCertificate": "/etc/c.pem"}}),
        "spec.trafficPolicy.tls.clientCertificate",
        "not supported by meshcore (only ISTIO_MUTUAL and DISABLE, with the mesh's own certificates)",
    ),
    (
        "tls mode of external services unsupported",
        reviews_dr("v1", trafficPolicy={"tls": {"mode": "SIMPLE"}}),
        "spec.trafficPolicy.tls.mode",
        '"SIMPLE" is not supported by meshcore; use ISTIO_MUTUAL or DISABLE',
    ),
    ("unknown field", reviews_dr("v1", subset=[]), "spec.subset", "unknown field"),
]


@pytest.mark.parametrize(
    ("resource", "path", "message"), [c[1:] for c in DR_CASES], ids=[c[0] for c in DR_CASES]
)
def test_destination_rule_errors(resource: Resource, path: str, message: str, registry: Registry) -> None:
    assert_error(validate([resource], registry), path, message)


def test_subsets_without_workloads_are_allowed(registry: Registry) -> None:
    # ratings v2-mysql has no workload in the local mesh; Istio allows such subsets too.
    assert validate(load_sample("destination-rule-all.yaml"), registry) == []


def test_two_destination_rules_must_not_target_the_same_host(
    registry: Registry, baseline: list[Resource]
) -> None:
    other = make_resource(
        "DestinationRule",
        "reviews-extra",
        {"host": "reviews.default", "subsets": [{"name": "v4", "labels": {"version": "v4"}}]},
    )
    assert validate([other], registry, baseline) == [
        FieldError(
            "spec.host",
            'host "reviews.default" is already targeted by DestinationRule/reviews; only one DestinationRule per '
            "host takes effect, so put these subsets into one DestinationRule",
        )
    ]


def test_replacing_a_destination_rule_must_keep_subsets_still_in_use(
    registry: Registry, baseline: list[Resource]
) -> None:
    existing = baseline + load_sample("virtual-service-reviews-50-v3.yaml")  # replaces all-v1's reviews
    assert validate([reviews_dr("v1", "v2")], registry, existing) == [
        FieldError(
            "spec.subsets",
            'subset "v3" of host reviews is still referenced by VirtualService/reviews at '
            "spec.http[0].route[1].destination.subset",
        )
    ]
    # Moving the routes off v3 in the same apply makes the removal fine.
    assert (
        validate(
            [reviews_dr("v1", "v2"), *load_sample("virtual-service-reviews-80-20.yaml")], registry, existing
        )
        == []
    )


def test_an_inconsistency_that_predates_the_apply_is_not_blamed_on_it(registry: Registry) -> None:
    stored = load_sample("virtual-service-all-v1.yaml")  # subsets never defined
    assert validate(load_sample("bookinfo-gateway.yaml"), registry, stored) == []


# --- Gateway ------------------------------------------------------------------------------------

GATEWAY_CASES = [
    ("servers empty", make_resource("Gateway", "gw", {"servers": []}), "spec.servers", "must not be empty"),
    ("servers required", make_resource("Gateway", "gw", {"selector": {}}), "spec.servers", "required"),
    (
        "port range",
        http_gateway(port={"number": 70000, "protocol": "HTTP"}),
        "spec.servers[0].port.number",
        "must be between 1 and 65535, got 70000",
    ),
    (
        "protocol",
        http_gateway(port={"number": 443, "protocol": "HTTPS"}),
        "spec.servers[0].port.protocol",
        'must be one of HTTP, got "HTTPS"',
    ),
    ("hosts", http_gateway(hosts=[]), "spec.servers[0].hosts", "must not be empty"),
]


@pytest.mark.parametrize(
    ("resource", "path", "message"), [c[1:] for c in GATEWAY_CASES], ids=[c[0] for c in GATEWAY_CASES]
)
def test_gateway_errors(resource: Resource, path: str, message: str, registry: Registry) -> None:
    assert validate([resource], registry) == [FieldError(path, message)]


# --- envelope and multi-resource applies ----------------------------------------------------------


def test_resources_built_in_code_get_envelope_checks(registry: Registry) -> None:
    bad = Resource(api_version="networking.istio.io/v2", kind="ServiceEntry", name="Reviews", spec={})
    assert [str(e) for e in validate([bad], registry)] == [
        'apiVersion: unsupported apiVersion "networking.istio.io/v2"; use one of networking.istio.io/v1, '
        "networking.istio.io/v1beta1, networking.istio.io/v1alpha3",
        'kind: unsupported kind "ServiceEntry"; use one of VirtualService, DestinationRule, Gateway, '
        "PeerAuthentication, AuthorizationPolicy, EnvoyFilter",
        "metadata.name: \"Reviews\" must be a DNS-1123 label: at most 63 lowercase letters, digits or '-', "
        "starting and ending with a letter or digit",
    ]


def test_errors_in_a_multi_resource_apply_are_prefixed_with_the_resource(
    registry: Registry, baseline: list[Resource]
) -> None:
    good_dr = reviews_dr("v1", "v2", "v3")
    bad_vs = reviews_vs(split(80, 10))
    bad_gw = http_gateway(port={"number": 0, "protocol": "HTTP"})
    assert validate([good_dr, bad_vs, bad_gw], registry, baseline) == [
        FieldError("VirtualService/reviews.spec.http[0].route", "weights sum to 90, must be 100"),
        FieldError(
            "Gateway/bookinfo-gateway.spec.servers[0].port.number", "must be between 1 and 65535, got 0"
        ),
    ]


def test_prefix_names_the_namespace_outside_default(registry: Registry) -> None:
    dr = make_resource("DestinationRule", "reviews", {"host": "reviews"}, namespace="test")
    vs = make_resource(
        "VirtualService", "reviews", {"hosts": ["reviews"], "http": [route(timeout="x")]}, namespace="test"
    )
    assert_error(
        validate([dr, vs], registry),
        "VirtualService/test/reviews.spec.http[0].timeout",
        'invalid duration "x"...',
    )


def test_the_same_object_twice_in_one_apply_is_refused(registry: Registry, baseline: list[Resource]) -> None:
    errors = validate([reviews_vs(), reviews_vs()], registry, baseline)
    assert errors == [
        FieldError(
            "VirtualService/reviews.metadata.name",
            "VirtualService/reviews appears more than once in this apply",
        )
    ]


# --- delete -------------------------------------------------------------------------------------


def test_deleting_a_destination_rule_in_use_names_the_virtual_service(
    registry: Registry, baseline: list[Resource]
) -> None:
    existing = [r for r in baseline if r.key != ("VirtualService", "default", "reviews")] + load_sample(
        "virtual-service-reviews-80-20.yaml"
    )
    assert validate_delete(("DestinationRule", "default", "reviews"), registry, existing) == [
        FieldError(
            "DestinationRule/reviews.spec.subsets[0]",
            'cannot delete: subset "v1" of host reviews is still referenced by VirtualService/reviews at '
            "spec.http[0].route[0].destination.subset",
        ),
        FieldError(
            "DestinationRule/reviews.spec.subsets[1]",
            'cannot delete: subset "v2" of host reviews is still referenced by VirtualService/reviews at '
            "spec.http[0].route[1].destination.subset",
        ),
    ]


def test_deleting_an_unused_destination_rule_or_unknown_key_is_fine(
    registry: Registry, baseline: list[Resource]
) -> None:
    without_reviews_vs = [r for r in baseline if r.key != ("VirtualService", "default", "reviews")]
    assert validate_delete(("DestinationRule", "default", "reviews"), registry, without_reviews_vs) == []
    assert validate_delete(("DestinationRule", "default", "nothing"), registry, baseline) == []
    assert validate_delete(("VirtualService", "default", "reviews"), registry, baseline) == []


def test_deleting_a_gateway_in_use_is_refused(registry: Registry, baseline: list[Resource]) -> None:
    assert validate_delete(("Gateway", "default", "bookinfo-gateway"), registry, baseline) == [
        FieldError(
            "Gateway/bookinfo-gateway",
            'cannot delete: Gateway "bookinfo-gateway" is still referenced by VirtualService/bookinfo at spec.gateways[0]',
        )
    ]
