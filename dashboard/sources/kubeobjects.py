"""Istio objects as the Kubernetes API serves them, and the route store's documents. Pure: no
Django, no client library, no I/O.

The route store deals in `{"apiVersion", "kind", "metadata": {name, namespace, resourceVersion,
labels, annotations}, "spec"}` (what the local control plane stores); the API server adds `uid`,
`creationTimestamp`, `generation`, `managedFields`, `selfLink`, `status`, which `from_api` drops.
`api_error` turns an API server answer (a `Status` object) into the one `SourceError`, with its
`details.causes` as field errors.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dashboard.sources.errors import SourceError
from meshcore.model.errors import FieldError

# plural -> (API group, the version we read and list with). Istio serves its networking kinds as
# v1 (v1beta1 and v1alpha3 too), its security kinds as v1, EnvoyFilter only as v1alpha3.
GROUP_VERSIONS: dict[str, tuple[str, str]] = {
    "virtualservices": ("networking.istio.io", "v1"),
    "destinationrules": ("networking.istio.io", "v1"),
    "gateways": ("networking.istio.io", "v1"),
    "peerauthentications": ("security.istio.io", "v1"),
    "authorizationpolicies": ("security.istio.io", "v1"),
    "envoyfilters": ("networking.istio.io", "v1alpha3"),
}
# The metadata the store's documents carry; everything else is the API server's bookkeeping.
_KEPT_METADATA = ("name", "namespace", "resourceVersion", "labels", "annotations")
Document = dict[str, Any]


@dataclass(frozen=True)
class Location:
    """Where one object lives in the API: /apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}."""

    group: str
    version: str
    plural: str
    namespace: str
    name: str


def location(plural: str, document: Mapping[str, Any]) -> Location:
    """The object's API path parts; the version is the document's own when its group is the kind's
    (a v1beta1 document is written as v1beta1), the default one otherwise."""
    group, version = GROUP_VERSIONS[plural]
    doc_group, _, doc_version = str(document.get("apiVersion", "")).rpartition("/")
    metadata = document.get("metadata") or {}
    return Location(
        group,
        doc_version if doc_group == group and doc_version else version,
        plural,
        str(metadata.get("namespace") or "default"),
        str(metadata.get("name", "")),
    )


def from_api(obj: Mapping[str, Any]) -> Document:
    """The store's document for an object the API server answered (a deep copy, server fields dropped)."""
    metadata = obj.get("metadata") or {}
    kept = {key: copy.deepcopy(metadata[key]) for key in _KEPT_METADATA if metadata.get(key)}
    kept.setdefault("namespace", "default")
    return {
        "apiVersion": obj.get("apiVersion", ""),
        "kind": obj.get("kind", ""),
        "metadata": kept,
        "spec": copy.deepcopy(obj.get("spec") or {}),
    }


def to_api(document: Mapping[str, Any], resource_version: str = "") -> Document:
    """The body of a create (no `resource_version`) or a replace (the version it must still have)."""
    body = from_api(document)
    body["metadata"].pop("resourceVersion", None)
    if resource_version:
        body["metadata"]["resourceVersion"] = resource_version
    return body


def same_content(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether writing `a` over `b` changes nothing the store keeps (as the local store decides
    `unchanged`: apiVersion, spec, labels, annotations)."""

    def content(document: Mapping[str, Any]) -> tuple[Any, ...]:
        metadata = document.get("metadata") or {}
        return (
            document.get("apiVersion"),
            document.get("spec") or {},
            metadata.get("labels") or {},
            metadata.get("annotations") or {},
        )

    return content(a) == content(b)


def revision_token(objects: Iterable[Mapping[str, Any]]) -> str:
    """A token that changes whenever any object is created, changed or deleted: a digest of every
    (kind, namespace, name, resourceVersion). The same objects give the same token in every process."""
    keys = sorted(
        (
            str(o.get("kind", "")),
            str((o.get("metadata") or {}).get("namespace", "")),
            str((o.get("metadata") or {}).get("name", "")),
            str((o.get("metadata") or {}).get("resourceVersion", "")),
        )
        for o in objects
    )
    return hashlib.sha256(json.dumps(keys).encode()).hexdigest()[:32]


def _causes(status: Mapping[str, Any]) -> list[FieldError]:
    details = status.get("details") or {}
    return [
        FieldError(str(cause.get("field", "")), str(cause.get("message") or cause.get("reason") or ""))
        for cause in details.get("causes") or []
        if isinstance(cause, Mapping)
    ]


def parse_status(body: str | bytes | None) -> dict[str, Any]:
    """The `Status` object of an error answer ({} when the body is not one)."""
    try:
        status = json.loads(body or b"")
    except (TypeError, ValueError):
        return {}
    return status if isinstance(status, dict) else {}


def api_error(
    status_code: int | None, body: str | bytes | None, what: str, creating: bool = False
) -> SourceError:
    """The SourceError for an API server's refusal of an operation on `what` ("VirtualService default/x").

    Statuses keep their meaning for the routes views: 404 unknown object, 409 stale
    resourceVersion (or created meanwhile), 422 invalid with the server's causes as field errors,
    400 unparsable, 403 refused by RBAC or admission. A create answered 404 is invalid input: 422 on
    `metadata.namespace` when the namespace does not exist, on `apiVersion` when the cluster does
    not serve the kind there (no such CRD or version). 401 (bad credentials) and 5xx give no status:
    the cluster is not usable, as if unreachable.
    """
    status = parse_status(body)
    message = str(status.get("message") or f"HTTP {status_code}")
    text = f"{what}: {message}"
    if creating and status_code == 404:
        if (status.get("details") or {}).get("kind") == "namespaces":
            return SourceError(text, 422, [FieldError("metadata.namespace", message)])
        served = "the cluster does not serve this kind at this apiVersion (is Istio's CRD installed?)"
        return SourceError(f"{what}: {served}", 422, [FieldError("apiVersion", served)])
    if status_code == 409:
        return SourceError(f"{what}: {message}; get it again and reapply your change", 409, _causes(status))
    if status_code == 422:
        return SourceError(text, 422, _causes(status) or [FieldError("", message)])
    if status_code in (400, 403, 404):
        return SourceError(text, status_code, _causes(status))
    return SourceError(f"the Kubernetes API refused {what}: {message}")
