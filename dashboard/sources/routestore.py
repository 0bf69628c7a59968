"""Where Istio routing objects live: read, write with optimistic concurrency, dry-run, sync state.

`RouteStore` is generic over Istio kinds, named by their plural (virtualservices, destinationrules,
gateways; peerauthentications, authorizationpolicies, envoyfilters), and deals in plain Kubernetes
documents (`{"apiVersion", "kind", "metadata", "spec"}`).
A document whose `metadata.resourceVersion` is set is written only if the stored object still has
that version. Failures are `SourceError` with `status` as data: 404 unknown object, 409 stale
resourceVersion, 422 invalid (field errors in `errors`), 400 unparsable, None unreachable.

`ControlPlaneRouteStore` talks to the local control plane's resource API; a Kubernetes
implementation (Istio CRDs) implements the same Protocol. Thread-safe (no shared mutable state).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from dashboard.sources.errors import SourceError
from dashboard.sources.http import TokenSource, auth_headers, request_json
from dashboard.sources.registry import NodeStatus, parse_status
from meshcore.model.errors import FieldError

ROUTING_PLURALS: dict[str, str] = {
    "virtualservices": "VirtualService",
    "destinationrules": "DestinationRule",
    "gateways": "Gateway",
}
# Istio's security kinds (and the EnvoyFilter of its local rate limit) share the store, the write
# path, the audit log and rollback with the routing ones.
SECURITY_PLURALS: dict[str, str] = {
    "peerauthentications": "PeerAuthentication",
    "authorizationpolicies": "AuthorizationPolicy",
    "envoyfilters": "EnvoyFilter",
}
PLURALS: dict[str, str] = {**ROUTING_PLURALS, **SECURITY_PLURALS}
KIND_PLURALS: dict[str, str] = {kind: plural for plural, kind in PLURALS.items()}
# The server gives up waiting for ACKs after this long; our HTTP deadline adds a margin to it.
MAX_WAIT_S = 30.0


@dataclass(frozen=True)
class WriteOutcome:
    """The answer to an apply or a dry run.

    `objects` are the documents as stored (or as they would be), each with `action` created |
    configured | unchanged; `warnings` are doubtful-but-allowed findings; `sync` the push result when
    the caller waited for it ({"acked": [node ids], "rejected": [{node_id, message}], "pending": [..]});
    `changes` (dry run only) per group of proxies: the route configurations before and after.
    """

    objects: list[dict[str, Any]]
    warnings: list[FieldError] = field(default_factory=list)
    sync: dict[str, Any] | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)


class RouteStore(Protocol):
    """Istio routing objects of one mesh. Every method raises SourceError on failure."""

    def revision(self) -> str:
        """A token that changes whenever any routing object changes (cheap to read)."""
        ...

    def list(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]: ...

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]: ...

    def apply(self, documents: Sequence[Mapping[str, Any]], wait_s: float = 0.0) -> WriteOutcome:
        """Create or replace every document, all or nothing; wait up to `wait_s` for the push."""
        ...

    def dry_run(self, documents: Sequence[Mapping[str, Any]]) -> WriteOutcome:
        """What `apply` would do; nothing is stored or pushed."""
        ...

    def delete(
        self, plural: str, namespace: str, name: str, resource_version: str = "", wait_s: float = 0.0
    ) -> dict[str, Any]:
        """Delete one object (the deleted document is returned); 409 if `resource_version` is stale."""
        ...

    def sync_status(self) -> tuple[NodeStatus, ...]:
        """Per proxy: connected, config version sent and ACKed, the NACK in force with Envoy's text."""
        ...


def check_plural(plural: str) -> str:
    """The kind for a plural name; SourceError(404) for anything else."""
    kind = PLURALS.get(plural)
    if kind is None:
        raise SourceError(f"unknown resource type {plural!r}; expected one of {', '.join(PLURALS)}", 404)
    return kind


def _field_errors(raw: Any) -> list[FieldError]:
    return [
        FieldError(str(item.get("path", "")), str(item.get("message", "")))
        for item in raw or []
        if isinstance(item, dict)
    ]


class ControlPlaneRouteStore:
    """The local control plane's resource API at `base_url`.

    `timeout` (seconds) bounds each call (plus the wait of an apply); `headers` are sent on every
    request (for example the control plane's bearer token).
    """

    def __init__(self, base_url: str, timeout: float, token: TokenSource = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token

    def _call(self, method: str, path: str, body: Any = None, wait_s: float = 0.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {
            **auth_headers(self.token),
            **({"Content-Type": "application/json"} if data is not None else {}),
        }
        return request_json(method, self.base_url + path, self.timeout + wait_s, data, headers)

    def revision(self) -> str:
        return str(self._call("GET", "/api/v1/revision")["resourceVersion"])

    def list(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        check_plural(plural)
        items = self._call("GET", f"/api/v1/{plural}")["items"]
        return [
            i for i in items if namespace is None or i["metadata"].get("namespace", "default") == namespace
        ]

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        check_plural(plural)
        return self._call(
            "GET", f"/api/v1/{plural}/{quote(name, safe='')}?{urlencode({'namespace': namespace})}"
        )

    def apply(self, documents: Sequence[Mapping[str, Any]], wait_s: float = 0.0) -> WriteOutcome:
        wait_s = min(max(wait_s, 0.0), MAX_WAIT_S)
        answer = self._call("POST", f"/api/v1/apply?wait={wait_s:g}", list(documents), wait_s)
        return WriteOutcome(
            objects=answer.get("applied", []),
            warnings=_field_errors(answer.get("warnings")),
            sync=answer.get("sync"),
        )

    def dry_run(self, documents: Sequence[Mapping[str, Any]]) -> WriteOutcome:
        answer = self._call("POST", "/api/v1/apply?dryRun=All", list(documents))
        return WriteOutcome(
            objects=answer.get("applied", []),
            warnings=_field_errors(answer.get("warnings")),
            changes=answer.get("changes", []),
        )

    def delete(
        self, plural: str, namespace: str, name: str, resource_version: str = "", wait_s: float = 0.0
    ) -> dict[str, Any]:
        check_plural(plural)
        wait_s = min(max(wait_s, 0.0), MAX_WAIT_S)
        query: dict[str, Any] = {"namespace": namespace, "wait": f"{wait_s:g}"}
        if resource_version:
            query["resourceVersion"] = resource_version
        answer = self._call(
            "DELETE", f"/api/v1/{plural}/{quote(name, safe='')}?{urlencode(query)}", wait_s=wait_s
        )
        return {**answer["deleted"], "sync": answer.get("sync")}

    def sync_status(self) -> tuple[NodeStatus, ...]:
        return parse_status(self._call("GET", "/api/v1/status"))
