"""Every security form produces the Istio YAML one would write by hand (golden files in golden/),
which the control plane's own schema accepts; bad input gets an error on the field that caused it.

`MESHSCOPE_UPDATE_GOLDEN=1` rewrites the files (then read the diff: they are the specification).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboard.routes.diffing import to_yaml
from dashboard.routes.documents import for_export
from dashboard.routes.forms import Target, TrafficPolicyForm
from dashboard.security.forms import AuthorizationPolicyForm, PeerAuthenticationForm, RateLimitForm
from meshcore.model.istio import spec_view
from meshcore.model.resources import Resource
from tests.support.samples import sample

GOLDEN = Path(__file__).parent / "golden"


def rules_data(*rules: dict[str, Any], **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rule-TOTAL_FORMS": str(len(rules)),
        "rule-INITIAL_FORMS": "0",
        "rule-MIN_NUM_FORMS": "0",
        "rule-MAX_NUM_FORMS": "50",
        **fields,
    }
    for index, rule in enumerate(rules):
        data.update({f"rule-{index}-{key}": value for key, value in rule.items()})
    return data


def stored(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    document["metadata"].setdefault("namespace", "default")
    document["metadata"]["resourceVersion"] = "7"
    return document


HAND_WRITTEN_PEER = stored("""
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: reviews, labels: {team: books}}
spec:
  selector: {matchLabels: {app: reviews, tier: backend}}
  mtls: {mode: PERMISSIVE}
  portLevelMtls:
    "9080": {mode: DISABLE}
""")
HAND_WRITTEN_POLICY = stored("""
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]
        notNamespaces: ["untrusted"]
    - source: {namespaces: ["istio-system"]}
    to:
    - operation: {methods: ["GET"], notPaths: ["/admin/*"]}
  - to:
    - operation: {methods: ["HEAD"]}
""")
RATE_LIMIT = stored(
    next(
        doc
        for doc in Path(__file__)
        .parents[2]
        .joinpath("meshcore/e2e/test_authorization.py")
        .read_text()
        .split('"""')
        if "kind: EnvoyFilter" in doc
    )
)


def reviews_target(peer: dict[str, Any] | None = None, rule: str = "destination-rule-all") -> Target:
    rules = [d for d in yaml.safe_load_all(sample(rule)) if d and d["metadata"]["name"] == "reviews"]
    rules[0]["metadata"].update(namespace="default", resourceVersion="7")
    return Target("reviews", "default", ("v1", "v2", "v3"), None, rules[0], peer)


