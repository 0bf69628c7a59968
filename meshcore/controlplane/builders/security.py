"""Security builders: SDS secrets, mTLS transport sockets, inbound filter chains per mode, RBAC from
AuthorizationPolicies and the local rate limit filter, in the shapes Istio gives Envoy.

Pure functions producing Envoy's JSON form (``proto.to_message`` parses them). Istio's names:
secrets ``default`` (the workload's certificate and key) and ``ROOTCA`` (the trust bundle), both
fetched over the ADS stream; SNI ``outbound_.9080_.v1_.reviews.default.svc.cluster.local``; RBAC
policy keys ``ns[<ns>]-policy[<name>]-rule[<i>]`` with DENY filters before ALLOW filters.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from meshcore.model.resources import Resource
from meshcore.model.security import (
    AuthorizationPolicySpec,
    AuthorizationRule,
    Condition,
    EnvoyFilterSpec,
    LocalRateLimitPatch,
    Operation,
    Source,
)
from meshcore.model.security_schema import LOCAL_RATELIMIT_FILTER, LOCAL_RATELIMIT_TYPE

WORKLOAD_SECRET = "default"
ROOT_SECRET = "ROOTCA"
TLS_SOCKET = "envoy.transport_sockets.tls"
RAW_BUFFER_SOCKET = "envoy.transport_sockets.raw_buffer"
UPSTREAM_TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
DOWNSTREAM_TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
RAW_BUFFER_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
TLS_INSPECTOR_TYPE = "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
RBAC_FILTER = "envoy.filters.http.rbac"
RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
ROUTER_FILTER = "envoy.filters.http.router"
# Endpoint metadata Istio's auto mTLS matches on: sidecars that accept mTLS carry tlsMode=istio.
TLS_MODE_METADATA = "envoy.transport_socket_match"
MTLS_STAT_SUFFIX = "_mtls"
PLAINTEXT_STAT_SUFFIX = "_plaintext"
RBAC_STAT_PREFIXES = {"DENY": "deny_", "ALLOW": "allow_"}


def ads_secret(name: str) -> dict[str, Any]:
    """An SdsSecretConfig that fetches secret ``name`` over the ADS stream."""
    return {"name": name, "sds_config": {"ads": {}, "resource_api_version": "V3"}}


def make_secrets(cert_chain_pem: bytes, private_key_pem: bytes, root_pem: bytes) -> dict[str, dict[str, Any]]:
    """The two SDS secrets of one proxy: ``default`` (its certificate) and ``ROOTCA`` (whom to trust)."""
    return {
        WORKLOAD_SECRET: {
            "name": WORKLOAD_SECRET,
            "tls_certificate": {
                "certificate_chain": {"inline_bytes": _b64(cert_chain_pem)},
                "private_key": {"inline_bytes": _b64(private_key_pem)},
            },
        },
        ROOT_SECRET: {
            "name": ROOT_SECRET,
            "validation_context": {"trusted_ca": {"inline_bytes": _b64(root_pem)}},
        },
    }


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def _common_tls_context(san_matchers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "tls_certificate_sds_secret_configs": [ads_secret(WORKLOAD_SECRET)],
        "combined_validation_context": {
            "default_validation_context": {
                "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": m} for m in san_matchers]
            },
            "validation_context_sds_secret_config": ads_secret(ROOT_SECRET),
        },
    }


def outbound_sni(port: int, subset: str | None, fqdn: str) -> str:
    """Istio's SNI for a mesh cluster: ``outbound_.9080_.v2_.reviews.default.svc.cluster.local``."""
    return f"outbound_.{port}_.{subset or ''}_.{fqdn}"


def make_upstream_tls_socket(sni: str, expected_sans: Iterable[str]) -> dict[str, Any]:
    """The client side of ISTIO_MUTUAL: present ``default``, trust ``ROOTCA``, accept only a
    server whose certificate names one of ``expected_sans`` (SPIFFE ids)."""
    return {
        "name": TLS_SOCKET,
        "typed_config": {
            "@type": UPSTREAM_TLS_TYPE,
            "sni": sni,
            "common_tls_context": _common_tls_context([{"exact": san} for san in sorted(set(expected_sans))]),
        },
    }


