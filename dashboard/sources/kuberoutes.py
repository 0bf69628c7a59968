"""The RouteStore of a Kubernetes cluster: Istio's custom objects through the API server.

`KubernetesRouteStore` implements dashboard.sources.routestore.RouteStore over `CustomObjectsApi`:
the same documents (kubeobjects.from_api), the same failures (kubeobjects.api_error: 404, 409 for a
stale resourceVersion, 422 with field errors, 400, 403), the same checks before any write
(routecheck: the control plane's validation against the cluster's registry) plus the API server's
own server-side dry run (`dryRun=All`: admission, Istio's validating webhook where installed).

Kubernetes has no multi-object transaction: `apply` validates and dry-runs the whole batch first,
then writes object by object, and if a write still fails (a change that raced in) it puts back the
objects it had already written before raising. Istio pushes config itself and the API server has
no view of proxy ACKs: `wait_s` is ignored, `sync` is None and `sync_status()` is empty.

Every call passes `_request_timeout` (`timeout` seconds). Thread-safe: no mutable state besides the
client's connection pool.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client

from dashboard.sources import kubeobjects, routecheck
from dashboard.sources.errors import SourceError
from dashboard.sources.registry import MeshRegistry, NodeStatus
from dashboard.sources.routestore import KIND_PLURALS, PLURALS, WriteOutcome, check_plural
from meshcore.model.errors import FieldError
from meshcore.model.validation import validate_delete

Document = dict[str, Any]
RegistryProvider = Callable[[], MeshRegistry | None]


def _no_registry() -> MeshRegistry | None:
    return None


def _what(kind: str, namespace: str, name: str) -> str:
    return f"{kind} {namespace}/{name}"


@dataclass(frozen=True)
class _Step:
    """One object of a batch: where it goes, what is stored now, what the write will be."""

    document: Document
    where: kubeobjects.Location
    current: Document | None
    action: str  # created | configured | unchanged

    @property
    def what(self) -> str:
        return _what(self.document["kind"], self.where.namespace, self.where.name)

    @property
    def resource_version(self) -> str:
        """The version the write requires: the editor's, else the one just read (a plain overwrite)."""
        sent = str(self.document.get("metadata", {}).get("resourceVersion") or "")
        if sent or self.current is None:
            return sent
        return str(self.current["metadata"].get("resourceVersion") or "")