CASES: dict[str, tuple[Any, dict[str, Any], Any]] = {
    "pa-mesh-strict": (PeerAuthenticationForm, {"scope": "mesh", "name": "default", "mode": "STRICT"}, None),
    "pa-namespace-permissive": (
        PeerAuthenticationForm,
        {"scope": "namespace", "namespace": "default", "name": "default", "mode": "PERMISSIVE"},
        None,
    ),
    "pa-workload-port-level": (
        PeerAuthenticationForm,
        {
            "scope": "workload",
            "namespace": "default",
            "name": "ratings",
            "selector": "app=ratings",
            "mode": "UNSET",
            "port_modes": "9080=disable",
        },
        None,
    ),
    "pa-edit-hand-written-keeps-other-fields": (
        PeerAuthenticationForm,
        {
            "selector": "app=reviews, tier=backend",
            "mode": "STRICT",
            "port_modes": "9080=DISABLE 15000=STRICT",
        },
        HAND_WRITTEN_PEER,
    ),
    "ap-only-productpage-calls-reviews": (
        AuthorizationPolicyForm,
        rules_data(
            {"principals": "cluster.local/ns/default/sa/bookinfo-productpage", "methods": "get"},
            name="reviews-viewer",
            namespace="default",
            selector="app=reviews",
            preset="rules",
            action="ALLOW",
        ),
        None,
    ),
    "ap-deny-jason-on-ratings": (
        AuthorizationPolicyForm,
        rules_data(
            {"when": "request.headers[end-user] = jason"},
            name="ratings-deny-jason",
            namespace="default",
            selector="app=ratings",
            preset="rules",
            action="DENY",
        ),
        None,
    ),
    "ap-every-field": (
        AuthorizationPolicyForm,
        rules_data(
            {
                "namespaces": "default, istio-system",
                "paths": "/reviews/* /health",
                "ports": "9080",
                "methods": "GET POST",
                "when": "request.headers[x-canary] = yes, true\nrequest.headers[end-user] != mallory",
            },
            {"principals": "cluster.local/ns/default/sa/bookinfo-reviews"},
            name="details-callers",
            namespace="default",
            selector="app=details",
            preset="rules",
            action="ALLOW",
        ),
        None,
    ),
    "ap-deny-all": (
        AuthorizationPolicyForm,
        rules_data(name="deny-all", namespace="istio-system", preset="deny-all", action="ALLOW"),
        None,
    ),
    "ap-allow-all": (
        AuthorizationPolicyForm,
        rules_data(name="allow-all", namespace="default", preset="allow-all", action="ALLOW"),
        None,
    ),
    "ap-allow-nothing": (
        AuthorizationPolicyForm,
        rules_data(name="allow-nothing", namespace="default", selector="app=ratings", preset="allow-nothing"),
        None,
    ),
    "ap-edit-hand-written-keeps-other-fields": (
        AuthorizationPolicyForm,
        {
            **rules_data(
                {
                    "source": "0",
                    "principals": "cluster.local/ns/default/sa/bookinfo-productpage",
                    "methods": "GET, HEAD",
                },
                {"source": "1", "methods": "HEAD"},
                selector="app=reviews",
                preset="rules",
                action="ALLOW",
            ),
            "rule-INITIAL_FORMS": "2",
        },
        HAND_WRITTEN_POLICY,
    ),
    "ratelimit-details": (
        RateLimitForm,
        {
            "name": "filter-local-ratelimit-details",
            "namespace": "istio-system",
            "selector": "app=details",
            "max_tokens": 3,
            "fill_interval": "1s",
        },
        None,
    ),
    "ratelimit-edit-keeps-the-rest": (
        RateLimitForm,
        {"selector": "app=details", "max_tokens": 10, "tokens_per_fill": 5, "fill_interval": "500ms"},
        RATE_LIMIT,
    ),
}


def assert_golden(case: str, documents: list[dict[str, Any]]) -> None:
    """The documents are the golden file's YAML, and the control plane's schema accepts them."""
    produced = to_yaml([for_export(d) for d in documents])
    golden = GOLDEN / f"{case}.yaml"
    if os.environ.get("MESHSCOPE_UPDATE_GOLDEN") == "1":
        golden.write_text(produced)
    assert produced == golden.read_text()
    for document in documents:
        spec_view(Resource.from_dict(document))  # raises on anything Istio's schema refuses


@pytest.mark.parametrize("case", sorted(CASES))
def test_form_output_matches_the_golden_yaml_and_the_schema(case: str) -> None:
    form_class, data, existing = CASES[case]
    form = form_class(data, existing=existing)
    assert form.is_valid(), form.errors or (getattr(form, "rules", None) and form.rules.errors)
    documents = form.documents()
    assert_golden(case, documents)
    if existing is not None:
        assert documents[0]["metadata"]["resourceVersion"] == "7"  # a concurrent edit is a conflict


