"""Field tables for Istio's security resources and the mTLS part of networking.

PeerAuthentication and AuthorizationPolicy (security.istio.io/v1), DestinationRule
``trafficPolicy.tls`` (``CLIENT_TLS``) and the one EnvoyFilter shape meshcore implements: an
``HTTP_FILTER`` patch inserting ``envoy.filters.http.local_ratelimit`` into a sidecar's inbound HTTP
connection manager (Istio's documented local rate limit). Every other EnvoyFilter patch is refused
with a message saying so, rather than being ignored. Same conventions as ``istio_schema``: paths
start with ``spec``, Istio fields meshcore does not implement are ``unsupported``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from meshcore.model.errors import FieldError, join_path
from meshcore.model.schema import (
    Field,
    Int,
    ListOf,
    MapOf,
    Obj,
    Str,
    at_least_one_of,
    describe,
    unsupported,
)

MTLS_MODES: tuple[str, ...] = ("UNSET", "DISABLE", "PERMISSIVE", "STRICT")
CLIENT_TLS_MODES: tuple[str, ...] = ("DISABLE", "ISTIO_MUTUAL")
AUTHORIZATION_ACTIONS: tuple[str, ...] = ("ALLOW", "DENY")
LOCAL_RATELIMIT_FILTER = "envoy.filters.http.local_ratelimit"
LOCAL_RATELIMIT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
TYPED_STRUCT_TYPES: tuple[str, ...] = (
    "type.googleapis.com/udpa.type.v1.TypedStruct",
    "type.googleapis.com/xds.type.v3.TypedStruct",
)
HCM_FILTER = "envoy.filters.network.http_connection_manager"
PATCH_OPERATIONS: tuple[str, ...] = ("INSERT_BEFORE", "INSERT_AFTER", "INSERT_FIRST")
_HEADER_KEY = re.compile(r"^request\.headers\[([A-Za-z0-9!#$%&'*+.^_`|~-]+)\]$")
CONDITION_KEYS_HELP = "request.headers[<name>], source.principal or source.namespace"
_PORT_KEY = re.compile(r"^[0-9]{1,5}$")
_ONLY_RATE_LIMIT = (
    "not supported by meshcore: the only EnvoyFilter meshcore applies is an HTTP_FILTER patch "
    f"inserting {LOCAL_RATELIMIT_FILTER} (Istio's local rate limit)"
)


def header_condition_name(key: str) -> str | None:
    """The header a ``when[].key`` of the form ``request.headers[<name>]`` names (lower-cased)."""
    match = _HEADER_KEY.match(key)
    return match.group(1).lower() if match else None


def _condition_key_problem(value: str) -> str | None:
    if header_condition_name(value) is not None or value in ("source.principal", "source.namespace"):
        return None
    return f"{describe(value)} is not supported by meshcore; use {CONDITION_KEYS_HELP}"


def _port_string_problem(value: str) -> str | None:
    if _PORT_KEY.match(value) and 1 <= int(value) <= 65535:
        return None
    return f"{describe(value)} must be a port number from 1 to 65535"


def _method_problem(value: str) -> str | None:
    return (
        None if value and value.isupper() and value.isalpha() else f"{describe(value)} must be an HTTP method"
    )


def _not_empty(value: Mapping[str, Any], path: str, what: str) -> list[FieldError]:
    """Istio refuses an empty source or operation (it would match everything by accident)."""
    return [] if value else [FieldError(path, f"an empty {what} is not allowed; omit it to match any")]


STRINGS = ListOf(Str(non_empty=True), non_empty=True)
PORTS = ListOf(Str(non_empty=True, extra=_port_string_problem), non_empty=True)
METHODS = ListOf(Str(extra=_method_problem), non_empty=True)
WORKLOAD_SELECTOR = Obj({"matchLabels": Field(MapOf(Str()), required=True)})

# --- PeerAuthentication -------------------------------------------------------------------------

MTLS = Obj({"mode": Field(Str(choices=MTLS_MODES))})


@dataclass(frozen=True)
class PortKeyedMap:
    """``portLevelMtls``: keys are port numbers (strings in YAML maps, or integers)."""

    value: Obj

    def check(self, value: Any, path: str, rules: bool = True) -> list[FieldError]:
        if not isinstance(value, Mapping):
            return [FieldError(path, f"must be an object (a map of port numbers), got {describe(value)}")]
        errors = []
        for key, item in value.items():
            entry = f"{path}[{key}]" if isinstance(key, int) else f"{path}[{describe(key)}]"
            problem = _port_string_problem(str(key)) if isinstance(key, int | str) else "must be a port"
            if rules and problem:
                errors.append(FieldError(entry, f"key {problem}"))
            errors += self.value.check(item, entry, rules)
        return errors


def _port_level_needs_selector(spec: Mapping[str, Any], path: str) -> list[FieldError]:
    """Istio refuses port-level settings without a workload selector (ports belong to workloads)."""
    if spec.get("portLevelMtls") and not spec.get("selector"):
        return [
            FieldError(join_path(path, "portLevelMtls"), "requires a selector (ports belong to workloads)")
        ]
    return []


PEER_AUTHENTICATION_SPEC = Obj(
    {
        "selector": Field(WORKLOAD_SELECTOR),
        "mtls": Field(MTLS),
        "portLevelMtls": Field(PortKeyedMap(MTLS)),
        "targetRef": unsupported(),
        "targetRefs": unsupported(),
    },
    checks=(_port_level_needs_selector,),
)

# --- AuthorizationPolicy ------------------------------------------------------------------------

SOURCE = Obj(
    {
        "principals": Field(STRINGS),
        "notPrincipals": Field(STRINGS),
        "namespaces": Field(STRINGS),
        "notNamespaces": Field(STRINGS),
        "requestPrincipals": unsupported("not supported by meshcore (no RequestAuthentication/JWT)"),
        "notRequestPrincipals": unsupported("not supported by meshcore (no RequestAuthentication/JWT)"),
        "ipBlocks": unsupported(),
        "notIpBlocks": unsupported(),
        "remoteIpBlocks": unsupported(),
        "notRemoteIpBlocks": unsupported(),
        "serviceAccounts": unsupported(),
        "notServiceAccounts": unsupported(),
    },
    checks=(lambda value, path: _not_empty(value, path, "source"),),
)
OPERATION = Obj(
    {
        "hosts": Field(STRINGS),
        "notHosts": Field(STRINGS),
        "ports": Field(PORTS),
        "notPorts": Field(PORTS),
        "methods": Field(METHODS),
        "notMethods": Field(METHODS),
        "paths": Field(STRINGS),
        "notPaths": Field(STRINGS),
    },
    checks=(lambda value, path: _not_empty(value, path, "operation"),),
)
CONDITION = Obj(
    {
        "key": Field(Str(non_empty=True, extra=_condition_key_problem), required=True),
        "values": Field(STRINGS),
        "notValues": Field(STRINGS),
    },
    checks=(at_least_one_of("values", "notValues"),),
)
RULE = Obj(
    {
        "from": Field(ListOf(Obj({"source": Field(SOURCE, required=True)}), non_empty=True)),
        "to": Field(ListOf(Obj({"operation": Field(OPERATION, required=True)}), non_empty=True)),
        "when": Field(ListOf(CONDITION, non_empty=True)),
    }
)


def _action_problem(value: str) -> str | None:
    if value in AUTHORIZATION_ACTIONS:
        return None
    if value in ("AUDIT", "CUSTOM"):
        return f"{value} is not supported by meshcore; use ALLOW or DENY"
    return f"must be one of {', '.join(AUTHORIZATION_ACTIONS)}, got {describe(value)}"


AUTHORIZATION_POLICY_SPEC = Obj(
    {
        "selector": Field(WORKLOAD_SELECTOR),
        "action": Field(Str(extra=_action_problem)),
        "rules": Field(ListOf(RULE)),
        "provider": unsupported("not supported by meshcore (CUSTOM action)"),
        "targetRef": unsupported(),
        "targetRefs": unsupported(),
    }
)

# --- DestinationRule trafficPolicy.tls ------------------------------------------------------------

_EXTERNAL_TLS = "not supported by meshcore (only ISTIO_MUTUAL and DISABLE, with the mesh's own certificates)"
CLIENT_TLS = Obj(
    {
        "mode": Field(
            Str(
                extra=lambda mode: (
                    None
                    if mode in CLIENT_TLS_MODES
                    else (
                        f"{describe(mode)} is not supported by meshcore; use ISTIO_MUTUAL or DISABLE"
                        if mode in ("SIMPLE", "MUTUAL")
                        else f"must be one of {', '.join(CLIENT_TLS_MODES)}, got {describe(mode)}"
                    )
                )
            ),
            required=True,
        ),
        "sni": Field(Str(non_empty=True)),
        "subjectAltNames": Field(STRINGS),
        "clientCertificate": unsupported(_EXTERNAL_TLS),
        "privateKey": unsupported(_EXTERNAL_TLS),
        "caCertificates": unsupported(_EXTERNAL_TLS),
        "credentialName": unsupported(_EXTERNAL_TLS),
        "insecureSkipVerify": unsupported(_EXTERNAL_TLS),
        "caCrl": unsupported(_EXTERNAL_TLS),
    }
)

# --- EnvoyFilter: the local rate limit patch ------------------------------------------------------


@dataclass(frozen=True)
class LocalRateLimitConfig:
    """A ``typed_config`` holding Envoy's LocalRateLimit, directly or inside a TypedStruct.

    Parsed with Envoy's own protobuf message, so a misspelled field fails here with its path.
    """

    def check(self, value: Any, path: str, rules: bool = True) -> list[FieldError]:
        if not isinstance(value, Mapping):
            return [FieldError(path, f"must be an object, got {describe(value)}")]
        config, config_path, problem = unwrap_typed_config(value, path)
        if problem is not None:
            return [problem]
        try:
            message = parse_local_rate_limit(config)
        except json_format.ParseError as error:
            # The first line names the field; the rest lists every field of the message.
            reason = str(error).splitlines()[0]
            return [FieldError(config_path, f"not a valid LocalRateLimit: {reason}")]
        if not rules:
            return []
        errors = []
        if not message.stat_prefix:
            errors.append(FieldError(join_path(config_path, "stat_prefix"), "required"))
        if not message.HasField("token_bucket"):
            errors.append(FieldError(join_path(config_path, "token_bucket"), "required"))
        else:
            bucket = message.token_bucket
            if bucket.max_tokens < 1:
                errors.append(FieldError(join_path(config_path, "token_bucket.max_tokens"), "must be >= 1"))
            if bucket.fill_interval.ToNanoseconds() <= 0:
                errors.append(FieldError(join_path(config_path, "token_bucket.fill_interval"), "must be > 0"))
        return errors


def unwrap_typed_config(value: Mapping[str, Any], path: str) -> tuple[dict[str, Any], str, FieldError | None]:
    """(LocalRateLimit fields without ``@type``, their path, or a problem) of a ``typed_config``."""
    kind = value.get("@type")
    if kind in TYPED_STRUCT_TYPES:
        if value.get("type_url") != LOCAL_RATELIMIT_TYPE:
            return {}, path, FieldError(join_path(path, "type_url"), f"must be {LOCAL_RATELIMIT_TYPE}")
        inner = value.get("value", {})
        if not isinstance(inner, Mapping):
            return {}, path, FieldError(join_path(path, "value"), f"must be an object, got {describe(inner)}")
        return dict(inner), join_path(path, "value"), None
    if kind == LOCAL_RATELIMIT_TYPE:
        return {k: v for k, v in value.items() if k != "@type"}, path, None
    expected = ", ".join((LOCAL_RATELIMIT_TYPE, *TYPED_STRUCT_TYPES))
    return {}, path, FieldError(join_path(path, "@type"), f"must be one of {expected}, got {describe(kind)}")


def parse_local_rate_limit(config: Mapping[str, Any]) -> Any:
    """Envoy's LocalRateLimit message from its JSON fields; raises json_format.ParseError."""
    from envoy.extensions.filters.http.local_ratelimit.v3 import local_rate_limit_pb2

    message = local_rate_limit_pb2.LocalRateLimit()
    json_format.ParseDict(dict(config), message)
    return message


