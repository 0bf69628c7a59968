"""Warnings about security resources that are valid but will not do what the user expects.

Kiali's mTLS validations, on the combined set of an apply:

* KIA0205 / KIA0206 — a DestinationRule makes clients send mTLS (``ISTIO_MUTUAL``) to workloads
  whose PeerAuthentication (mesh-wide / namespace or workload) is ``DISABLE``: requests fail.
* KIA0207 / KIA0208 — a DestinationRule disables mTLS for workloads a namespace or workload /
  mesh-wide PeerAuthentication makes ``STRICT``: the servers refuse those clients.
* KIA0003-like — a selector that matches no workload; KIA0101 — a rule naming an unknown namespace.

``security_warnings`` never blocks an apply: it returns ``FieldError``s to show beside the result,
each on the applied resource it concerns (the DestinationRule's ``tls.mode`` or the
PeerAuthentication's ``mtls.mode``), with the path format of ``meshcore.model.validation``. A
conflict between two stored objects that this apply does not touch is not reported. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from meshcore.model.errors import FieldError, ValidationError
from meshcore.model.istio import DestinationRuleSpec, TrafficPolicy, spec_view
from meshcore.model.registry import Registry, Workload
from meshcore.model.resources import Resource
from meshcore.model.security import (
    ROOT_NAMESPACE,
    AuthorizationPolicySpec,
    EnvoyFilterSpec,
    PeerAuthenticationSpec,
    SecurityIndex,
)

ResourceKey = tuple[str, str, str]
_CLIENT_MTLS_CODES = {"mesh": "KIA0205", "namespace": "KIA0206", "workload": "KIA0206"}
_SERVER_STRICT_CODES = {"mesh": "KIA0208", "namespace": "KIA0207", "workload": "KIA0207"}


@dataclass(frozen=True)
class _Conflict:
    rule: Resource
    rule_path: str  # the tls.mode the DestinationRule sets
    policy: ResourceKey  # the PeerAuthentication that decides the servers' mode
    message: str


def _well_formed(resources: Iterable[Resource]) -> tuple[list[Resource], dict[ResourceKey, object]]:
    kept, views = [], {}
    for resource in resources:
        try:
            views[resource.key] = spec_view(resource)
        except (ValidationError, KeyError):
            continue  # reported by validate(); a malformed object takes no part in warnings
        kept.append(resource)
    return kept, views


def _tls_settings(
    spec: DestinationRuleSpec,
) -> Iterable[tuple[str, TrafficPolicy, tuple[tuple[str, str], ...]]]:
    """(path, policy, subset labels) of every traffic policy in a DestinationRule that sets tls."""
    if spec.traffic_policy is not None and spec.traffic_policy.tls is not None:
        yield "spec.trafficPolicy.tls.mode", spec.traffic_policy, ()
    for i, subset in enumerate(spec.subsets):
        if subset.traffic_policy is not None and subset.traffic_policy.tls is not None:
            yield f"spec.subsets[{i}].trafficPolicy.tls.mode", subset.traffic_policy, subset.labels


def _conflicts(
    registry: Registry, security: SecurityIndex, rules: Iterable[tuple[Resource, DestinationRuleSpec]]
) -> list[_Conflict]:
    """One conflict per (DestinationRule setting, PeerAuthentication), naming every workload hit."""
    grouped: dict[tuple[ResourceKey, str, ResourceKey], tuple[Resource, str, str, list[str]]] = {}
    for resource, spec in rules:
        service = registry.resolve_host(spec.host, resource.namespace)
        if service is None:
            continue
        port = service.ports[0].number
        for path, policy, labels in _tls_settings(spec):
            assert policy.tls is not None
            for workload in registry.workloads_of(service):
                if not workload.matches(dict(labels)):
                    continue
                decision = security.mtls_mode(workload, port)
                if decision.source is None:
                    continue
                if policy.tls.mode == "ISTIO_MUTUAL" and decision.mode == "DISABLE":
                    code = _CLIENT_MTLS_CODES[decision.level]
                elif policy.tls.mode == "DISABLE" and decision.mode == "STRICT":
                    code = _SERVER_STRICT_CODES[decision.level]
                else:
                    continue
                entry = grouped.setdefault(
                    (resource.key, path, decision.source), (resource, decision.source_ref, code, [])
                )
                entry[3].append(workload.name)
    found = []
    for (_, path, policy_key), (resource, policy, code, workloads) in grouped.items():
        names = ", ".join(workloads)
        if code in _CLIENT_MTLS_CODES.values():
            message = (
                f"{code}: {resource.ref} makes clients send mTLS (ISTIO_MUTUAL) to {names}, but {policy} "
                f"sets DISABLE there, so the sidecars refuse them; set STRICT or PERMISSIVE in {policy} "
                f"or DISABLE in {resource.ref}"
            )
        else:
            message = (
                f"{code}: {resource.ref} makes clients send plaintext (DISABLE) to {names}, but {policy} "
                f"requires mTLS (STRICT) there, so the sidecars refuse them; set PERMISSIVE in {policy} "
                f"or ISTIO_MUTUAL in {resource.ref}"
            )
        found.append(_Conflict(resource, path, policy_key, message))
    return found


def _policy_path(spec: PeerAuthenticationSpec) -> str:
    return "spec.portLevelMtls" if spec.port_modes and spec.mode == "UNSET" else "spec.mtls.mode"


def _selector_warnings(resource: Resource, view: object, registry: Registry) -> list[FieldError]:
    if isinstance(view, EnvoyFilterSpec):
        selector, path = view.selector, "spec.workloadSelector.labels"
    elif isinstance(view, PeerAuthenticationSpec | AuthorizationPolicySpec):
        selector, path = view.selector, "spec.selector.matchLabels"
    else:
        return []
    if selector is None:
        return []
    in_scope: list[Workload] = [
        w for w in registry.workloads if resource.namespace in (w.namespace, ROOT_NAMESPACE)
    ]
    if any(w.matches(dict(selector)) for w in in_scope):
        return []
    labels = ", ".join(f"{key}={value}" for key, value in selector)
    return [FieldError(path, f"no workload in namespace {resource.namespace} has the labels {labels}")]


def _namespace_warnings(view: object, registry: Registry) -> list[FieldError]:
    if not isinstance(view, AuthorizationPolicySpec):
        return []
    known = {w.namespace for w in registry.workloads} | {registry.gateway.namespace, ROOT_NAMESPACE}
    warnings = []
    for i, rule in enumerate(view.rules):
        for j, source in enumerate(rule.sources):
            for field, names in (("namespaces", source.namespaces), ("notNamespaces", source.not_namespaces)):
                for k, name in enumerate(names):
                    if "*" not in name and name not in known:
                        path = f"spec.rules[{i}].from[{j}].source.{field}[{k}]"
                        warnings.append(FieldError(path, f"KIA0101: namespace {name} not found in the mesh"))
    return warnings


def security_warnings(
    resources: Sequence[Resource], registry: Registry, existing: Sequence[Resource] = ()
) -> list[FieldError]:
    """Warnings for applying ``resources`` on top of ``existing`` (see the module docstring)."""
    combined = {resource.key: resource for resource in existing}
    combined.update((resource.key, resource) for resource in resources)
    kept, views = _well_formed(combined.values())
    security = SecurityIndex([r for r in kept if r.kind in _SECURITY_KINDS], views)
    rules = [(r, views[r.key]) for r in kept if r.kind == "DestinationRule"]
    conflicts = _conflicts(registry, security, rules)  # type: ignore[arg-type]
    many = len(resources) > 1
    warnings: list[FieldError] = []
    for resource in resources:
        view = views.get(resource.key)
        if view is None:
            continue
        local = _selector_warnings(resource, view, registry) + _namespace_warnings(view, registry)
        for conflict in conflicts:
            if conflict.rule.key == resource.key:
                local.append(FieldError(conflict.rule_path, conflict.message))
            elif conflict.policy == resource.key and isinstance(view, PeerAuthenticationSpec):
                local.append(FieldError(_policy_path(view), conflict.message))
        warnings += [warning.prefixed(resource.ref if many else "") for warning in local]
    return warnings


_SECURITY_KINDS = frozenset({"PeerAuthentication", "AuthorizationPolicy", "EnvoyFilter"})