ROUTE_CASES = {
    "dr-tls-istio-mutual": ({"tls_mode": "ISTIO_MUTUAL"}, reviews_target()),
    "dr-tls-disable-and-peer-strict": (
        {"tls_mode": "DISABLE", "peer_authentication_mode": "STRICT"},
        reviews_target(),
    ),
    "dr-tls-auto-removes-mode-and-edits-peer-in-place": (
        {"tls_mode": "", "peer_authentication_mode": "PERMISSIVE", "load_balancer": "RANDOM"},
        reviews_target(
            HAND_WRITTEN_PEER
            | {"spec": {**HAND_WRITTEN_PEER["spec"], "selector": {"matchLabels": {"app": "reviews"}}}},
            "destination-rule-all-mtls",
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(ROUTE_CASES))
def test_route_policy_form_sets_the_tls_and_peer_authentication_modes(case: str) -> None:
    data, target = ROUTE_CASES[case]
    form = TrafficPolicyForm(data, target=target)
    assert form.is_valid(), form.errors
    assert_golden(case, form.documents())


def test_route_policy_form_shows_the_stored_modes() -> None:
    peer = HAND_WRITTEN_PEER | {
        "spec": {"selector": {"matchLabels": {"app": "reviews"}}, "mtls": {"mode": "STRICT"}}
    }
    form = TrafficPolicyForm(target=reviews_target(peer, "destination-rule-all-mtls"))
    assert (form["tls_mode"].value(), form["peer_authentication_mode"].value()) == ("ISTIO_MUTUAL", "STRICT")


INVALID = {
    "principal with spiffe://": (
        AuthorizationPolicyForm,
        rules_data(
            {"principals": "spiffe://cluster.local/ns/default/sa/x"},
            name="p",
            namespace="default",
            preset="rules",
            action="ALLOW",
        ),
        ("rule", "principals", "without spiffe://"),
    ),
    "bad method": (
        AuthorizationPolicyForm,
        rules_data({"methods": "GE T!"}, name="p", namespace="default", preset="rules", action="ALLOW"),
        ("rule", "methods", "not an HTTP method"),
    ),
    "bad condition": (
        AuthorizationPolicyForm,
        rules_data(
            {"when": "request.headers[end-user]"},
            name="p",
            namespace="default",
            preset="rules",
            action="DENY",
        ),
        ("rule", "when", "line 1"),
    ),
    "rules preset without rules": (
        AuthorizationPolicyForm,
        rules_data(name="p", namespace="default", preset="rules", action="ALLOW"),
        ("form", "preset", "allow-nothing"),
    ),
    "bad name": (
        PeerAuthenticationForm,
        {"scope": "mesh", "name": "Not_A_Name", "mode": "STRICT"},
        ("form", "name", "DNS-1123"),
    ),
    "bad label": (
        PeerAuthenticationForm,
        {"scope": "workload", "namespace": "default", "name": "x", "selector": "app", "mode": "STRICT"},
        ("form", "selector", "key=value"),
    ),
    "port modes without a selector": (
        PeerAuthenticationForm,
        {
            "scope": "namespace",
            "namespace": "default",
            "name": "x",
            "mode": "STRICT",
            "port_modes": "9080=DISABLE",
        },
        ("form", "port_modes", "workload selector"),
    ),
    "bad port mode": (
        PeerAuthenticationForm,
        {
            "scope": "workload",
            "namespace": "default",
            "name": "x",
            "selector": "app=a",
            "mode": "STRICT",
            "port_modes": "9080=OFF",
        },
        ("form", "port_modes", "must be one of"),
    ),
    "workload scope without labels": (
        PeerAuthenticationForm,
        {"scope": "workload", "namespace": "default", "name": "x", "mode": "STRICT"},
        ("form", "selector", "name the labels"),
    ),
    "fill interval under 50ms": (
        RateLimitForm,
        {
            "name": "x",
            "namespace": "istio-system",
            "selector": "app=details",
            "max_tokens": 1,
            "fill_interval": "10ms",
        },
        ("form", "fill_interval", "at least 50ms"),
    ),
    "rate limit for every workload": (
        RateLimitForm,
        {"name": "x", "namespace": "istio-system", "selector": "", "max_tokens": 1, "fill_interval": "1s"},
        ("form", "selector", "required"),
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_bad_input_is_an_error_on_its_field(case: str) -> None:
    form_class, data, (where, field, text) = INVALID[case]
    form = form_class(data, existing=None)
    assert not form.is_valid()
    errors = form.rules.forms[0].errors if where == "rule" else form.errors
    assert field in errors, errors
    assert any(text in message for message in errors[field]), errors[field]
