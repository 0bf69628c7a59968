"""The one code path of every route change: forms, YAML editor, import, JSON API, websocket, rollback.

`preview` dry-runs a proposal on the control plane and adds the YAML diff, the Envoy route diff per
proxy group and the what-if on recorded traffic. `apply` writes it (with the resourceVersion the
editor saw, so a concurrent edit is a 409 and never a lost update), records one revision per
changed object and publishes `routes.changed`. `sync_external` records changes made elsewhere.

Writes and the external-change scan hold one Redis lock, so a change the dashboard makes is never
also recorded as external. Permission checks (`check_can_edit`) are here, not in the views, so no
entry point can forget them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from dashboard import realtime
from dashboard.accounts.roles import is_operator
from dashboard.routes import diffing, documents
from dashboard.routes.models import Revision
from dashboard.routes.recorded import requests_from_traces
from dashboard.routes.shared_state import redis_client
from dashboard.routes.traffic import recent_requests
from dashboard.routes.whatif import WhatIf, Workload, predict
from dashboard.sources import configured
from dashboard.sources.errors import SourceError
from dashboard.sources.registry import MeshRegistry
from dashboard.sources.routestore import KIND_PLURALS, PLURALS, RouteStore, WriteOutcome
from meshcore.model.errors import FieldError
from meshcore.model.yaml_io import parse_documents

log = logging.getLogger(__name__)
ROUTES_GROUP = "routes"
LOCK_NAME = "meshscope:routes:write"
SYNCED_REVISION = "meshscope:routes:synced-revision"  # the store revision the last scan saw
Document = dict[str, Any]


class WriteForbidden(PermissionError):
    """The user may not change routes (viewer, or the dashboard is view-only); answer 403."""


def can_edit(user: Any) -> bool:
    return not settings.VIEW_ONLY and is_operator(user)


def check_can_edit(user: Any) -> None:
    if settings.VIEW_ONLY:
        raise WriteForbidden("this dashboard is view-only (MESHSCOPE_VIEW_ONLY): nobody can change routes")
    if not is_operator(user):
        raise WriteForbidden("changing routes needs the operator role")


def key_of(document: Mapping[str, Any]) -> tuple[str, str, str]:
    metadata = document.get("metadata") or {}
    return (
        str(document.get("kind", "")),
        str(metadata.get("namespace") or "default"),
        str(metadata.get("name", "")),
    )


def parse_yaml(text: str) -> list[Document]:
    """Documents from YAML/JSON text; SourceError(400) with field errors when unparsable."""
    from meshcore.model.errors import ValidationError

    try:
        resources = parse_documents(text)
    except ValidationError as error:
        raise SourceError("unparsable input", 400, error.errors) from None
    if not resources:
        raise SourceError("no resources found", 400, [FieldError("body", "no YAML or JSON document")])
    return [resource.to_dict() for resource in resources]


@contextlib.contextmanager
def write_lock() -> Iterator[None]:
    """Serialize route writes and the external-change scan across every dashboard process."""
    import redis

    lock = redis_client().lock(LOCK_NAME, timeout=60, blocking_timeout=30)
    try:
        acquired = lock.acquire()
    except redis.RedisError as error:
        raise SourceError(f"cannot take the route write lock: {error}") from None
    if not acquired:
        raise SourceError("another route change is still running; try again", 409)
    try:
        yield
    finally:
        with contextlib.suppress(redis.RedisError):
            lock.release()


def current_document(store: RouteStore, kind: str, namespace: str, name: str) -> Document | None:
    try:
        return store.get(KIND_PLURALS[kind], namespace, name)
    except SourceError as error:
        if error.status == 404:
            return None
        raise


def _stored_yaml(document: Mapping[str, Any] | None) -> str:
    return diffing.to_yaml(documents.for_export(document)) if document else ""


def _service_names(registry: MeshRegistry | None) -> list[str]:
    return [s.name for s in registry.services] if registry else []


def _registry() -> MeshRegistry | None:
    try:
        return configured.registry_source().registry()
    except SourceError:
        return None


# --- preview ------------------------------------------------------------------------------------


@dataclass
class DocumentDiff:
    kind: str
    namespace: str
    name: str
    action: str
    lines: list[diffing.DiffLine]


@dataclass
class Preview:
    """What applying `documents` would do; `errors` set (and the rest empty) when it is refused."""

    documents: list[Document]
    yaml: str
    diffs: list[DocumentDiff] = field(default_factory=list)
    envoy: list[diffing.EnvoyDiff] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)
    whatif: list[WhatIf] = field(default_factory=list)
    whatif_error: str = ""
    errors: list[FieldError] = field(default_factory=list)
    error: str = ""
    status: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "diffs": [
                {
                    "kind": d.kind,
                    "namespace": d.namespace,
                    "name": d.name,
                    "action": d.action,
                    "lines": [[line.kind, line.text] for line in d.lines],
                }
                for d in self.diffs
            ],
            "envoy": [
                {
                    "proxies": e.proxies,
                    "route_config": e.route_config,
                    "clusters": e.clusters,
                    "listeners": e.listeners,
                    "lines": [[line.kind, line.text] for line in e.lines],
                }
                for e in self.envoy
            ],
            "warnings": [w.to_dict() for w in self.warnings],
            "whatif": [w.to_dict() for w in self.whatif],
            "whatif_error": self.whatif_error,
        }


def _workloads(registry: MeshRegistry) -> list[Workload]:
    return [
        Workload(w.name, w.service, w.version, {"app": w.app, "version": w.version})
        for w in registry.workloads
    ]


def whatif_for(
    proposed: Sequence[Mapping[str, Any]],
    store: RouteStore,
    registry: MeshRegistry,
    traces: Sequence[Sequence[Mapping[str, Any]]] | None = None,
) -> list[WhatIf]:
    """Predicted shares for every service whose routing the proposal changes (its VirtualService or
    its DestinationRule), from the calls of the last WHATIF_MINUTES minutes (dashboard.routes.traffic)
    or, when given, from `traces`."""
    rules = {documents.short_host(d["spec"]["host"]): d for d in store.list("destinationrules")}
    services: dict[str, Mapping[str, Any] | None] = {}
    for vs in store.list("virtualservices"):
        for host in vs["spec"].get("hosts", []):
            services.setdefault(documents.short_host(host), vs)
    targets: dict[str, Mapping[str, Any] | None] = {}
    for document in proposed:
        if document["kind"] == "DestinationRule":
            host = documents.short_host(document["spec"]["host"])
            rules[host] = document
            targets.setdefault(host, services.get(host))
        elif document["kind"] == "VirtualService" and not gateway_only(document):
            for host in document["spec"].get("hosts", []):
                targets[documents.short_host(host)] = document
    known = {s.name for s in registry.services}
    workloads = _workloads(registry)
    results = []
    for service, virtual_service in sorted(targets.items()):
        if service not in known:
            continue
        if traces is None:
            info = registry.service(service)
            requests = recent_requests(service, info.namespace if info else "default")
        else:
            requests = requests_from_traces(traces, service)
        results.append(predict(service, requests, virtual_service, rules, workloads))
    return results


def gateway_only(document: Mapping[str, Any]) -> bool:
    """A VirtualService bound to gateways only (not "mesh"): it does not route sidecar traffic."""
    gateways = document.get("spec", {}).get("gateways") or []
    return bool(gateways) and "mesh" not in gateways


def preview(proposed: Sequence[Mapping[str, Any]], store: RouteStore | None = None) -> Preview:
    """Dry-run `proposed` and explain it; a refused proposal gives a Preview with its errors."""
    store = store or configured.route_store()
    docs = [documents.copy_document(d) for d in proposed]
    result = Preview(documents=docs, yaml=diffing.to_yaml([documents.for_export(d) for d in docs]))
    try:
        outcome = store.dry_run(docs)
    except SourceError as error:
        result.errors, result.error, result.status = error.errors, str(error), error.status
        return result
    result.warnings = outcome.warnings
    result.envoy = diffing.envoy_diffs(outcome.changes)
    for planned in outcome.objects:
        kind, namespace, name = key_of(planned)
        stored = current_document(store, kind, namespace, name)
        result.diffs.append(
            DocumentDiff(
                kind,
                namespace,
                name,
                planned.get("action", ""),
                diffing.unified_diff(
                    _stored_yaml(stored), _stored_yaml(_without_action(planned)), "stored", "proposed"
                ),
            )
        )
    registry = _registry()
    if registry is None:
        result.whatif_error = "the registry is unreachable: no what-if"
        return result
    try:
        result.whatif = whatif_for(docs, store, registry)
    except SourceError as error:
        result.whatif_error = f"recorded traffic unavailable: {error}"
    return result


# --- apply, delete, rollback ----------------------------------------------------------------------


@dataclass
class Applied:
    """What an apply did: the revisions it recorded and the control plane's answer."""

    revisions: list[Revision]
    outcome: WriteOutcome


