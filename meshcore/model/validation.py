"""Validation of Istio resources before they are stored: structure, then meaning in context.

``validate(resources, registry, existing)`` checks what a user applies now (atomically) against the
registry and the *combined* set: ``existing`` with every applied object replacing the stored one of
the same (kind, namespace, name). ``validate_delete`` checks that removing one object leaves no
VirtualService pointing at something that no longer exists.

Path format (``FieldError.path``):

* Paths are relative to the document: ``spec.http[0].route[1].weight``, ``metadata.name``. Object
  keys are joined with dots, list items are ``[i]``, map keys with unusual characters are
  ``labels["app.kubernetes.io/name"]``. An error about a whole object has the object's path
  (``spec.http[0].route: weights sum to 90, must be 100``).
* When more than one resource is validated, each path is prefixed with the resource reference
  ``<Kind>/<name>`` (``<Kind>/<namespace>/<name>`` outside the ``default`` namespace) and a dot:
  ``VirtualService/reviews.spec.http[0].route[1].weight``. With a single resource no prefix is used.
* ``validate_delete`` always uses the prefix, since there is no document:
  ``DestinationRule/reviews.spec.subsets[2]: cannot delete: ...``.

Shape errors of a resource (wrong types, missing required fields, unparsable durations) suppress
its semantic checks, so one mistake gives one message; rule violations (ranges, weights, unknown
fields) do not, so the user sees e.g. a bad weight sum and an unknown subset in one go. An
inconsistency that already existed in ``existing`` and is not touched by the apply is not reported:
the user is told about what their change breaks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from meshcore.model.errors import FieldError, ValidationError
from meshcore.model.istio import (
    Destination,
    DestinationRuleSpec,
    GatewaySpec,
    VirtualServiceSpec,
    spec_view,
)
from meshcore.model.istio_schema import check_spec
from meshcore.model.registry import Registry, Service
from meshcore.model.resources import Resource, envelope_errors

MESH_GATEWAY = "mesh"
ResourceKey = tuple[str, str, str]
ServiceKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class _Reference:
    """A VirtualService's pointer to a subset (of a service) or to a Gateway, at ``path``."""

    owner: Resource
    path: str
    kind: Literal["subset", "gateway"]
    target: tuple[str, str]  # ServiceKey for subsets, (namespace, name) for gateways
    shown: str  # the host or gateway name as the user wrote it
    name: str = ""  # the subset name


class _Index:
    """Lookups over one consistent set of well-formed resources (typed views computed once)."""

    def __init__(self, resources: Iterable[Resource], registry: Registry) -> None:
        self.registry = registry
        self.virtual_services: dict[ResourceKey, tuple[Resource, VirtualServiceSpec]] = {}
        self.destination_rules: dict[ResourceKey, tuple[Resource, DestinationRuleSpec]] = {}
        self.gateways: set[tuple[str, str]] = set()
        for resource in resources:
            self._add(resource)
        self.subsets: dict[ServiceKey, list[tuple[Resource, tuple[str, ...]]]] = defaultdict(list)
        for resource, spec in self.destination_rules.values():
            service = self.service(spec.host, resource.namespace)
            if service is not None:
                names = tuple(subset.name for subset in spec.subsets)
                self.subsets[_service_key(service)].append((resource, names))

    def _add(self, resource: Resource) -> None:
        try:
            view = spec_view(resource, enforce_rules=False)
        except ValidationError:
            return  # malformed objects are reported by the structural check, not indexed
        if isinstance(view, VirtualServiceSpec):
            self.virtual_services[resource.key] = (resource, view)
        elif isinstance(view, DestinationRuleSpec):
            self.destination_rules[resource.key] = (resource, view)
        elif isinstance(view, GatewaySpec):
            self.gateways.add((resource.namespace, resource.name))

    def service(self, host: str, namespace: str) -> Service | None:
        return self.registry.resolve_host(host, namespace)

    def defined_subsets(self, target: ServiceKey) -> tuple[str, ...]:
        return tuple(name for _, names in self.subsets.get(target, ()) for name in names)

    def references(self) -> list[_Reference]:
        return [
            ref
            for resource, spec in self.virtual_services.values()
            for ref in _references(self, resource, spec)
        ]

    def problem(self, ref: _Reference) -> str | None:
        """Why ``ref`` does not resolve in this set, or None."""
        if ref.kind == "gateway":
            if ref.target in self.gateways:
                return None
            known = (
                ", ".join(sorted(_gateway_name(key, ref.owner.namespace) for key in self.gateways)) or "none"
            )
            return f'unknown Gateway "{ref.shown}" (defined: {known})'
        defined = self.defined_subsets(ref.target)
        if ref.name in defined:
            return None
        detail = f"defined: {', '.join(defined)}" if defined else "no DestinationRule defines subsets for it"
        return f'unknown subset "{ref.name}" for host {ref.shown} ({detail})'


