"""Typed views of Istio's security resources and the rules that say which workload they govern.

Views are built from specs already checked by ``security_schema`` (``spec_view`` in
``meshcore.model.istio`` dispatches here), so they are well-typed: lists are tuples, ports are ints.
``SecurityIndex`` answers, for one workload, Istio's questions: which mTLS mode its inbound port
accepts (workload PeerAuthentication > namespace > mesh-wide in the root namespace, ``UNSET``
inheriting from the level above, PERMISSIVE when nothing says otherwise), which
AuthorizationPolicies and local rate limits select it. Pure; safe to share between threads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from meshcore.model.registry import Workload
from meshcore.model.resources import Resource
from meshcore.model.security_schema import header_condition_name, unwrap_typed_config

# Istio's root namespace: policies there apply to the whole mesh.
ROOT_NAMESPACE = "istio-system"
DEFAULT_MTLS_MODE = "PERMISSIVE"  # Istio's default when no PeerAuthentication applies
Selector = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PeerAuthenticationSpec:
    """``selector`` None: namespace-wide (mesh-wide in the root namespace). Modes are Istio's names."""

    selector: Selector | None = None
    mode: str = "UNSET"
    port_modes: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Source:
    principals: tuple[str, ...] = ()
    not_principals: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    not_namespaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class Operation:
    hosts: tuple[str, ...] = ()
    not_hosts: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    not_ports: tuple[int, ...] = ()
    methods: tuple[str, ...] = ()
    not_methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    not_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    """``when`` entry. ``header`` is set for ``request.headers[<name>]`` keys (lower-cased name)."""

    key: str
    values: tuple[str, ...] = ()
    not_values: tuple[str, ...] = ()

    @property
    def header(self) -> str | None:
        return header_condition_name(self.key)


@dataclass(frozen=True)
class AuthorizationRule:
    """A request matches when one source, one operation and every condition match (empty = any)."""

    sources: tuple[Source, ...] = ()
    operations: tuple[Operation, ...] = ()
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class AuthorizationPolicySpec:
    """``rules`` empty: an ALLOW policy allows nothing (deny all), a DENY policy denies nothing."""

    selector: Selector | None = None
    action: str = "ALLOW"
    rules: tuple[AuthorizationRule, ...] = ()


@dataclass(frozen=True)
class LocalRateLimitPatch:
    """One EnvoyFilter patch inserting the local rate limit filter; ``config`` is Envoy's
    LocalRateLimit in JSON form (no ``@type``); ``port`` limits it to one inbound port."""

    operation: str
    config: Mapping[str, Any]
    sub_filter: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class EnvoyFilterSpec:
    selector: Selector | None = None
    patches: tuple[LocalRateLimitPatch, ...] = ()
    priority: int = 0