def make_downstream_tls_socket(trust_domain: str) -> dict[str, Any]:
    """The server side: require a client certificate from the mesh's trust domain."""
    return {
        "name": TLS_SOCKET,
        "typed_config": {
            "@type": DOWNSTREAM_TLS_TYPE,
            "require_client_certificate": True,
            "common_tls_context": _common_tls_context([{"prefix": f"spiffe://{trust_domain}/"}]),
        },
    }


def secure_cluster(
    cluster: dict[str, Any], tls_endpoints: Sequence[bool], sni: str, expected_sans: Iterable[str]
) -> dict[str, Any]:
    """``cluster`` with its transport socket for mTLS to the endpoints flagged True in ``tls_endpoints``
    (one flag per endpoint, or one flag for a cluster without endpoints).

    All True: one TLS socket. All False: plaintext (unchanged). Mixed: Istio's
    auto-mTLS form, ``transport_socket_matches`` keyed on each endpoint's ``tlsMode`` metadata
    (``endpoint_metadata`` below gives it).
    """
    if not any(tls_endpoints):
        return cluster
    socket = make_upstream_tls_socket(sni, expected_sans)
    secured = dict(cluster)
    if all(tls_endpoints):
        secured["transport_socket"] = socket
    else:
        secured["transport_socket_matches"] = [
            {"name": "tlsMode-istio", "match": {"tlsMode": "istio"}, "transport_socket": socket},
            {
                "name": "tlsMode-disabled",
                "match": {},
                "transport_socket": {"name": RAW_BUFFER_SOCKET, "typed_config": {"@type": RAW_BUFFER_TYPE}},
            },
        ]
    return secured


def endpoint_metadata(accepts_mtls: bool) -> dict[str, Any]:
    """The lb_endpoint metadata auto mTLS matches: ``tlsMode: istio`` on sidecars accepting mTLS."""
    return {"filter_metadata": {TLS_MODE_METADATA: {"tlsMode": "istio" if accepts_mtls else "disabled"}}}


# --- inbound listener -----------------------------------------------------------------------------