def _service_key(service: Service) -> ServiceKey:
    return (service.namespace, service.name)


def _gateway_key(name: str, namespace: str) -> tuple[str, str]:
    """Istio's gateway reference: ``name`` (the VirtualService's namespace) or ``namespace/name``."""
    if "/" in name:
        gateway_namespace, _, gateway_name = name.partition("/")
        return (gateway_namespace, gateway_name)
    return (namespace, name)


def _gateway_name(key: tuple[str, str], namespace: str) -> str:
    return key[1] if key[0] == namespace else f"{key[0]}/{key[1]}"


def _destinations(spec: VirtualServiceSpec) -> Iterable[tuple[str, Destination]]:
    """Every destination of a VirtualService with its path (route destinations and mirrors)."""
    for i, route in enumerate(spec.http):
        for j, item in enumerate(route.route):
            yield f"spec.http[{i}].route[{j}].destination", item.destination
        if route.mirror is not None:
            yield f"spec.http[{i}].mirror", route.mirror


def _references(index: _Index, resource: Resource, spec: VirtualServiceSpec) -> list[_Reference]:
    refs = [
        _Reference(resource, f"spec.gateways[{i}]", "gateway", _gateway_key(name, resource.namespace), name)
        for i, name in enumerate(spec.gateways)
        if name != MESH_GATEWAY
    ]
    for path, destination in _destinations(spec):
        service = index.service(destination.host, resource.namespace)
        if destination.subset is not None and service is not None:
            refs.append(
                _Reference(
                    resource,
                    f"{path}.subset",
                    "subset",
                    _service_key(service),
                    destination.host,
                    destination.subset,
                )
            )
    return refs


def _unknown_host(index: _Index, host: str) -> str:
    known = ", ".join(sorted(service.name for service in index.registry.services))
    return f'unknown host "{host}": not a service in the registry (known: {known})'


# --- per-kind semantic checks (paths relative to the document) --------------------------------


def _virtual_service_errors(index: _Index, resource: Resource) -> list[FieldError]:
    _, spec = index.virtual_services[resource.key]
    errors = _mesh_host_errors(index, resource, spec) + _host_conflicts(index, resource, spec)
    for path, destination in _destinations(spec):
        errors += _destination_errors(index, resource, path, destination)
    return errors + [
        FieldError(ref.path, problem)
        for ref in _references(index, resource, spec)
        if (problem := index.problem(ref)) is not None
    ]


def _mesh_host_errors(index: _Index, resource: Resource, spec: VirtualServiceSpec) -> list[FieldError]:
    """Hosts routed inside the mesh must be registry services; gateway-only hosts are external names."""
    if spec.gateways and MESH_GATEWAY not in spec.gateways:
        return []
    errors = []
    for i, host in enumerate(spec.hosts):
        if "*" in host:
            message = f'wildcard host "{host}" is only allowed in a VirtualService bound to gateways only (not "mesh")'
            errors.append(FieldError(f"spec.hosts[{i}]", message))
        elif index.service(host, resource.namespace) is None:
            errors.append(FieldError(f"spec.hosts[{i}]", _unknown_host(index, host)))
    return errors