def _publish(revisions: Sequence[Revision]) -> None:
    if not revisions:
        return
    data = {"revisions": [r.to_dict() for r in revisions]}
    transaction.on_commit(lambda: realtime.publish(ROUTES_GROUP, "routes.changed", data))


def _record(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    action: str,
    *,
    user: Any = None,
    reason: str = "",
    source: str = Revision.SOURCE_DASHBOARD,
    push: Mapping[str, Any] | None = None,
    rollback_of: Revision | None = None,
    services: Sequence[str] = (),
) -> Revision:
    reference = after or before or {}
    kind, namespace, name = key_of(reference)
    return Revision.objects.create(
        user=user if getattr(user, "is_authenticated", False) else None,
        username=getattr(user, "username", "") if getattr(user, "is_authenticated", False) else "",
        source=source,
        action=action,
        reason=reason,
        kind=kind,
        namespace=namespace,
        name=name,
        yaml_before=_stored_yaml(before),
        yaml_after=_stored_yaml(after),
        resource_version_before=documents.resource_version(before),
        resource_version_after=documents.resource_version(after),
        push=dict(push) if push is not None else None,
        services=documents.services_touched(reference, services),
        rollback_of=rollback_of,
    )


def apply(
    user: Any,
    proposed: Sequence[Mapping[str, Any]],
    reason: str = "",
    *,
    store: RouteStore | None = None,
    rollback_of: Revision | None = None,
) -> Applied:
    """Write `proposed` (all or nothing) and record a revision per changed object.

    Raises WriteForbidden (403) or SourceError (409 stale resourceVersion, 422 invalid, ...).
    """
    check_can_edit(user)
    store = store or configured.route_store()
    services = _service_names(_registry())
    with write_lock():
        before = {key_of(d): current_document(store, *key_of(d)) for d in proposed}
        outcome = store.apply(list(proposed), wait_s=settings.ROUTES_PUSH_WAIT_SECONDS)
        # The database transaction starts only now: SQLite would hold its write lock while the
        # proxies ACK (the Redis lock already keeps the external-change scan out).
        with transaction.atomic():
            revisions = [
                _record(
                    before.get(key_of(stored)),
                    _without_action(stored),
                    stored["action"],
                    user=user,
                    reason=reason,
                    push=outcome.sync,
                    rollback_of=rollback_of,
                    services=services,
                )
                for stored in outcome.objects
                if stored.get("action") != "unchanged"
            ]
            _publish(revisions)
    return Applied(revisions, outcome)