def make_inbound_filter_chains(
    mode: str, manager_for: Callable[[str], dict[str, Any]], stat_prefix: str, trust_domain: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(listener_filters, filter_chains) of an inbound listener for a PeerAuthentication mode.

    STRICT: one TLS chain requiring a mesh client certificate (plaintext finds no chain: reset).
    PERMISSIVE: that chain plus a plaintext one. DISABLE: plaintext only. ``manager_for(prefix)``
    builds the HCM of a chain; TLS requests count under ``<stat_prefix>_mtls``, plaintext ones under
    ``<stat_prefix>_plaintext``, so the two can be told apart in ``http.<prefix>.*`` stats.
    """

    def chain(prefix: str, match: dict[str, Any], socket: dict[str, Any] | None) -> dict[str, Any]:
        built: dict[str, Any] = {
            "filter_chain_match": match,
            "filters": [
                {"name": "envoy.filters.network.http_connection_manager", "typed_config": manager_for(prefix)}
            ],
        }
        if socket is not None:
            built["transport_socket"] = socket
        return built

    tls = chain(
        stat_prefix + MTLS_STAT_SUFFIX,
        {"transport_protocol": "tls"},
        make_downstream_tls_socket(trust_domain),
    )
    plaintext = chain(stat_prefix + PLAINTEXT_STAT_SUFFIX, {"transport_protocol": "raw_buffer"}, None)
    inspector = [
        {"name": "envoy.filters.listener.tls_inspector", "typed_config": {"@type": TLS_INSPECTOR_TYPE}}
    ]
    if mode == "STRICT":
        return inspector, [tls]
    if mode == "DISABLE":
        plaintext["filter_chain_match"] = {}
        return [], [plaintext]
    return inspector, [tls, plaintext]


def with_inbound_filters(
    manager: dict[str, Any], filters: Sequence[dict[str, Any]], rate_limits: Sequence[LocalRateLimitPatch]
) -> dict[str, Any]:
    """A copy of an inbound HCM with ``filters`` (RBAC) before its router, the rate-limit patches
    inserted where each says, and the caller's identity forwarded to the app in XFCC."""
    secured = copy.deepcopy(manager)
    http_filters = secured["http_filters"]
    router_at = next(i for i, f in enumerate(http_filters) if f["name"] == ROUTER_FILTER)
    http_filters[router_at:router_at] = list(filters)
    for patch in rate_limits:
        _insert(http_filters, patch, make_local_ratelimit_filter(patch))
    # The app sees who called it (By/URI of the peer); a client's own XFCC is replaced, not trusted.
    secured["forward_client_cert_details"] = "SANITIZE_SET"
    secured["set_current_client_cert_details"] = {"uri": True}
    return secured


def _insert(http_filters: list[dict[str, Any]], patch: LocalRateLimitPatch, new: dict[str, Any]) -> None:
    names = [f["name"] for f in http_filters]
    if patch.operation == "INSERT_FIRST" or (
        patch.operation == "INSERT_BEFORE" and patch.sub_filter not in names
    ):
        http_filters.insert(0, new)
    elif patch.operation == "INSERT_BEFORE":
        http_filters.insert(names.index(patch.sub_filter), new)  # type: ignore[arg-type]
    elif patch.sub_filter in names and patch.sub_filter != ROUTER_FILTER:  # INSERT_AFTER
        http_filters.insert(names.index(patch.sub_filter) + 1, new)  # type: ignore[arg-type]
    else:
        # After the router nothing runs: Istio would do it; meshcore puts it last before the router.
        http_filters.insert(len(http_filters) - 1, new)


def make_local_ratelimit_filter(patch: LocalRateLimitPatch) -> dict[str, Any]:
    return {
        "name": LOCAL_RATELIMIT_FILTER,
        "typed_config": {"@type": LOCAL_RATELIMIT_TYPE, **copy.deepcopy(dict(patch.config))},
    }


def rate_limit_patches(
    filters: Iterable[tuple[Resource, EnvoyFilterSpec]], service_port: int
) -> list[LocalRateLimitPatch]:
    """The patches of ``filters`` that apply to an inbound listener of ``service_port``."""
    return [
        patch
        for _, spec in filters
        for patch in spec.patches
        if patch.port is None or patch.port == service_port
    ]


# --- RBAC -----------------------------------------------------------------------------------------


def _string_matcher(value: str) -> dict[str, Any]:
    """Istio's wildcard strings: ``*`` any, ``x*`` prefix, ``*x`` suffix, otherwise exact."""
    if value == "*":
        return {"safe_regex": {"regex": ".+"}}
    if value.endswith("*"):
        return {"prefix": value[:-1]}
    if value.startswith("*"):
        return {"suffix": value[1:]}
    return {"exact": value}


def _principal_name(matcher: dict[str, Any]) -> dict[str, Any]:
    return {"authenticated": {"principal_name": matcher}}


def _principal(value: str) -> dict[str, Any]:
    """A ``principals`` entry (``cluster.local/ns/default/sa/x``) -> the peer's SPIFFE URI SAN."""
    if value == "*":
        return _principal_name({"safe_regex": {"regex": ".+"}})
    if value.startswith("*"):
        return _principal_name({"suffix": value[1:]})
    return _principal_name({k: f"spiffe://{v}" for k, v in _string_matcher(value).items()})


def _namespace(value: str) -> dict[str, Any]:
    if value == "*":
        return _principal_name({"safe_regex": {"regex": ".+"}})
    return _principal_name({"safe_regex": {"regex": f".*/ns/{_regex_escape(value)}/.*"}})


def _regex_escape(value: str) -> str:
    import re

    return re.escape(value)


def _any_of(items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return items[0] if len(items) == 1 else {key: {"ids" if key == "or_ids" else "rules": items}}


def _ids(values: Iterable[str], build: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    return _any_of([build(v) for v in values], "or_ids")


def _all_ids(items: list[dict[str, Any]]) -> dict[str, Any]:
    if not items:
        return {"any": True}
    return items[0] if len(items) == 1 else {"and_ids": {"ids": items}}


def _all_rules(items: list[dict[str, Any]]) -> dict[str, Any]:
    if not items:
        return {"any": True}
    return items[0] if len(items) == 1 else {"and_rules": {"rules": items}}


def _source_principal(source: Source) -> dict[str, Any]:
    parts = []
    if source.principals:
        parts.append(_ids(source.principals, _principal))
    if source.not_principals:
        parts.append({"not_id": _ids(source.not_principals, _principal)})
    if source.namespaces:
        parts.append(_ids(source.namespaces, _namespace))
    if source.not_namespaces:
        parts.append({"not_id": _ids(source.not_namespaces, _namespace)})
    return _all_ids(parts)


def _rules(values: Iterable[Any], build: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    return _any_of([build(v) for v in values], "or_rules")


def _header(name: str) -> Callable[[str], dict[str, Any]]:
    return lambda value: {"header": {"name": name, "string_match": _string_matcher(value)}}


def _path(value: str) -> dict[str, Any]:
    return {"url_path": {"path": _string_matcher(value)}}


def _operation_permission(operation: Operation, service_port: int, inbound_port: int) -> dict[str, Any]:
    def port(value: int) -> dict[str, Any]:
        # AuthorizationPolicy ports are the workload's (9080); the local mesh's sidecar listens on
        # its own inbound port, so the service port maps to it and any other port never matches.
        return {"destination_port": inbound_port} if value == service_port else {"not_rule": {"any": True}}

    parts = []
    for values, build, negate in (
        (operation.hosts, _header(":authority"), False),
        (operation.not_hosts, _header(":authority"), True),
        (operation.ports, port, False),
        (operation.not_ports, port, True),
        (operation.methods, _header(":method"), False),
        (operation.not_methods, _header(":method"), True),
        (operation.paths, _path, False),
        (operation.not_paths, _path, True),
    ):
        if values:
            rule = _rules(values, build)
            parts.append({"not_rule": rule} if negate else rule)
    return _all_rules(parts)


def _condition(condition: Condition) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(permission, principal) for a ``when`` entry; headers are permissions, peers principals."""
    header = condition.header
    if header is not None:
        parts = []
        if condition.values:
            parts.append(_rules(condition.values, _header(header)))
        if condition.not_values:
            parts.append({"not_rule": _rules(condition.not_values, _header(header))})
        return _all_rules(parts), None
    build = _principal if condition.key == "source.principal" else _namespace
    ids = []
    if condition.values:
        ids.append(_ids(condition.values, build))
    if condition.not_values:
        ids.append({"not_id": _ids(condition.not_values, build)})
    return None, _all_ids(ids)


def make_rbac_policy(rule: AuthorizationRule, service_port: int, inbound_port: int) -> dict[str, Any]:
    """One Envoy RBAC policy: any ``from`` source AND any ``to`` operation AND every ``when``."""
    permissions: list[dict[str, Any]] = []
    principals: list[dict[str, Any]] = []
    if rule.operations:
        permissions.append(
            _any_of(
                [_operation_permission(o, service_port, inbound_port) for o in rule.operations], "or_rules"
            )
        )
    if rule.sources:
        principals.append(_any_of([_source_principal(s) for s in rule.sources], "or_ids"))
    for condition in rule.conditions:
        permission, principal = _condition(condition)
        if permission is not None:
            permissions.append(permission)
        if principal is not None:
            principals.append(principal)
    return {"permissions": [_all_rules(permissions)], "principals": [_all_ids(principals)]}


def rbac_policy_name(resource: Resource, rule_index: int) -> str:
    return f"ns[{resource.namespace}]-policy[{resource.name}]-rule[{rule_index}]"


def make_rbac_filters(
    policies: Iterable[tuple[Resource, AuthorizationPolicySpec]], service_port: int, inbound_port: int
) -> list[dict[str, Any]]:
    """Istio's RBAC filters for the policies selecting a workload: DENY first, then ALLOW.

    No policy of an action: no filter for it. ALLOW policies whose rules are all empty lists leave
    the ALLOW filter without policies, which denies every request (Istio's "allow nothing").
    """
    by_action: dict[str, dict[str, Any]] = {"DENY": {}, "ALLOW": {}}
    present: set[str] = set()
    for resource, spec in policies:
        present.add(spec.action)
        for index, rule in enumerate(spec.rules):
            by_action[spec.action][rbac_policy_name(resource, index)] = make_rbac_policy(
                rule, service_port, inbound_port
            )
    filters = []
    for action in ("DENY", "ALLOW"):
        if action not in present:
            continue
        filters.append(
            {
                "name": RBAC_FILTER,
                "typed_config": {
                    "@type": RBAC_TYPE,
                    "rules": {"action": action, "policies": by_action[action]},
                    # Without distinct prefixes the two filters would share one set of counters.
                    "rules_stat_prefix": RBAC_STAT_PREFIXES[action],
                    "track_per_rule_stats": True,
                },
            }
        )
    return filters