def _destination_errors(
    index: _Index, resource: Resource, path: str, destination: Destination
) -> list[FieldError]:
    service = index.service(destination.host, resource.namespace)
    if service is None:
        return [FieldError(f"{path}.host", _unknown_host(index, destination.host))]
    ports = [port.number for port in service.ports]
    if destination.port is not None and destination.port not in ports:
        listed = ", ".join(str(port) for port in ports)
        message = f"port {destination.port} is not a port of service {service.name} (ports: {listed})"
        return [FieldError(f"{path}.port.number", message)]
    return []


def _claims(
    index: _Index, resource: Resource, spec: VirtualServiceSpec, host: str
) -> set[tuple[object, str]]:
    """(gateway, canonical host) pairs a VirtualService host takes; Istio merges equal claims."""
    service = index.service(host, resource.namespace)
    canonical = service.fqdn if service is not None else host.lower()
    gateways = spec.gateways or (MESH_GATEWAY,)
    return {
        (MESH_GATEWAY if name == MESH_GATEWAY else _gateway_key(name, resource.namespace), canonical)
        for name in gateways
    }


def _host_conflicts(index: _Index, resource: Resource, spec: VirtualServiceSpec) -> list[FieldError]:
    errors = []
    others = [
        (other, other_spec)
        for key, (other, other_spec) in index.virtual_services.items()
        if key != resource.key
    ]
    for i, host in enumerate(spec.hosts):
        mine = _claims(index, resource, spec, host)
        for other, other_spec in others:
            if any(mine & _claims(index, other, other_spec, theirs) for theirs in other_spec.hosts):
                message = (
                    f'host "{host}" is already claimed by {other.ref}; Istio merges VirtualServices for '
                    "the same host unpredictably, so put these routes into one VirtualService"
                )
                errors.append(FieldError(f"spec.hosts[{i}]", message))
                break
    return errors


def _destination_rule_errors(index: _Index, resource: Resource) -> list[FieldError]:
    _, spec = index.destination_rules[resource.key]
    service = index.service(spec.host, resource.namespace)
    if service is None:
        return [FieldError("spec.host", _unknown_host(index, spec.host))]
    for other, _ in index.subsets.get(_service_key(service), ()):
        if other.key != resource.key:
            message = (
                f'host "{spec.host}" is already targeted by {other.ref}; only one DestinationRule per host '
                "takes effect, so put these subsets into one DestinationRule"
            )
            return [FieldError("spec.host", message)]
    return []


_SEMANTIC_CHECKS: dict[str, Callable[[_Index, Resource], list[FieldError]]] = {
    "VirtualService": _virtual_service_errors,
    "DestinationRule": _destination_rule_errors,
}


def _structural_errors(resource: Resource) -> tuple[list[FieldError], bool]:
    """The resource's own problems, and whether its shape still allows the semantic checks."""
    errors = envelope_errors(resource.to_dict())
    if errors:
        return errors, False
    return check_spec(resource.kind, resource.spec), not check_spec(resource.kind, resource.spec, rules=False)


def _combine(existing: Iterable[Resource], replacements: Iterable[Resource]) -> dict[ResourceKey, Resource]:
    combined = {resource.key: resource for resource in existing}
    combined.update((resource.key, resource) for resource in replacements)
    return combined


def _prefix_for(resource: Resource, many: bool) -> str:
    return resource.ref if many else ""


def _broken_by_replacement(
    new_index: _Index, old_index: _Index, new_keys: set[ResourceKey], resources: Sequence[Resource]
) -> list[tuple[Resource, FieldError]]:
    """References of untouched VirtualServices that resolved before this apply and no longer do.

    They are blamed on the applied DestinationRule that used to define the subset (its subset list or
    host changed), naming the VirtualService that still uses it.
    """
    applied = {resource.key: resource for resource in resources}
    found = []
    for ref in new_index.references():
        if ref.owner.key in new_keys:
            continue  # reported on the applied VirtualService itself
        if new_index.problem(ref) is None or old_index.problem(ref) is not None:
            continue  # still fine, or already broken before this apply (not this change's fault)
        for provider, names in old_index.subsets.get(ref.target, ()):
            if ref.name in names and provider.key in applied:
                culprit = applied[provider.key]
                _, culprit_spec = new_index.destination_rules.get(culprit.key, (None, None))
                moved = (
                    culprit_spec is not None
                    and new_index.service(culprit_spec.host, culprit.namespace) is None
                )
                field_path = "spec.host" if moved else "spec.subsets"
                message = f'subset "{ref.name}" of host {ref.shown} is still referenced by {ref.owner.ref} at {ref.path}'
                found.append((culprit, FieldError(field_path, message)))
    return found


