"""Building and editing Istio security documents for the security forms. Pure: no Django, no I/O.

As ``dashboard.routes.documents`` does for routing objects: every editor takes the stored
document (or None when the object does not exist yet) and returns a new one; the input is never
mutated; only what the form shows changes, every other field is kept (labels, other selector
labels' keys, ``notPrincipals``, ``ipBlocks``, further ``from`` / ``to`` entries, the rest of an
EnvoyFilter). The shapes are Istio's own: ``security.istio.io/v1`` PeerAuthentication and
AuthorizationPolicy, and the ``networking.istio.io/v1alpha3`` EnvoyFilter of Istio's local rate
limit task.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dashboard.routes.documents import copy_document

SECURITY_API_VERSION = "security.istio.io/v1"
ENVOY_FILTER_API_VERSION = "networking.istio.io/v1alpha3"
ROOT_NAMESPACE = "istio-system"
RATE_LIMIT_FILTER = "envoy.filters.http.local_ratelimit"
RATE_LIMIT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
TYPED_STRUCT = "type.googleapis.com/udpa.type.v1.TypedStruct"
Document = dict[str, Any]


def new_security_document(
    kind: str, name: str, namespace: str, api_version: str = SECURITY_API_VERSION
) -> Document:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {},
    }


def _start(
    document: Mapping[str, Any] | None, kind: str, name: str, namespace: str, api_version: str
) -> Document:
    return copy_document(document) if document else new_security_document(kind, name, namespace, api_version)


def _set_or_drop(mapping: dict[str, Any], key: str, value: Any) -> None:
    if value in (None, "", [], {}):
        mapping.pop(key, None)
    else:
        mapping[key] = value


def _set_selector(spec: dict[str, Any], key: str, labels_key: str, labels: Mapping[str, str]) -> None:
    """Set the selector's labels (other selector fields kept); no labels removes the selector."""
    selector = dict(spec.get(key) or {})
    _set_or_drop(selector, labels_key, dict(labels))
    _set_or_drop(spec, key, selector if labels else {})


# --- PeerAuthentication ------------------------------------------------------------------------


def set_peer_authentication(
    document: Mapping[str, Any] | None,
    name: str,
    namespace: str,
    selector: Mapping[str, str],
    mode: str,
    port_modes: Mapping[int, str],
) -> Document:
    """``selector`` empty: namespace-wide (mesh-wide in ``istio-system``); ``mode`` UNSET inherits
    (it is then left out, as Istio's own samples do); ``port_modes`` replaces ``portLevelMtls``
    (fields of an existing port entry besides ``mode`` are kept)."""
    result = _start(document, "PeerAuthentication", name, namespace, SECURITY_API_VERSION)
    spec = result["spec"]
    _set_selector(spec, "selector", "matchLabels", selector)
    mtls = dict(spec.get("mtls") or {})
    _set_or_drop(mtls, "mode", "" if mode == "UNSET" else mode)
    _set_or_drop(spec, "mtls", mtls)
    existing = {str(port): entry for port, entry in (spec.get("portLevelMtls") or {}).items()}
    ports = {
        str(port): {**(existing.get(str(port)) or {}), "mode": value}
        for port, value in sorted(port_modes.items())
    }
    _set_or_drop(spec, "portLevelMtls", ports)
    return result


# --- AuthorizationPolicy -----------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One ``when`` entry: ``key`` such as ``request.headers[end-user]``."""

    key: str
    values: tuple[str, ...] = ()
    not_values: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"key": self.key}
        if self.values:
            entry["values"] = list(self.values)
        if self.not_values:
            entry["notValues"] = list(self.not_values)
        return entry


@dataclass(frozen=True)
class RuleEdit:
    """What the form shows of one rule: its first source and operation, and every condition.
    ``source`` is the index of the stored rule it edits (None: a new rule)."""

    source: int | None = None
    principals: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()


def _edit_first(
    entries: list[dict[str, Any]], key: str, values: Mapping[str, Sequence[Any]]
) -> list[dict[str, Any]]:
    """Set the lists of ``entries[0][key]`` (``source`` or ``operation``), keeping its other fields
    and the other entries; an emptied first entry is dropped."""
    entries = copy.deepcopy(entries) or [{}]
    inner = dict(entries[0].get(key) or {})
    for field, value in values.items():
        _set_or_drop(inner, field, list(value))
    if inner:
        entries[0] = {**entries[0], key: inner}
        return entries
    return entries[1:]


def edit_rule(stored: Mapping[str, Any] | None, edit: RuleEdit) -> dict[str, Any]:
    rule = copy.deepcopy(dict(stored or {}))
    sources = _edit_first(
        rule.get("from") or [], "source", {"principals": edit.principals, "namespaces": edit.namespaces}
    )
    operations = _edit_first(
        rule.get("to") or [], "operation", {"methods": edit.methods, "paths": edit.paths, "ports": edit.ports}
    )
    _set_or_drop(rule, "from", sources)
    _set_or_drop(rule, "to", operations)
    _set_or_drop(rule, "when", [c.to_dict() for c in edit.conditions])
    return rule