def _without_action(document: Mapping[str, Any]) -> Document:
    return {key: value for key, value in document.items() if key != "action"}


def delete(
    user: Any,
    kind: str,
    namespace: str,
    name: str,
    resource_version: str = "",
    reason: str = "",
    *,
    store: RouteStore | None = None,
    rollback_of: Revision | None = None,
) -> Revision:
    check_can_edit(user)
    store = store or configured.route_store()
    services = _service_names(_registry())
    with write_lock():
        before = current_document(store, kind, namespace, name)
        deleted = store.delete(
            KIND_PLURALS[kind], namespace, name, resource_version, wait_s=settings.ROUTES_PUSH_WAIT_SECONDS
        )
        with transaction.atomic():
            revision = _record(
                before or deleted,
                None,
                "deleted",
                user=user,
                reason=reason,
                push=deleted.get("sync"),
                rollback_of=rollback_of,
                services=services,
            )
            _publish([revision])
    return revision


def rollback(
    user: Any, revision: Revision, undo: bool = False, reason: str = "", *, store: RouteStore | None = None
) -> Revision | None:
    """Put the object back as it was after `revision` (or, with `undo`, before it): a new revision.

    The current resourceVersion is used, since the user asks for that exact state whatever came
    between. Returns None when the object is already in that state.
    """
    check_can_edit(user)
    store = store or configured.route_store()
    target = revision.yaml_before if undo else revision.yaml_after
    current = current_document(store, revision.kind, revision.namespace, revision.name)
    reason = reason or f"rollback to revision {revision.id}" + (" (undo)" if undo else "")
    if not target.strip():
        if current is None:
            return None
        return delete(
            user,
            revision.kind,
            revision.namespace,
            revision.name,
            documents.resource_version(current),
            reason,
            store=store,
            rollback_of=revision,
        )
    [document] = parse_yaml(target)
    document = documents.with_resource_version(document, documents.resource_version(current))
    applied = apply(user, [document], reason, store=store, rollback_of=revision)
    return applied.revisions[0] if applied.revisions else None