def validate(
    resources: Sequence[Resource], registry: Registry, existing: Sequence[Resource] = ()
) -> list[FieldError]:
    """Every problem with applying ``resources`` on top of ``existing``; [] means the apply is valid.

    Checks structure (unknown fields, types, required fields, names), then meaning against the
    registry and the combined set (known hosts and gateways, defined subsets, weights, one
    VirtualService per host, one DestinationRule per host, no subset still in use removed).
    Pure function; safe to call from any thread. See the module docstring for the path format.
    """
    many = len(resources) > 1
    errors: list[FieldError] = []
    seen: set[ResourceKey] = set()
    checkable = []  # well-shaped resources: rule violations do not hide their semantic problems
    for resource in resources:
        local, well_shaped = _structural_errors(resource)
        if resource.key in seen:
            local.append(FieldError("metadata.name", f"{resource.ref} appears more than once in this apply"))
        elif well_shaped:
            checkable.append(resource)
        seen.add(resource.key)
        errors += [error.prefixed(_prefix_for(resource, many)) for error in local]
    # A malformed replacement keeps the stored object in the combined set, so one bad document does
    # not also make every VirtualService that uses its subsets look broken.
    new_index = _Index(_combine(existing, checkable).values(), registry)
    old_index = _Index(existing, registry)
    for resource in checkable:
        check = _SEMANTIC_CHECKS.get(resource.kind)
        if check is not None:
            errors += [error.prefixed(_prefix_for(resource, many)) for error in check(new_index, resource)]
    new_keys = {resource.key for resource in checkable}
    for culprit, error in _broken_by_replacement(new_index, old_index, new_keys, checkable):
        errors.append(error.prefixed(_prefix_for(culprit, many)))
    return errors


def validate_delete(key: ResourceKey, registry: Registry, existing: Sequence[Resource]) -> list[FieldError]:
    """Problems with deleting the object ``key`` = (kind, namespace, name) from ``existing``.

    Refuses removing a DestinationRule whose subsets, or a Gateway that, a remaining VirtualService
    still references; each error names that VirtualService and the field that uses it. Paths are
    prefixed with the deleted object's reference. A key that is not stored gives [] (the caller
    answers "not found").
    """
    doomed = next((resource for resource in existing if resource.key == key), None)
    if doomed is None:
        return []
    remaining = [resource for resource in existing if resource.key != key]
    old_index = _Index(existing, registry)
    new_index = _Index(remaining, registry)
    errors = []
    for ref in new_index.references():
        if old_index.problem(ref) is not None or new_index.problem(ref) is None:
            continue
        errors.append(FieldError(_deleted_path(doomed, ref, old_index), f"cannot delete: {_still_used(ref)}"))
    return errors


def _still_used(ref: _Reference) -> str:
    what = f'subset "{ref.name}" of host {ref.shown}' if ref.kind == "subset" else f'Gateway "{ref.shown}"'
    return f"{what} is still referenced by {ref.owner.ref} at {ref.path}"


def _deleted_path(doomed: Resource, ref: _Reference, old_index: _Index) -> str:
    if ref.kind == "subset" and doomed.key in old_index.destination_rules:
        _, spec = old_index.destination_rules[doomed.key]
        position = next((i for i, subset in enumerate(spec.subsets) if subset.name == ref.name), None)
        if position is not None:
            return f"{doomed.ref}.spec.subsets[{position}]"
    return doomed.ref
