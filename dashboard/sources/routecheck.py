"""The control plane's own checks of a route change, run by stores that have no control plane of
ours behind them (Istio CRDs in a cluster). Pure: no Django, no I/O.

`check(documents, existing, registry)` gives (errors, warnings) exactly as meshcore's resource API
would: structure, then meaning against the registry and the combined set of objects
(`meshcore.model.validation`), and the doubtful-but-allowed findings
(`validation_warnings`, `security_warnings`). Without a registry only the structure is checked, and
a warning says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dashboard.sources.registry import MeshRegistry
from meshcore.model.errors import FieldError, ValidationError
from meshcore.model.istio_schema import check_spec
from meshcore.model.registry import Gateway, Registry, Service, ServicePort, Workload
from meshcore.model.resources import Resource, envelope_errors
from meshcore.model.security_validation import security_warnings
from meshcore.model.validation import validate
from meshcore.model.validation_warnings import validation_warnings

NO_REGISTRY = "the registry is unreachable: hosts, gateways and subsets were not checked"


def service_account(spiffe_id: str) -> str:
    """`spiffe://cluster.local/ns/default/sa/bookinfo-reviews` -> `bookinfo-reviews` ("default"
    without one, as Kubernetes gives a pod that names none)."""
    _, found, account = spiffe_id.rpartition("/sa/")
    return account if found and account else "default"


def model_registry(registry: MeshRegistry) -> Registry:
    """The dashboard's registry in the model the validation reads (services, versioned workloads)."""
    services = tuple(
        Service(s.name, s.namespace, tuple(ServicePort(port) for port in s.ports)) for s in registry.services
    )
    workloads = tuple(
        Workload(
            w.name,
            w.service,
            {"app": w.app, **({"version": w.version} if w.version else {})},
            w.namespace,
            service_account=service_account(w.spiffe_id),
        )
        for w in registry.workloads
    )
    gateway = registry.gateway
    if gateway is None:
        return Registry(services, workloads)
    return Registry(
        services, workloads, Gateway(gateway.name, gateway.namespace, backend_service=gateway.backend_service)
    )


def parse_resources(documents: Sequence[Mapping[str, Any]]) -> tuple[list[Resource], list[FieldError]]:
    """The documents as the model's Resources, and the envelope problems of those that are not."""
    many = len(documents) > 1
    resources, errors = [], []
    for index, document in enumerate(documents):
        try:
            resources.append(Resource.from_dict(document, index if many else None))
        except ValidationError as error:
            errors += error.errors
    return resources, errors


def _structure(resources: Sequence[Resource]) -> list[FieldError]:
    many = len(resources) > 1
    return [
        error.prefixed(resource.ref if many else "")
        for resource in resources
        for error in envelope_errors(resource.to_dict()) + check_spec(resource.kind, resource.spec)
    ]


def check(
    documents: Sequence[Mapping[str, Any]],
    existing: Sequence[Mapping[str, Any]],
    registry: MeshRegistry | None,
) -> tuple[list[FieldError], list[FieldError]]:
    """(errors, warnings) of applying `documents` over the stored `existing`; no errors = valid."""
    resources, errors = parse_resources(documents)
    if errors:
        return errors, []
    stored, _ = parse_resources(existing)  # an unreadable stored object is not this change's problem
    if registry is None:
        return _structure(resources), [FieldError("", NO_REGISTRY)]
    model = model_registry(registry)
    errors = validate(resources, model, stored)
    if errors:
        return errors, []
    return [], validation_warnings(resources, model) + security_warnings(resources, model, stored)
