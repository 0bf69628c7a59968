"""The control plane service: store + validation + translation + snapshot publication.

Every accepted change is validated (field-level errors), translated and consistency-checked for
every proxy *before* it is stored; only then are the new snapshots published. So a refused change
leaves both the store and the running mesh exactly as they were. A dry run takes the same path and
stops before storing: it answers what the apply would store and the Envoy config it would push.
One event loop; writes serialize on a lock. Parsing and validating user input is the `checker`'s
work (a worker process with a time bound in the running mesh, see `checker`), so a costly input
never stalls the loop serving ADS.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from meshcore.controlplane.builders.listeners import TracingSettings
from meshcore.controlplane.builders.proto import SECRET_TYPE
from meshcore.controlplane.ca import CertificateAuthority
from meshcore.controlplane.checker import InlineChecker, InputChecker
from meshcore.controlplane.dry_run import ConfigChange, config_changes
from meshcore.controlplane.identities import WorkloadIdentities
from meshcore.controlplane.node_status import NodeStatusBoard
from meshcore.controlplane.snapshot import InconsistentSnapshot, Snapshot, SnapshotCache
from meshcore.controlplane.store import ApplyResult, Key, Plan, ResourceStore
from meshcore.controlplane.translate import translate
from meshcore.model.errors import FieldError
from meshcore.model.registry import Registry
from meshcore.model.resources import Resource
from meshcore.model.security_validation import security_warnings
from meshcore.model.validation import validate_delete
from meshcore.model.validation_warnings import validation_warnings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DryRun:
    """What an apply would do: per-object results (with the resourceVersion each would get), the
    warnings, and the Envoy config changes per group of proxies that would receive the same change."""

    results: list[ApplyResult]
    warnings: list[FieldError]
    changes: list[ConfigChange]


class ControlPlane:
    """The mesh's control plane. ``identities`` issues every proxy's certificate (a CA kept in
    memory when not given); ``auto_mtls`` is Istio's enableAutoMtls; ``checker`` validates input
    (in the calling thread when not given)."""

    def __init__(
        self,
        registry: Registry,
        store: ResourceStore,
        tracing: TracingSettings | None = None,
        identities: WorkloadIdentities | None = None,
        auto_mtls: bool = True,
        checker: InputChecker | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.tracing = tracing or TracingSettings()
        self.identities = identities or WorkloadIdentities(CertificateAuthority.self_signed())
        self.auto_mtls = auto_mtls
        self.checker: InputChecker = checker or InlineChecker()
        self.cache = SnapshotCache()
        self.board = NodeStatusBoard()
        self.generation = 0
        self.published_at: float = 0.0
        self._lock = asyncio.Lock()
        self._publish(self._build(store.list()))

    def _build(self, resources: Sequence[Resource]) -> dict[str, Snapshot]:
        generation = self.generation + 1
        nodes = translate(self.registry, resources, self.tracing, self.auto_mtls)
        identities = self.node_identities()
        for node_id, resources_ in nodes.items():
            resources_[SECRET_TYPE] = self.identities.secrets(node_id, identities[node_id])
        return {node_id: Snapshot.build(generation, resources_) for node_id, resources_ in nodes.items()}

    def node_identities(self) -> dict[str, str]:
        """node id -> SPIFFE id of every proxy (the sidecars' workloads and the gateway)."""
        identities = {w.node_id: w.spiffe_id for w in self.registry.workloads}
        identities[self.registry.gateway.node_id] = self.registry.gateway.spiffe_id
        return identities

    async def rotate_due_certificates(self) -> list[str]:
        """Replace every certificate past its rotation time and push the new secrets at once;
        returns the node ids rotated. Only the SDS secrets change: the generation stays."""
        async with self._lock:
            renewed = self.identities.rotate(self.identities.due())
            snapshots = {}
            for node_id, secrets in renewed.items():
                current = self.cache.get(node_id)
                if current is not None:
                    snapshots[node_id] = current.with_resources(SECRET_TYPE, secrets)
            self.cache.set_snapshots(snapshots)
        if renewed:
            log.info("rotated the certificates of %d proxies", len(renewed))
        return sorted(renewed)

    async def run_certificate_rotation(self, max_sleep_s: float = 30.0) -> None:
        """Rotate certificates before they expire, forever (cancel the task to stop)."""
        while True:
            await self.rotate_due_certificates()
            upcoming = self.identities.next_rotation_at()
            delay = max_sleep_s if upcoming is None else upcoming - self.identities.clock()
            await asyncio.sleep(min(max(delay, 0.05), max_sleep_s))

    def _publish(self, snapshots: dict[str, Snapshot]) -> None:
        self.generation += 1
        self.published_at = time.time()
        self.cache.set_snapshots(snapshots)
        log.info("published config generation %d to %d proxies", self.generation, len(snapshots))

    def _preflight(
        self, candidate: list[Resource], staged: dict[str, dict[str, Snapshot]]
    ) -> list[FieldError]:
        """Translate the candidate set for every proxy; refuse what cannot become a consistent config."""
        try:
            staged["snapshots"] = self._build(candidate)
        except InconsistentSnapshot as error:
            return [FieldError("", f"the resulting Envoy configuration is inconsistent: {error}")]
        return []

    async def _plan(self, resources: Sequence[Resource]) -> tuple[Plan, dict[str, Snapshot]]:
        """Validate and translate a batch without storing it (ValidationError / ConflictError)."""
        staged: dict[str, dict[str, Snapshot]] = {}
        problems = await self.checker.validate(resources, self.registry, self.store.list())

        def check(candidate: list[Resource], _changed: list[Resource]) -> list[FieldError]:
            return problems or self._preflight(candidate, staged)

        plan = self.store.plan(resources, check)
        return plan, staged["snapshots"]

    def warnings(self, resources: Sequence[Resource]) -> list[FieldError]:
        """What is doubtful but allowed about applying `resources` over the stored objects: route
        checks (validation_warnings) and contradicting security settings (security_warnings)."""
        return validation_warnings(list(resources), self.registry) + security_warnings(
            resources, self.registry, self.store.list()
        )

    async def apply(self, resources: Sequence[Resource]) -> list[ApplyResult]:
        """Validate, store and push a batch atomically. Raises ValidationError / ConflictError."""
        async with self._lock:
            plan, snapshots = await self._plan(resources)
            results = self.store.commit(plan)
            if any(r.action != "unchanged" for r in results):
                self._publish(snapshots)
            return results

    async def dry_run(self, resources: Sequence[Resource]) -> DryRun:
        """Everything `apply` would check and push, with nothing stored or published."""
        async with self._lock:
            plan, snapshots = await self._plan(resources)
            current = {node_id: self.cache.get(node_id) for node_id in snapshots}
            return DryRun(plan.results, self.warnings(resources), config_changes(current, snapshots))

    async def delete(self, key: Key, resource_version: str = "") -> Resource:
        async with self._lock:
            staged: dict[str, dict[str, Snapshot]] = {}
            existing = self.store.list()

            def check(candidate: list[Resource], _changed: list[Resource]) -> list[FieldError]:
                return validate_delete(key, self.registry, existing) or self._preflight(candidate, staged)

            removed = self.store.delete(key, check, resource_version)
            self._publish(staged["snapshots"])
            return removed

    async def wait_for_sync(self, generation: int, timeout: float) -> dict[str, Any]:
        """Wait until every connected proxy has ACKed `generation` or NACKed it (bounded by timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            pending = [
                s.node_id
                for s in self.board.all()
                if s.connected and s.acked_generation < generation and not s.nacked
            ]
            if not pending or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.005)
        nodes = self.board.all()
        return {
            "generation": generation,
            "acked": [s.node_id for s in nodes if s.connected and s.acked_generation >= generation],
            "rejected": [
                {"node_id": s.node_id, "message": s.last_nack.message}
                for s in nodes
                if s.nacked and s.last_nack is not None
            ],
            "pending": pending,
        }
