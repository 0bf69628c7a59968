"""The security page's content: every workload's effective mTLS mode, policies, identity and certificate.

Pure (no Django, no I/O): `security_posture` takes the stored documents (any kinds; the security
ones and the DestinationRules are used), the registry and the identities the control plane issued,
and answers what Istio would enforce. The mTLS mode of a workload's port is resolved as Istio does
(``meshcore.model.security.SecurityIndex``, the control plane's own lookup, not a second copy):

1. a PeerAuthentication with a ``selector`` matching the workload, in its namespace: its
   ``portLevelMtls`` entry for the port, else its ``mtls.mode``;
2. the namespace-wide one (no selector) in the workload's namespace;
3. the mesh-wide one (no selector) in the root namespace ``istio-system``;
4. PERMISSIVE, Istio's default.

A level whose mode is ``UNSET`` inherits from the next one. Several policies at one level: the
first by name decides (Istio takes the oldest). Warnings are the control plane's own validation
(``meshcore.model.security_validation``: Kiali's KIA0205-0208 TLS conflicts, selectors matching
no workload, unknown namespaces) over the whole stored set, each reported once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dashboard.services.security import remaining
from dashboard.sources.registry import MeshRegistry, WorkloadInfo
from dashboard.sources.routestore import SECURITY_PLURALS
from meshcore.model.errors import ValidationError
from meshcore.model.istio import spec_view
from meshcore.model.registry import Gateway, Registry, Service, ServicePort, Workload
from meshcore.model.resources import Resource
from meshcore.model.security import (
    ROOT_NAMESPACE,
    AuthorizationPolicySpec,
    AuthorizationRule,
    EnvoyFilterSpec,
    MtlsDecision,
    PeerAuthenticationSpec,
    SecurityIndex,
    Selector,
)
from meshcore.model.security_validation import security_warnings

SECURITY_KINDS = tuple(SECURITY_PLURALS.values())


@dataclass(frozen=True)
class PortMode:
    """The mode one inbound port accepts: ``level`` workload | namespace | mesh | default,
    ``source`` the deciding PeerAuthentication (``PeerAuthentication/istio-system/default``, "" for
    Istio's default)."""

    port: int
    mode: str
    level: str
    source: str
    source_key: tuple[str, str, str] | None = None

    @classmethod
    def of(cls, port: int, decision: MtlsDecision) -> PortMode:
        return cls(port, decision.mode, decision.level, decision.source_ref, decision.source)


@dataclass(frozen=True)
class PolicyRef:
    ref: str
    namespace: str
    name: str
    plural: str
    detail: str = ""  # ALLOW / DENY for AuthorizationPolicies


@dataclass(frozen=True)
class WorkloadPosture:
    """One workload's row. ``mode`` is that of its service's first port (the port BookInfo serves);
    ``ports`` every port with a mode, the first port first. ``expires_in_s`` is the certificate's
    remaining validity in seconds at the posture's ``now`` (None without a certificate)."""

    name: str
    namespace: str
    service: str
    version: str
    mode: PortMode
    ports: tuple[PortMode, ...]
    policies: tuple[PolicyRef, ...]
    rate_limits: tuple[PolicyRef, ...]
    spiffe_id: str = ""
    certificate_serial: str = ""
    expires_at: dt.datetime | None = None
    expires_in_s: int | None = None
    # The mode the control plane itself reports it configured ("" when it reports none): a
    # difference from `mode` means the page and the proxies disagree, and is shown.
    reported_mode: str = ""

    @property
    def disagrees(self) -> bool:
        return bool(self.reported_mode) and self.reported_mode != self.mode.mode

    @property
    def expires_in(self) -> str:
        """``23 h 58 min``, ``expired``; "" without a certificate."""
        return "" if self.expires_in_s is None else remaining(self.expires_in_s)

    @property
    def port_overrides(self) -> tuple[PortMode, ...]:
        """Ports whose mode differs from the first port's (portLevelMtls)."""
        return tuple(p for p in self.ports[1:] if p.mode != self.mode.mode)


@dataclass(frozen=True)
class PolicyRow:
    """One stored security object: ``summary`` lines say what it does; ``workloads`` it selects."""

    kind: str
    plural: str
    namespace: str
    name: str
    ref: str
    scope: str
    summary: tuple[str, ...]
    workloads: tuple[str, ...]
    resource_version: str = ""


@dataclass(frozen=True)
class Warning:
    ref: str
    path: str
    message: str

    @property
    def code(self) -> str:
        head = self.message.split(":", 1)[0]
        return head if head.startswith("KIA") else ""


@dataclass(frozen=True)
class SecurityPosture:
    workloads: tuple[WorkloadPosture, ...]
    peer_authentications: tuple[PolicyRow, ...]
    authorization_policies: tuple[PolicyRow, ...]
    rate_limits: tuple[PolicyRow, ...]
    warnings: tuple[Warning, ...] = ()
    malformed: tuple[str, ...] = field(default_factory=tuple)  # refs of objects that could not be read

    def namespaces(self) -> list[str]:
        return sorted({w.namespace for w in self.workloads})

    def in_namespace(self, namespace: str) -> SecurityPosture:
        """Only the workloads of ``namespace`` and the objects that can apply to them (those of the
        namespace and of the root namespace); warnings are kept whole."""

        def kept(rows: tuple[PolicyRow, ...]) -> tuple[PolicyRow, ...]:
            return tuple(r for r in rows if r.namespace in (namespace, ROOT_NAMESPACE))

        return replace(
            self,
            workloads=tuple(w for w in self.workloads if w.namespace == namespace),
            peer_authentications=kept(self.peer_authentications),
            authorization_policies=kept(self.authorization_policies),
            rate_limits=kept(self.rate_limits),
        )

    def mode_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for workload in self.workloads:
            counts[workload.mode.mode] = counts.get(workload.mode.mode, 0) + 1
        return dict(sorted(counts.items()))


_PLURALS = {kind: plural for plural, kind in SECURITY_PLURALS.items()}


def mesh_model(registry: MeshRegistry) -> Registry:
    """The dashboard's registry in meshcore's model (what the shared lookups and checks take)."""
    services = tuple(
        Service(s.name, s.namespace, tuple(ServicePort(port) for port in s.ports)) for s in registry.services
    )
    workloads = tuple(
        Workload(name=w.name, service=w.service, labels=labels_of(w), namespace=w.namespace)
        for w in registry.workloads
    )
    gateway = (
        Gateway(name=registry.gateway.name, namespace=registry.gateway.namespace)
        if registry.gateway
        else Gateway()
    )
    return Registry(services, workloads, gateway)


def labels_of(workload: WorkloadInfo) -> dict[str, str]:
    labels = {"app": workload.app}
    if workload.version:
        labels["version"] = workload.version
    return labels


def _resources(documents: Iterable[Mapping[str, Any]]) -> tuple[list[Resource], dict, list[str]]:
    """Resources and their typed views; the refs of documents that cannot be read are returned apart."""
    resources, views, malformed = [], {}, []
    for document in documents:
        metadata = document.get("metadata") or {}
        try:
            resource = Resource.from_dict(document)
            views[resource.key] = spec_view(resource)
        except (ValidationError, KeyError, TypeError, ValueError):
            malformed.append(
                f"{document.get('kind', '?')}/{metadata.get('namespace', '')}/{metadata.get('name', '?')}"
            )
            continue
        resources.append(resource)
    return resources, views, malformed


def effective_ports(
    index: SecurityIndex, workload: Workload, service_ports: Sequence[int]
) -> tuple[PortMode, ...]:
    """The mode of each port: the service's ports, then any other port a PeerAuthentication
    selecting the workload names in ``portLevelMtls``; the first service port first."""
    ports = list(dict.fromkeys(service_ports))
    for resource, spec in index.peer_authentications:
        if (
            spec.selector is not None
            and resource.namespace == workload.namespace
            and workload.matches(dict(spec.selector))
        ):
            ports += [port for port, _ in spec.port_modes if port not in ports]
    return tuple(PortMode.of(port, index.mtls_mode(workload, port)) for port in ports)


def _selector_text(selector: Selector | None) -> str:
    return ", ".join(f"{key}={value}" for key, value in selector) if selector else ""


def _scope(resource: Resource, selector: Selector | None) -> str:
    if selector:
        return f"workloads {_selector_text(selector)} in {resource.namespace}"
    if resource.namespace == "istio-system":
        return "mesh-wide"
    return f"namespace {resource.namespace}"


def _listing(label: str, values: Sequence[Any]) -> str:
    return f"{label} {', '.join(str(v) for v in values)}" if values else ""


def rule_summary(rule: AuthorizationRule) -> str:
    """``from principals a; to methods GET; when request.headers[end-user] = jason`` ("every request"
    for an empty rule)."""
    parts = []
    for source in rule.sources:
        said = [
            _listing("principals", source.principals),
            _listing("not principals", source.not_principals),
            _listing("namespaces", source.namespaces),
            _listing("not namespaces", source.not_namespaces),
        ]
        parts.append("from " + "; ".join(s for s in said if s))
    for operation in rule.operations:
        said = [
            _listing("methods", operation.methods),
            _listing("not methods", operation.not_methods),
            _listing("paths", operation.paths),
            _listing("not paths", operation.not_paths),
            _listing("ports", operation.ports),
            _listing("not ports", operation.not_ports),
            _listing("hosts", operation.hosts),
            _listing("not hosts", operation.not_hosts),
        ]
        parts.append("to " + "; ".join(s for s in said if s))
    for condition in rule.conditions:
        if condition.values:
            parts.append(f"when {condition.key} in {', '.join(condition.values)}")
        if condition.not_values:
            parts.append(f"when {condition.key} not in {', '.join(condition.not_values)}")
    return " · ".join(parts) or "every request"


def policy_summary(spec: AuthorizationPolicySpec) -> tuple[str, ...]:
    if not spec.rules:
        return ("ALLOW nothing: every request is denied",) if spec.action == "ALLOW" else ("denies nothing",)
    return tuple(f"{spec.action} {rule_summary(rule)}" for rule in spec.rules)


def rate_limit_summary(spec: EnvoyFilterSpec) -> tuple[str, ...]:
    lines = []
    for patch in spec.patches:
        bucket = patch.config.get("token_bucket") or {}
        where = f" on port {patch.port}" if patch.port else ""
        lines.append(
            f"{bucket.get('max_tokens', '?')} tokens, {bucket.get('tokens_per_fill', 1)} per "
            f"{bucket.get('fill_interval', '?')}{where}"
        )
    return tuple(lines)


def peer_summary(spec: PeerAuthenticationSpec) -> tuple[str, ...]:
    lines = [f"mode {spec.mode}" + (" (inherits)" if spec.mode == "UNSET" else "")]
    lines += [f"port {port}: {mode}" for port, mode in spec.port_modes]
    return tuple(lines)


def _certificate(
    identity: Mapping[str, Any] | None, now: dt.datetime
) -> tuple[str, dt.datetime | None, int | None]:
    certificate = (identity or {}).get("certificate") or {}
    try:
        expires_at = dt.datetime.fromisoformat(str(certificate["not_after"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return str(certificate.get("serial", "")), None, None
    return str(certificate.get("serial", "")), expires_at, round((expires_at - now).total_seconds())


def security_posture(
    documents: Iterable[Mapping[str, Any]],
    registry: MeshRegistry,
    identities: Mapping[str, Mapping[str, Any]] | None = None,
    now: dt.datetime | None = None,
) -> SecurityPosture:
    """What the security page shows (see the module docstring). ``identities`` maps a workload's
    name to the control plane's security document for it (``spiffe_id``, ``certificate`` with ISO
    8601 ``not_after``); None or a missing entry leaves identity and certificate empty."""
    now = now or dt.datetime.now(dt.UTC)
    identities = identities or {}
    resources, views, malformed = _resources(documents)
    chosen = [r for r in resources if r.kind in SECURITY_KINDS]
    index = SecurityIndex(chosen, views)
    model = mesh_model(registry)
    rows = []
    selected: dict[tuple[str, str, str], list[str]] = {r.key: [] for r in chosen}
    for info, workload in zip(registry.workloads, model.workloads, strict=True):
        service = registry.service(info.service)
        ports = effective_ports(index, workload, service.ports if service else (9080,))
        policies = tuple(
            PolicyRef(r.ref, r.namespace, r.name, _PLURALS[r.kind], spec.action)
            for r, spec in index.policies_for(workload)
        )
        limits = tuple(
            PolicyRef(r.ref, r.namespace, r.name, _PLURALS[r.kind])
            for r, _ in index.rate_limits_for(workload)
        )
        # A PeerAuthentication "selects" the workloads whose mode it decides on some port.
        for key in dict.fromkeys(p.source_key for p in ports if p.source_key is not None):
            selected[key].append(workload.name)
        for ref in (*policies, *limits):
            selected[(SECURITY_PLURALS[ref.plural], ref.namespace, ref.name)].append(workload.name)
        identity = identities.get(info.name)
        serial, expires_at, expires_in = _certificate(identity, now)
        rows.append(
            WorkloadPosture(
                name=info.name,
                namespace=info.namespace,
                service=info.service,
                version=info.version,
                mode=ports[0],
                ports=ports,
                policies=policies,
                rate_limits=limits,
                spiffe_id=str((identity or {}).get("spiffe_id") or info.spiffe_id),
                certificate_serial=serial,
                expires_at=expires_at,
                expires_in_s=expires_in,
                reported_mode=str(((identity or {}).get("mtls") or {}).get("mode") or ""),
            )
        )

    def row(resource: Resource, selector: Selector | None, summary: tuple[str, ...]) -> PolicyRow:
        return PolicyRow(
            resource.kind,
            _PLURALS[resource.kind],
            resource.namespace,
            resource.name,
            resource.ref,
            _scope(resource, selector),
            summary,
            tuple(selected[resource.key]),
            resource.resource_version,
        )

    checked = [r for r in resources if r.kind in (*SECURITY_KINDS, "DestinationRule")]
    return SecurityPosture(
        workloads=tuple(rows),
        peer_authentications=tuple(
            row(r, s.selector, peer_summary(s)) for r, s in index.peer_authentications
        ),
        authorization_policies=tuple(
            row(r, s.selector, policy_summary(s)) for r, s in index.authorization_policies
        ),
        rate_limits=tuple(row(r, s.selector, rate_limit_summary(s)) for r, s in index.envoy_filters),
        warnings=posture_warnings(checked, model),
        malformed=tuple(malformed),
    )


def posture_warnings(resources: Sequence[Resource], registry: Registry) -> tuple[Warning, ...]:
    """The validation's warnings over the whole set; a conflict named on both of its objects
    (the DestinationRule and the PeerAuthentication) is reported once, on the first."""
    by_ref = {r.ref: r for r in resources}
    seen, found = set(), []
    for warning in security_warnings(list(resources), registry):
        if warning.message in seen:
            continue
        seen.add(warning.message)
        ref, _, path = warning.path.partition(".spec")
        if ref not in by_ref:  # a single resource: paths are not prefixed
            ref, path = (resources[0].ref if len(resources) == 1 else ""), warning.path
        else:
            path = "spec" + path
        found.append(Warning(ref, path, warning.message))
    return tuple(found)


@dataclass(frozen=True)
class WorkloadChange:
    """What a proposed change does to one workload: ``what`` names the aspect (``mTLS port 9080``,
    ``authorization policies``, ``rate limits``), ``before`` / ``after`` say it in words."""

    workload: str
    what: str
    before: str
    after: str


def _policies_text(refs: Sequence[PolicyRef]) -> str:
    return ", ".join(f"{r.detail} {r.ref}".strip() for r in refs) or "none"


def proposed_changes(
    stored: Sequence[Mapping[str, Any]], proposed: Sequence[Mapping[str, Any]], registry: MeshRegistry
) -> tuple[WorkloadChange, ...]:
    """Per workload, how its effective mTLS mode (per port), its AuthorizationPolicies and its rate
    limits would change if ``proposed`` replaced the stored objects of the same kind/namespace/name."""

    def key(document: Mapping[str, Any]) -> tuple[str, str, str]:
        metadata = document.get("metadata") or {}
        return (
            str(document.get("kind")),
            str(metadata.get("namespace") or "default"),
            str(metadata.get("name")),
        )

    merged = {key(d): d for d in stored}
    merged.update((key(d), d) for d in proposed)
    before = security_posture(stored, registry).workloads
    after = security_posture(list(merged.values()), registry).workloads
    changes = []
    for old, new in zip(before, after, strict=True):
        old_ports = {p.port: p for p in old.ports}
        for port in new.ports:
            was = old_ports.get(port.port)
            if was is None or (was.mode, was.source) != (port.mode, port.source):
                changes.append(
                    WorkloadChange(
                        new.name,
                        f"mTLS port {port.port}",
                        f"{was.mode} ({was.source or 'default'})" if was else "-",
                        f"{port.mode} ({port.source or 'default'})",
                    )
                )
        for what, old_refs, new_refs in (
            ("authorization policies", old.policies, new.policies),
            ("rate limits", old.rate_limits, new.rate_limits),
        ):
            if old_refs != new_refs:
                changes.append(
                    WorkloadChange(new.name, what, _policies_text(old_refs), _policies_text(new_refs))
                )
    return tuple(changes)