# --- changes made elsewhere --------------------------------------------------------------------------


def latest_revisions() -> dict[tuple[str, str, str], Revision]:
    """The newest revision of every object the audit log knows (ids grow with time)."""
    from django.db.models import Max

    newest = Revision.objects.values("kind", "namespace", "name").annotate(last=Max("id")).values("last")
    return {(r.kind, r.namespace, r.name): r for r in Revision.objects.filter(id__in=newest)}


def sync_external(store: RouteStore | None = None) -> list[Revision]:
    """Record every object whose resourceVersion differs from its latest revision, and every object
    gone since, as external revisions; publish `routes.changed` for them. Idempotent."""
    import redis

    store = store or configured.route_store()
    revision = store.revision()
    try:
        if (redis_client().get(SYNCED_REVISION) or b"").decode() == revision:
            return []  # nothing changed since the last scan: one small read per tick
    except redis.RedisError as error:
        raise SourceError(f"cannot read the route sync state: {error}") from None
    services = _service_names(_registry())
    with write_lock():
        stored = {key_of(d): d for plural in PLURALS for d in store.list(plural)}
        with transaction.atomic():
            return _record_external(stored, services, revision)


def _record_external(
    stored: Mapping[tuple[str, str, str], Document], services: Sequence[str], revision: str
) -> list[Revision]:
    """Revisions for what differs between `stored` and the audit log; the cursor moves to
    `revision` (the store revision read before listing) once they are committed."""
    latest = latest_revisions()
    found = []
    for key, document in sorted(stored.items()):
        known = latest.get(key)
        if known is not None and known.resource_version_after == documents.resource_version(document):
            continue
        before = _known_state(known)
        action = "created" if before is None else "configured"
        found.append(_record(before, document, action, source=Revision.SOURCE_EXTERNAL, services=services))
    for key, known in sorted(latest.items()):
        if key not in stored and known.yaml_after:
            found.append(
                _record(
                    _known_state(known),
                    None,
                    "deleted",
                    source=Revision.SOURCE_EXTERNAL,
                    services=services,
                )
            )
    _publish(found)
    transaction.on_commit(lambda: redis_client().set(SYNCED_REVISION, revision))
    return found


def _known_state(revision: Revision | None) -> Document | None:
    """The object as the revision left it (with its resourceVersion), None if it deleted it."""
    if revision is None or not revision.yaml_after:
        return None
    [document] = parse_yaml(revision.yaml_after)
    return documents.with_resource_version(document, revision.resource_version_after)