ALLOW_ALL, DENY_ALL, ALLOW_NOTHING, RULES = "allow-all", "deny-all", "allow-nothing", "rules"


def preset_of(document: Mapping[str, Any] | None) -> str:
    """Which of Istio's documented forms a stored policy has (``rules`` for any other)."""
    spec = (document or {}).get("spec") or {}
    rules, action = spec.get("rules"), spec.get("action", "ALLOW")
    if not rules and action == "ALLOW" and document is not None:
        return ALLOW_NOTHING
    if rules == [{}]:
        return ALLOW_ALL if action == "ALLOW" else DENY_ALL if action == "DENY" else RULES
    return RULES


def set_authorization_policy(
    document: Mapping[str, Any] | None,
    name: str,
    namespace: str,
    selector: Mapping[str, str],
    preset: str,
    action: str,
    rules: Sequence[RuleEdit] = (),
) -> Document:
    """Istio's forms: ``allow-nothing`` (no rules: every request denied), ``allow-all`` (ALLOW one
    empty rule), ``deny-all`` (DENY one empty rule), or ``rules`` with ``action``: each edit changes
    the stored rule it came from in place (see ``edit_rule``), in the order given."""
    result = _start(document, "AuthorizationPolicy", name, namespace, SECURITY_API_VERSION)
    spec = result["spec"]
    _set_selector(spec, "selector", "matchLabels", selector)
    stored = list(spec.get("rules") or [])
    if preset == ALLOW_NOTHING:
        spec.pop("rules", None)
        spec.pop("action", None)
    elif preset in (ALLOW_ALL, DENY_ALL):
        spec["action"] = "ALLOW" if preset == ALLOW_ALL else "DENY"
        spec["rules"] = [{}]
    else:
        spec["action"] = action
        spec["rules"] = [
            edit_rule(
                stored[edit.source] if edit.source is not None and edit.source < len(stored) else None, edit
            )
            for edit in rules
        ]
    return result


# --- local rate limit (EnvoyFilter) ------------------------------------------------------------


def _rate_limit_patch() -> dict[str, Any]:
    """A patch in the shape of Istio's local rate limit task (inbound, every route of the sidecar)."""
    return {
        "applyTo": "HTTP_FILTER",
        "match": {
            "context": "SIDECAR_INBOUND",
            "listener": {
                "filterChain": {"filter": {"name": "envoy.filters.network.http_connection_manager"}}
            },
        },
        "patch": {
            "operation": "INSERT_BEFORE",
            "value": {
                "name": RATE_LIMIT_FILTER,
                "typed_config": {
                    "@type": TYPED_STRUCT,
                    "type_url": RATE_LIMIT_TYPE,
                    "value": {
                        "stat_prefix": "http_local_rate_limiter",
                        "token_bucket": {},
                        "filter_enabled": {
                            "runtime_key": "local_rate_limit_enabled",
                            "default_value": {"numerator": 100, "denominator": "HUNDRED"},
                        },
                        "filter_enforced": {
                            "runtime_key": "local_rate_limit_enforced",
                            "default_value": {"numerator": 100, "denominator": "HUNDRED"},
                        },
                        "response_headers_to_add": [
                            {"append": False, "header": {"key": "x-local-rate-limit", "value": "true"}}
                        ],
                    },
                },
            },
        },
    }


def rate_limit_config(document: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The LocalRateLimit fields (a reference into ``document``) of its first local rate limit patch."""
    for patch in ((document or {}).get("spec") or {}).get("configPatches") or []:
        value = (patch.get("patch") or {}).get("value") or {}
        if value.get("name") != RATE_LIMIT_FILTER:
            continue
        typed = value.get("typed_config") or {}
        return typed.get("value") if typed.get("@type") == TYPED_STRUCT else typed
    return None


def set_rate_limit(
    document: Mapping[str, Any] | None,
    name: str,
    namespace: str,
    selector: Mapping[str, str],
    max_tokens: int,
    tokens_per_fill: int,
    fill_interval: str,
) -> Document:
    """The token bucket of the workloads ``selector`` picks: ``max_tokens`` requests at once,
    ``tokens_per_fill`` more every ``fill_interval`` (an Istio duration). An existing EnvoyFilter
    keeps its other patches and the rest of the filter's config."""
    result = _start(document, "EnvoyFilter", name, namespace, ENVOY_FILTER_API_VERSION)
    spec = result["spec"]
    _set_selector(spec, "workloadSelector", "labels", selector)
    config = rate_limit_config(result)
    if config is None:
        spec.setdefault("configPatches", []).append(_rate_limit_patch())
        config = rate_limit_config(result)
        assert config is not None
    bucket = dict(config.get("token_bucket") or {})
    bucket.update(max_tokens=max_tokens, tokens_per_fill=tokens_per_fill, fill_interval=fill_interval)
    config["token_bucket"] = bucket
    return result