class KubernetesRouteStore:
    """Istio's CRDs in the cluster `api` talks to.

    `timeout` (seconds) bounds each API call; `registry` returns the cluster's registry for the
    validation (None when unavailable: only the structure is checked then, with a warning).
    """

    def __init__(
        self, api: client.ApiClient, timeout: float, registry: RegistryProvider = _no_registry
    ) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.timeout = timeout
        self.registry = registry

    # --- calls ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _answer(self, what: str, creating: bool = False) -> Iterator[None]:
        """Turn the client's failures into SourceError (see kubeobjects.api_error)."""
        try:
            yield
        except client.ApiException as error:
            if not error.status:
                raise SourceError(f"cannot reach the Kubernetes API server: {error.reason}") from None
            raise kubeobjects.api_error(error.status, error.body, what, creating) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise SourceError(f"cannot reach the Kubernetes API server: {error}") from None

    def _list_raw(self, plural: str, namespace: str | None, **options: Any) -> list[Document]:
        """The objects of one kind; [] when the cluster does not serve the kind (no such CRD)."""
        group, version = kubeobjects.GROUP_VERSIONS[plural]
        try:
            with self._answer(f"listing {plural}"):
                if namespace is None:
                    answer = self.custom.list_cluster_custom_object(
                        group, version, plural, _request_timeout=self.timeout, **options
                    )
                else:
                    answer = self.custom.list_namespaced_custom_object(
                        group, version, namespace, plural, _request_timeout=self.timeout, **options
                    )
        except SourceError as error:
            if error.status == 404:
                return []
            raise
        return list(answer.get("items") or [])

    def _get_raw(self, plural: str, namespace: str, name: str) -> Document | None:
        group, version = kubeobjects.GROUP_VERSIONS[plural]
        try:
            with self._answer(_what(PLURALS[plural], namespace, name)):
                return self.custom.get_namespaced_custom_object(
                    group, version, namespace, plural, name, _request_timeout=self.timeout
                )
        except SourceError as error:
            if error.status == 404:
                return None
            raise

    def _write(self, step: _Step, dry_run: bool = False) -> Document:
        where = step.where
        options: dict[str, Any] = {"_request_timeout": self.timeout}
        if dry_run:
            options["dry_run"] = "All"
        if step.action == "created":
            with self._answer(step.what, creating=True):
                answer = self.custom.create_namespaced_custom_object(
                    where.group,
                    where.version,
                    where.namespace,
                    where.plural,
                    kubeobjects.to_api(step.document),
                    **options,
                )
        else:
            with self._answer(step.what):
                answer = self.custom.replace_namespaced_custom_object(
                    where.group,
                    where.version,
                    where.namespace,
                    where.plural,
                    where.name,
                    kubeobjects.to_api(step.document, step.resource_version),
                    **options,
                )
        return kubeobjects.from_api(answer)

    # --- the Protocol ---------------------------------------------------------------------------

    def revision(self) -> str:
        """A digest of every object's key and resourceVersion, from lists served by the API
        server's watch cache (`resourceVersion=0`: no etcd read), so polling it is cheap."""
        return kubeobjects.revision_token(
            item for plural in PLURALS for item in self._list_raw(plural, None, resource_version="0")
        )

    def list(self, plural: str, namespace: str | None = None) -> list[Document]:
        check_plural(plural)
        return [kubeobjects.from_api(item) for item in self._list_raw(plural, namespace)]

    def get(self, plural: str, namespace: str, name: str) -> Document:
        kind = check_plural(plural)
        found = self._get_raw(plural, namespace, name)
        if found is None:
            raise SourceError(f"{_what(kind, namespace, name)} not found", 404)
        return kubeobjects.from_api(found)

    def _stored(self) -> list[Document]:
        return [d for plural in PLURALS for d in self.list(plural)]

    def _plan(self, documents: Sequence[Mapping[str, Any]]) -> tuple[list[_Step], list[FieldError]]:
        """Check the batch as the control plane would, then against what is stored; the steps in
        order and the warnings. Raises SourceError 422 (invalid) or 409 (stale resourceVersion)."""
        stored = self._stored()
        errors, warnings = routecheck.check(documents, stored, self.registry())
        if errors:
            raise SourceError("invalid resources", 422, errors)
        by_key = {_key(d): d for d in stored}
        steps = []
        for raw in documents:
            document = kubeobjects.from_api(raw)
            plural = KIND_PLURALS[document["kind"]]
            where = kubeobjects.location(plural, document)
            current = by_key.get(_key(document))
            sent = str(document["metadata"].get("resourceVersion") or "")
            what = _what(document["kind"], where.namespace, where.name)
            if sent and (current is None or current["metadata"].get("resourceVersion") != sent):
                now = (
                    f"is at resourceVersion {current['metadata'].get('resourceVersion')}"
                    if current
                    else "does not exist"
                )
                raise SourceError(
                    f"{what}: resourceVersion {sent} is stale, the object {now}; "
                    "get it again and reapply your change",
                    409,
                )
            if current is None:
                action = "created"
            elif kubeobjects.same_content(document, current):
                action = "unchanged"
            else:
                action = "configured"
            steps.append(_Step(document, where, current, action))
        return steps, warnings

    def dry_run(self, documents: Sequence[Mapping[str, Any]]) -> WriteOutcome:
        steps, warnings = self._plan(documents)
        objects = []
        for step in steps:
            planned = step.current if step.action == "unchanged" else self._write(step, dry_run=True)
            objects.append({"action": step.action, **(planned or step.document)})
        return WriteOutcome(objects=objects, warnings=warnings)

    def apply(self, documents: Sequence[Mapping[str, Any]], wait_s: float = 0.0) -> WriteOutcome:
        """Create or replace every document (see the module docstring for "all or nothing").
        `wait_s` is ignored: there is no ACK to wait for."""
        steps, warnings = self._plan(documents)
        for step in steps:
            if step.action != "unchanged":
                self._write(step, dry_run=True)
        written: list[tuple[_Step, Document]] = []
        objects = []
        try:
            for step in steps:
                if step.action == "unchanged":
                    assert step.current is not None
                    objects.append({"action": "unchanged", **step.current})
                    continue
                stored = self._write(step)
                written.append((step, stored))
                objects.append({"action": step.action, **stored})
        except SourceError as error:
            if written:
                self._restore(written)
                error.args = (f"{error}; the objects written before it were put back",)
            raise
        return WriteOutcome(objects=objects, warnings=warnings)

    def _restore(self, written: Sequence[tuple[_Step, Document]]) -> None:
        """Best effort: undo the writes of a batch that failed half-way (newest first)."""
        for step, stored in reversed(written):
            version = str(stored["metadata"].get("resourceVersion", ""))
            with contextlib.suppress(SourceError):
                if step.current is None:
                    self._delete(step.where, PLURALS[step.where.plural], version)
                else:
                    back = kubeobjects.to_api(step.current, version)
                    self._write(_Step(back, step.where, stored, "configured"))

    def _delete(self, where: kubeobjects.Location, kind: str, resource_version: str) -> None:
        options = client.V1DeleteOptions(
            preconditions=client.V1Preconditions(resource_version=resource_version or None)
        )
        with self._answer(_what(kind, where.namespace, where.name)):
            self.custom.delete_namespaced_custom_object(
                where.group,
                where.version,
                where.namespace,
                where.plural,
                where.name,
                body=options,
                _request_timeout=self.timeout,
            )

    def delete(
        self, plural: str, namespace: str, name: str, resource_version: str = "", wait_s: float = 0.0
    ) -> Document:
        """Delete one object, refused (422) when a remaining object still needs it (a subset or a
        gateway in use); 409 when `resource_version` is stale. `wait_s` is ignored."""
        kind = check_plural(plural)
        current = self.get(plural, namespace, name)
        registry = self.registry()
        if registry is not None:
            existing = routecheck.parse_resources(self._stored())[0]
            errors = validate_delete((kind, namespace, name), routecheck.model_registry(registry), existing)
            if errors:
                raise SourceError("invalid resources", 422, errors)
        where = kubeobjects.location(plural, current)
        self._delete(where, kind, resource_version)
        return {**current, "sync": None}

    def sync_status(self) -> tuple[NodeStatus, ...]:
        """Empty: the API server knows nothing of what each proxy ACKed."""
        return ()


def _key(document: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name) of a document from `kubeobjects.from_api` (its namespace is set)."""
    return (document["kind"], document["metadata"]["namespace"], document["metadata"]["name"])
