"""The stored Istio object: Kubernetes envelope (apiVersion, kind, metadata) plus the raw spec.

``Resource`` keeps the spec exactly as the user wrote it so that what is stored, served by the
resource API and shown in the YAML editor is the user's document, byte-for-byte in meaning; typed
views for the control plane come from ``meshcore.model.istio``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from meshcore.model.errors import FieldError, ValidationError
from meshcore.model.schema import DNS1123_LABEL, DNS1123_LABEL_HELP, MapOf, Str, describe

KINDS: dict[str, str] = {
    "VirtualService": "virtualservices",
    "DestinationRule": "destinationrules",
    "Gateway": "gateways",
    "PeerAuthentication": "peerauthentications",
    "AuthorizationPolicy": "authorizationpolicies",
    "EnvoyFilter": "envoyfilters",
}
API_GROUP = "networking.istio.io"
API_VERSIONS: tuple[str, ...] = (f"{API_GROUP}/v1", f"{API_GROUP}/v1beta1", f"{API_GROUP}/v1alpha3")
DEFAULT_API_VERSION = API_VERSIONS[0]
SECURITY_API_GROUP = "security.istio.io"
SECURITY_API_VERSIONS: tuple[str, ...] = (f"{SECURITY_API_GROUP}/v1", f"{SECURITY_API_GROUP}/v1beta1")
# The apiVersions Istio serves each kind under (EnvoyFilter exists only as v1alpha3); networking's
# for VirtualService, DestinationRule, Gateway and for unknown kinds (reported on `kind`).
KIND_API_VERSIONS: dict[str, tuple[str, ...]] = {
    "PeerAuthentication": SECURITY_API_VERSIONS,
    "AuthorizationPolicy": SECURITY_API_VERSIONS,
    "EnvoyFilter": (f"{API_GROUP}/v1alpha3",),
}
DEFAULT_NAMESPACE = "default"

# Singular names and kubectl short names, lower-cased, for every kind.
_KIND_ALIASES: dict[str, str] = {
    alias: kind
    for kind, names in {
        "VirtualService": ("virtualservices", "virtualservice", "vs"),
        "DestinationRule": ("destinationrules", "destinationrule", "dr"),
        "Gateway": ("gateways", "gateway", "gw"),
        "PeerAuthentication": ("peerauthentications", "peerauthentication", "pa"),
        "AuthorizationPolicy": ("authorizationpolicies", "authorizationpolicy", "ap"),
        "EnvoyFilter": ("envoyfilters", "envoyfilter", "ef"),
    }.items()
    for alias in names
}

# Top-level fields besides apiVersion/kind/metadata/spec that a `kubectl get -o yaml` document may
# carry; they are accepted so such output can be applied again, and dropped.
_IGNORED_TOP_LEVEL = frozenset({"status"})
_NAME = Str(non_empty=True, pattern=DNS1123_LABEL, pattern_help=DNS1123_LABEL_HELP)
_MAX_NAME_LENGTH = 63
_STRING_MAP = MapOf(Str())


def kind_from_plural(plural_or_kind: str) -> str:
    """The canonical kind for a kind, plural, singular or short name (case-insensitive).

    ``"virtualservices"``, ``"vs"``, ``"VirtualService"`` -> ``"VirtualService"``. Raises ValueError
    listing the accepted names when the name is unknown.
    """
    kind = _KIND_ALIASES.get(plural_or_kind.strip().lower())
    if kind is None:
        accepted = ", ".join(sorted(_KIND_ALIASES))
        raise ValueError(f"unknown resource type {plural_or_kind!r}; expected one of: {accepted}")
    return kind


def _name_errors(value: Any, path: str) -> list[FieldError]:
    errors = _NAME.check(value, path)
    if not errors and len(value) > _MAX_NAME_LENGTH:
        errors = [FieldError(path, f"must be at most {_MAX_NAME_LENGTH} characters, got {len(value)}")]
    return errors


def _json_errors(value: Any, path: str) -> list[FieldError]:
    """Values YAML can produce but JSON cannot (dates, binary, non-string keys) are refused."""
    if isinstance(value, Mapping):
        errors = []
        for key, item in value.items():
            if not isinstance(key, str):
                errors.append(FieldError(path, f"keys must be strings, got {describe(key)}"))
            else:
                errors += _json_errors(item, f"{path}.{key}")
        return errors
    if isinstance(value, list):
        return [error for index, item in enumerate(value) for error in _json_errors(item, f"{path}[{index}]")]
    if value is None or isinstance(value, str | int | float | bool):
        return []
    return [
        FieldError(
            path, f"must be a JSON value (string, number, boolean, list or object), got {describe(value)}"
        )
    ]


@dataclass(frozen=True)
class Resource:
    """One Istio object (networking or security); immutable and safe to share between threads.

    ``spec`` is the JSON-compatible spec exactly as written (a private deep copy is taken at
    construction; never mutate it in place); ``resource_version`` is assigned by the store ("" when
    the user did not send one); ``key`` identifies the object in the store. Resources compare by
    value and hash by (key, resource_version).
    """

    api_version: str
    kind: str
    name: str
    namespace: str = DEFAULT_NAMESPACE
    spec: Mapping[str, Any] = field(default_factory=dict)
    resource_version: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Own private copies, so a caller editing its dicts afterwards cannot change a stored object.
        object.__setattr__(self, "spec", copy.deepcopy(dict(self.spec)))
        object.__setattr__(self, "labels", dict(self.labels))
        object.__setattr__(self, "annotations", dict(self.annotations))

    def __hash__(self) -> int:
        # Consistent with the generated __eq__: equal resources share key and version.
        return hash((self.key, self.resource_version))

    @property
    def key(self) -> tuple[str, str, str]:
        """(kind, namespace, name): the identity of the object in a store."""
        return (self.kind, self.namespace, self.name)

    @property
    def ref(self) -> str:
        """Human reference used in messages: ``VirtualService/reviews`` (``Kind/ns/name`` off default)."""
        if self.namespace == DEFAULT_NAMESPACE:
            return f"{self.kind}/{self.name}"
        return f"{self.kind}/{self.namespace}/{self.name}"

    def with_version(self, resource_version: str) -> Resource:
        """A copy with ``resource_version`` set (the store calls this on every write)."""
        return replace(self, resource_version=resource_version)

    def to_dict(self) -> dict[str, Any]:
        """The Kubernetes document: apiVersion, kind, metadata, spec (in that order; a deep copy)."""
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self.resource_version:
            metadata["resourceVersion"] = self.resource_version
        if self.labels:
            metadata["labels"] = dict(self.labels)
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": metadata,
            "spec": copy.deepcopy(dict(self.spec)),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], index: int | None = None) -> Resource:
        """Build a Resource from a Kubernetes document, checking the envelope (not the spec's content).

        Raises ValidationError listing every envelope problem: unsupported apiVersion/kind,
        ``metadata.name: required``, names that are not DNS-1123 labels, non-string labels, a
        missing or non-object ``spec``, unknown top-level fields. With ``index`` given, each path
        is prefixed ``document[<index>].`` (callers pass it only for multi-document input).
        Unknown metadata fields (uid, creationTimestamp, ...) are ignored so that ``kubectl get -o
        yaml`` output can be applied again.
        """
        errors = envelope_errors(doc)
        if errors:
            prefix = f"document[{index}]" if index is not None else ""
            raise ValidationError(error.prefixed(prefix) for error in errors)
        metadata = doc["metadata"]
        return cls(
            api_version=doc["apiVersion"],
            kind=doc["kind"],
            name=metadata["name"],
            namespace=metadata.get("namespace") or DEFAULT_NAMESPACE,
            spec=doc["spec"],
            resource_version=str(metadata.get("resourceVersion") or ""),
            labels=dict(metadata.get("labels") or {}),
            annotations=dict(metadata.get("annotations") or {}),
        )


def envelope_errors(doc: Any) -> list[FieldError]:
    """Problems of a document's envelope (apiVersion, kind, metadata, spec being an object)."""
    if not isinstance(doc, Mapping):
        return [FieldError("", f"must be an object (a Kubernetes resource), got {describe(doc)}")]
    errors = [
        FieldError(str(key), "unknown field")
        for key in doc
        if key not in ("apiVersion", "kind", "metadata", "spec") and key not in _IGNORED_TOP_LEVEL
    ]
    errors += _type_errors(doc)
    errors += _metadata_errors(doc.get("metadata"))
    if "spec" not in doc:
        errors.append(FieldError("spec", "required"))
    elif not isinstance(doc["spec"], Mapping):
        errors.append(FieldError("spec", f"must be an object, got {describe(doc['spec'])}"))
    else:
        errors += _json_errors(doc["spec"], "spec")
    return errors


def _type_errors(doc: Mapping[str, Any]) -> list[FieldError]:
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    errors = []
    accepted = KIND_API_VERSIONS.get(kind, API_VERSIONS) if isinstance(kind, str) else API_VERSIONS
    if api_version is None:
        errors.append(FieldError("apiVersion", "required"))
    elif not isinstance(api_version, str) or api_version not in accepted:
        errors.append(
            FieldError(
                "apiVersion",
                f"unsupported apiVersion {describe(api_version)}; use one of {', '.join(accepted)}",
            )
        )
    if kind is None:
        errors.append(FieldError("kind", "required"))
    # A kind that is not a string (an object, a list) is unsupported too, not a TypeError.
    elif not isinstance(kind, str) or kind not in KINDS:
        errors.append(FieldError("kind", f"unsupported kind {describe(kind)}; use one of {', '.join(KINDS)}"))
    return errors


def _metadata_errors(metadata: Any) -> list[FieldError]:
    if metadata is None:
        return [FieldError("metadata.name", "required")]
    if not isinstance(metadata, Mapping):
        return [FieldError("metadata", f"must be an object, got {describe(metadata)}")]
    errors = (
        _name_errors(metadata["name"], "metadata.name")
        if "name" in metadata
        else [FieldError("metadata.name", "required")]
    )
    if metadata.get("namespace") is not None:
        errors += _name_errors(metadata["namespace"], "metadata.namespace")
    for key in ("labels", "annotations"):
        if metadata.get(key) is not None:
            errors += _STRING_MAP.check(metadata[key], f"metadata.{key}")
    version = metadata.get("resourceVersion")
    if version is not None and not isinstance(version, str | int):
        errors.append(FieldError("metadata.resourceVersion", f"must be a string, got {describe(version)}"))
    return errors


def is_valid_name(name: str) -> bool:
    """Whether ``name`` is usable as metadata.name (a DNS-1123 label)."""
    return isinstance(name, str) and not _name_errors(name, "")


__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_VERSION",
    "DEFAULT_NAMESPACE",
    "KINDS",
    "KIND_API_VERSIONS",
    "Resource",
    "envelope_errors",
    "is_valid_name",
    "kind_from_plural",
]
