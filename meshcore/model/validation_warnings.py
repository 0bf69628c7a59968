"""Warnings about Istio resources: allowed (they do not block an apply) but probably not intended.

In the spirit of Kiali's validations (KIA codes in brackets); the checks that make a change wrong
rather than doubtful are errors in ``meshcore.model.validation``:

* a DestinationRule subset whose labels select no workload of its host (KIA0203; an error in Kiali,
  a warning here because Istio's own samples define subsets for versions that are not deployed);
* a route with retries and an abort fault: the fault filter answers before the router, so the
  aborted requests are never retried and the retries only mask other failures;
* a single destination with an explicit weight: it receives all traffic whatever the weight (KIA1104);
* the same host and subset twice among one route's destinations (KIA1105).

``validation_warnings(resources, registry)`` returns ``FieldError`` values with the same
path format and prefixes as ``validate`` (see that module's docstring). Pure; thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from meshcore.model.errors import FieldError, ValidationError
from meshcore.model.istio import DestinationRuleSpec, VirtualServiceSpec, spec_view
from meshcore.model.registry import Registry
from meshcore.model.resources import Resource


def _labels_text(labels: tuple[tuple[str, str], ...] | dict[str, str]) -> str:
    items = labels.items() if isinstance(labels, dict) else labels
    return ", ".join(f"{key}={value}" for key, value in items) or "none"


def _destination_rule_warnings(
    spec: DestinationRuleSpec, resource: Resource, registry: Registry
) -> list[FieldError]:
    service = registry.resolve_host(spec.host, resource.namespace)
    if service is None:
        return []  # an unknown host is an error, reported by validate()
    workloads = registry.workloads_of(service)
    warnings = []
    for index, subset in enumerate(spec.subsets):
        if not any(workload.matches(dict(subset.labels)) for workload in workloads):
            deployed = "; ".join(f"{w.name} ({_labels_text(dict(w.labels))})" for w in workloads) or "none"
            warnings.append(
                FieldError(
                    f"spec.subsets[{index}].labels",
                    f'subset "{subset.name}" selects no workload of {service.name} '
                    f"(labels {_labels_text(subset.labels)}; workloads: {deployed}): traffic sent to it "
                    "fails with 503 until such a workload runs",
                )
            )
    return warnings


def _virtual_service_warnings(
    spec: VirtualServiceSpec, _resource: Resource, _registry: Registry
) -> list[FieldError]:
    warnings = []
    for i, route in enumerate(spec.http):
        path = f"spec.http[{i}]"
        if route.retries is not None and route.retries.attempts and route.fault and route.fault.abort:
            warnings.append(
                FieldError(
                    f"{path}.retries",
                    "retries have no effect on the requests this rule's abort fault answers (the fault "
                    "filter responds before the router could retry)",
                )
            )
        if len(route.route) == 1 and route.route[0].weight is not None:
            warnings.append(
                FieldError(
                    f"{path}.route[0].weight",
                    "a single destination receives all traffic; the weight has no effect (omit it)",
                )
            )
        seen: dict[tuple[str, str | None], int] = {}
        for j, target in enumerate(route.route):
            key = (target.destination.host, target.destination.subset)
            if key in seen:
                shown = target.destination.host + (f" subset {key[1]}" if key[1] else "")
                warnings.append(
                    FieldError(
                        f"{path}.route[{j}].destination",
                        f"{shown} is already the destination of {path}.route[{seen[key]}]; "
                        "merge them into one destination with the summed weight",
                    )
                )
            else:
                seen[key] = j
    return warnings


_CHECKS: dict[type, Callable[..., list[FieldError]]] = {
    DestinationRuleSpec: _destination_rule_warnings,
    VirtualServiceSpec: _virtual_service_warnings,
}


def validation_warnings(resources: Sequence[Resource], registry: Registry) -> list[FieldError]:
    """Warnings about applying ``resources``; malformed ones are skipped (``validate`` reports them)."""
    many = len(resources) > 1
    warnings: list[FieldError] = []
    for resource in resources:
        try:
            view = spec_view(resource, enforce_rules=False)
        except ValidationError:
            continue
        check = _CHECKS.get(type(view))
        if check is None:
            continue
        prefix = resource.ref if many else ""
        warnings += [warning.prefixed(prefix) for warning in check(view, resource, registry)]
    return warnings
