"""The resource store: Istio objects with a resourceVersion each, persisted across restarts.

Like the Kubernetes API server: every accepted change bumps one store-wide revision, and the
changed objects carry it as their resourceVersion. An apply that names a resourceVersion other than
the stored one is a conflict (409) and changes nothing. A batch is applied all or nothing.
Not thread-safe: use from one event loop (the control plane serializes writes with a lock).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from meshcore.model.errors import FieldError, ValidationError
from meshcore.model.resources import Resource

Key = tuple[str, str, str]
# Given the full candidate set and the changed objects, the problems that forbid the change.
Check = Callable[[list[Resource], list[Resource]], list[FieldError]]


class ConflictError(Exception):
    """The client's resourceVersion is not the stored one (someone else changed the object)."""

    def __init__(self, key: Key, sent: str, stored: str | None) -> None:
        self.key, self.sent, self.stored = key, sent, stored
        kind, namespace, name = key
        now = f"is at resourceVersion {stored}" if stored else "does not exist"
        super().__init__(
            f"{kind} {namespace}/{name}: resourceVersion {sent} is stale, the object {now}; "
            "get it again and reapply your change"
        )


class NotFoundError(KeyError):
    """No object under the (kind, namespace, name) key given as the argument."""

    def __str__(self) -> str:
        kind, namespace, name = self.args[0]
        return f"{kind} {namespace}/{name} not found"


@dataclass(frozen=True)
class ApplyResult:
    """One object of an apply as stored, and what the apply did to it."""

    resource: Resource
    action: str  # created | configured | unchanged


@dataclass(frozen=True)
class Plan:
    """The outcome of an apply computed but not stored: per-object results, the whole new set."""

    results: list[ApplyResult]
    items: dict[Key, Resource]
    revision: int
    base_revision: int  # the store revision the plan was computed on


def same_content(a: Resource, b: Resource) -> bool:
    """Whether applying `b` over `a` changes nothing (resourceVersions are not compared)."""
    return (a.api_version, dict(a.spec), dict(a.labels), dict(a.annotations)) == (
        b.api_version,
        dict(b.spec),
        dict(b.labels),
        dict(b.annotations),
    )


class ResourceStore:
    """The objects by (kind, namespace, name), and the store revision (see the module's rules).

    `path`: the JSON file they persist in (written atomically on each commit); None keeps them in
    memory only. `plan` + `commit` split an apply so a caller can check the plan first (dry run).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.revision = 0
        self._items: dict[Key, Resource] = {}
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        document = json.loads(path.read_text())
        self.revision = int(document["revision"])
        for item in document["items"]:
            resource = Resource.from_dict(item)
            self._items[resource.key] = resource

    def _persist(self, items: dict[Key, Resource], revision: int) -> None:
        """Write atomically (temp file + fsync + rename): a crash leaves the old or the new state."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(
            {"revision": revision, "items": [items[k].to_dict() for k in sorted(items)]}, indent=1
        )
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".resources.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def list(self, kind: str | None = None) -> list[Resource]:
        return [self._items[k] for k in sorted(self._items) if kind is None or k[0] == kind]

    def get(self, key: Key) -> Resource | None:
        return self._items.get(key)

    def plan(self, resources: Sequence[Resource], check: Check) -> Plan:
        """What `apply` would do, without changing anything (ValidationError / ConflictError).

        The results carry the resourceVersion each object would get; `revision` is the store
        revision after the apply (unchanged when nothing changes).
        """
        keys = [r.key for r in resources]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValidationError(
                [FieldError(f"{k[0]}/{k[2]}", "appears more than once in one apply") for k in duplicates]
            )
        for resource in resources:
            stored = self._items.get(resource.key)
            if resource.resource_version and (
                stored is None or stored.resource_version != resource.resource_version
            ):
                raise ConflictError(
                    resource.key, resource.resource_version, stored.resource_version if stored else None
                )
        changed = [
            r for r in resources if (stored := self._items.get(r.key)) is None or not same_content(stored, r)
        ]
        candidate = dict(self._items)
        candidate.update({r.key: r for r in changed})
        errors = check(list(candidate.values()), list(resources))
        if errors:
            raise ValidationError(errors)
        results: list[ApplyResult] = []
        revision = self.revision + 1 if changed else self.revision
        for resource in resources:
            stored = self._items.get(resource.key)
            if resource in changed:
                candidate[resource.key] = resource.with_version(str(revision))
                results.append(
                    ApplyResult(candidate[resource.key], "created" if stored is None else "configured")
                )
            else:
                assert stored is not None
                results.append(ApplyResult(stored, "unchanged"))
        return Plan(results, candidate, revision, self.revision)

    def commit(self, plan: Plan) -> list[ApplyResult]:
        """Store a plan computed on the current revision (anything else is a programming error)."""
        if plan.base_revision != self.revision:
            raise RuntimeError(f"plan computed on revision {plan.base_revision}, store is at {self.revision}")
        if plan.revision != self.revision:
            self._persist(plan.items, plan.revision)
            self._items, self.revision = plan.items, plan.revision
        return plan.results

    def apply(self, resources: Sequence[Resource], check: Check) -> list[ApplyResult]:
        """Create or replace every object of the batch, or none (ValidationError / ConflictError)."""
        return self.commit(self.plan(resources, check))

    def delete(self, key: Key, check: Check, resource_version: str = "") -> Resource:
        """Remove one object; refused (ValidationError) when the rest would no longer be valid."""
        stored = self._items.get(key)
        if stored is None:
            raise NotFoundError(key)
        if resource_version and resource_version != stored.resource_version:
            raise ConflictError(key, resource_version, stored.resource_version)
        candidate = {k: v for k, v in self._items.items() if k != key}
        errors = check(list(candidate.values()), [])
        if errors:
            raise ValidationError(errors)
        revision = self.revision + 1
        self._persist(candidate, revision)
        self._items, self.revision = candidate, revision
        return stored