def _strings(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(raw.get(key, ()))


def _ports(values: Iterable[Any]) -> tuple[int, ...]:
    # A view may be built from a spec whose rules failed (see istio.spec_view): skip non-numbers.
    return tuple(int(value) for value in values if str(value).isdigit())


def _selector(raw: Mapping[str, Any] | None, key: str = "matchLabels") -> Selector | None:
    if raw is None:
        return None
    return tuple(raw.get(key, {}).items())


def build_peer_authentication(spec: Mapping[str, Any]) -> PeerAuthenticationSpec:
    return PeerAuthenticationSpec(
        selector=_selector(spec.get("selector")),
        mode=spec.get("mtls", {}).get("mode", "UNSET"),
        port_modes=tuple(
            (int(port), settings.get("mode", "UNSET"))
            for port, settings in (spec.get("portLevelMtls") or {}).items()
            if str(port).isdigit()
        ),
    )


def _source(raw: Mapping[str, Any]) -> Source:
    return Source(
        principals=_strings(raw, "principals"),
        not_principals=_strings(raw, "notPrincipals"),
        namespaces=_strings(raw, "namespaces"),
        not_namespaces=_strings(raw, "notNamespaces"),
    )


def _operation(raw: Mapping[str, Any]) -> Operation:
    return Operation(
        hosts=_strings(raw, "hosts"),
        not_hosts=_strings(raw, "notHosts"),
        ports=_ports(raw.get("ports", ())),
        not_ports=_ports(raw.get("notPorts", ())),
        methods=_strings(raw, "methods"),
        not_methods=_strings(raw, "notMethods"),
        paths=_strings(raw, "paths"),
        not_paths=_strings(raw, "notPaths"),
    )


def build_authorization_policy(spec: Mapping[str, Any]) -> AuthorizationPolicySpec:
    return AuthorizationPolicySpec(
        selector=_selector(spec.get("selector")),
        action=spec.get("action", "ALLOW"),
        rules=tuple(
            AuthorizationRule(
                sources=tuple(_source(item["source"]) for item in rule.get("from", ())),
                operations=tuple(_operation(item["operation"]) for item in rule.get("to", ())),
                conditions=tuple(
                    Condition(item["key"], _strings(item, "values"), _strings(item, "notValues"))
                    for item in rule.get("when", ())
                ),
            )
            for rule in spec.get("rules", ())
        ),
    )


def build_envoy_filter(spec: Mapping[str, Any]) -> EnvoyFilterSpec:
    patches = []
    for patch in spec["configPatches"]:
        listener = (patch.get("match") or {}).get("listener") or {}
        sub_filter = ((listener.get("filterChain") or {}).get("filter") or {}).get("subFilter")
        config, _, _ = unwrap_typed_config(patch["patch"]["value"]["typed_config"], "")
        patches.append(
            LocalRateLimitPatch(
                operation=patch["patch"]["operation"],
                config=config,
                sub_filter=sub_filter["name"] if sub_filter else None,
                port=listener.get("portNumber"),
            )
        )
    return EnvoyFilterSpec(
        selector=_selector(spec.get("workloadSelector"), "labels"),
        patches=tuple(patches),
        priority=spec.get("priority", 0),
    )


SECURITY_BUILDERS = {
    "PeerAuthentication": build_peer_authentication,
    "AuthorizationPolicy": build_authorization_policy,
    "EnvoyFilter": build_envoy_filter,
}


def applies_to(resource: Resource, selector: Selector | None, workload: Workload) -> bool:
    """Istio's scope: the resource's namespace (every namespace from the root one), then the selector."""
    if resource.namespace not in (workload.namespace, ROOT_NAMESPACE):
        return False
    return selector is None or workload.matches(dict(selector))


@dataclass(frozen=True)
class MtlsDecision:
    """The mTLS mode a workload's port accepts and the PeerAuthentication that decided it:
    ``source`` its key (None when Istio's default applies), ``level`` workload | namespace | mesh |
    default."""

    mode: str
    source: tuple[str, str, str] | None = None
    level: str = "default"

    @property
    def source_ref(self) -> str:
        """``PeerAuthentication/istio-system/default``-style reference, "" for the default."""
        if self.source is None:
            return ""
        kind, namespace, name = self.source
        return f"{kind}/{name}" if namespace == "default" else f"{kind}/{namespace}/{name}"


class SecurityIndex:
    """The security resources of one consistent set, with Istio's per-workload lookups."""

    def __init__(self, resources: Iterable[Resource], views: Mapping[tuple[str, str, str], Any]) -> None:
        """``views`` maps each resource key to its typed view (built once by the caller)."""
        ordered = sorted(resources, key=lambda r: r.key)
        self.peer_authentications = [(r, views[r.key]) for r in ordered if r.kind == "PeerAuthentication"]
        self.authorization_policies = [(r, views[r.key]) for r in ordered if r.kind == "AuthorizationPolicy"]
        self.envoy_filters = [(r, views[r.key]) for r in ordered if r.kind == "EnvoyFilter"]

    @classmethod
    def build(cls, resources: Iterable[Resource]) -> SecurityIndex:
        from meshcore.model.istio import spec_view

        chosen = [r for r in resources if r.kind in SECURITY_BUILDERS]
        return cls(chosen, {r.key: spec_view(r) for r in chosen})

    def mtls_mode(self, workload: Workload, port: int) -> MtlsDecision:
        """The mode ``port`` (a service port, 9080 in BookInfo) of ``workload`` accepts."""
        levels: list[list[tuple[Resource, PeerAuthenticationSpec]]] = [[], [], []]
        for resource, spec in self.peer_authentications:
            if spec.selector is not None:
                if resource.namespace == workload.namespace and workload.matches(dict(spec.selector)):
                    levels[0].append((resource, spec))
            elif resource.namespace == workload.namespace:
                levels[1].append((resource, spec))
            elif resource.namespace == ROOT_NAMESPACE:
                levels[2].append((resource, spec))
        for level, candidates in zip(("workload", "namespace", "mesh"), levels, strict=True):
            # Several at one level: Istio takes the oldest; meshcore the first by name.
            for resource, spec in candidates[:1]:
                mode = dict(spec.port_modes).get(port, "UNSET")
                if mode == "UNSET":
                    mode = spec.mode
                if mode != "UNSET":
                    return MtlsDecision(mode, resource.key, level)
        return MtlsDecision(DEFAULT_MTLS_MODE)

    def policies_for(self, workload: Workload) -> list[tuple[Resource, AuthorizationPolicySpec]]:
        return [
            (r, spec) for r, spec in self.authorization_policies if applies_to(r, spec.selector, workload)
        ]

    def rate_limits_for(self, workload: Workload) -> list[tuple[Resource, EnvoyFilterSpec]]:
        """EnvoyFilters selecting ``workload``, in Istio's order (priority, then name)."""
        chosen = [(r, spec) for r, spec in self.envoy_filters if applies_to(r, spec.selector, workload)]
        return sorted(chosen, key=lambda item: item[1].priority)