def _choice(allowed: tuple[str, ...], refusal: str) -> Str:
    return Str(
        extra=lambda value: (
            None if value in allowed else f"{describe(value)} is {refusal}; use {' or '.join(allowed)}"
        )
    )


SUB_FILTER = Obj({"name": Field(Str(non_empty=True), required=True)})
FILTER_MATCH = Obj(
    {
        "name": Field(_choice((HCM_FILTER,), _ONLY_RATE_LIMIT)),
        "subFilter": Field(SUB_FILTER),
    }
)
LISTENER_MATCH = Obj(
    {
        "portNumber": Field(Int(1, 65535)),
        "filterChain": Field(Obj({"filter": Field(FILTER_MATCH), "name": unsupported()})),
        "name": unsupported(),
        "listenerFilter": unsupported(),
    }
)
PATCH_MATCH = Obj(
    {
        "context": Field(
            _choice(
                ("SIDECAR_INBOUND",), "not supported by meshcore (the rate limit runs on inbound sidecars)"
            )
        ),
        "listener": Field(LISTENER_MATCH),
        "proxy": unsupported(),
        "routeConfiguration": unsupported(_ONLY_RATE_LIMIT),
        "cluster": unsupported(_ONLY_RATE_LIMIT),
    }
)
FILTER_VALUE = Obj(
    {
        "name": Field(_choice((LOCAL_RATELIMIT_FILTER,), _ONLY_RATE_LIMIT), required=True),
        "typed_config": Field(LocalRateLimitConfig(), required=True),
    }
)
PATCH = Obj(
    {
        "operation": Field(
            _choice(PATCH_OPERATIONS, "not supported by meshcore for the local rate limit filter"),
            required=True,
        ),
        "value": Field(FILTER_VALUE, required=True),
        "filterClass": unsupported(),
    }
)
CONFIG_PATCH = Obj(
    {
        "applyTo": Field(_choice(("HTTP_FILTER",), _ONLY_RATE_LIMIT), required=True),
        "match": Field(PATCH_MATCH),
        "patch": Field(PATCH, required=True),
    }
)
ENVOY_FILTER_SPEC = Obj(
    {
        "workloadSelector": Field(Obj({"labels": Field(MapOf(Str()), required=True)})),
        "configPatches": Field(ListOf(CONFIG_PATCH, non_empty=True), required=True),
        "priority": Field(Int()),
        "targetRefs": unsupported(),
    }
)

SECURITY_SPEC_SCHEMAS: dict[str, Obj] = {
    "PeerAuthentication": PEER_AUTHENTICATION_SPEC,
    "AuthorizationPolicy": AUTHORIZATION_POLICY_SPEC,
    "EnvoyFilter": ENVOY_FILTER_SPEC,
}
