"""The control plane service: store + validation + translation + snapshot publication.

Every accepted change is validated (field-level errors), translated and consistency-checked for
every proxy *before* it is stored; only then are the new snapshots published. So a refused change
leaves both the store and the running mesh exactly as they were. One event loop; writes serialize
on a lock. Parsing and validating user input is the `checker`'s work (a worker process with a time
bound in the running mesh, see `checker`), so a costly input never stalls the loop serving ADS.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from meshcore.controlplane.builders.listeners import TracingSettings
from meshcore.controlplane.checker import InlineChecker, InputChecker
from meshcore.controlplane.node_status import NodeStatusBoard
from meshcore.controlplane.snapshot import InconsistentSnapshot, Snapshot, SnapshotCache
from meshcore.controlplane.store import ApplyResult, Key, ResourceStore
from meshcore.controlplane.translate import translate
from meshcore.model.errors import FieldError
from meshcore.model.registry import Registry
from meshcore.model.resources import Resource
from meshcore.model.validation import validate_delete

log = logging.getLogger(__name__)


class ControlPlane:
    def __init__(
        self,
        registry: Registry,
        store: ResourceStore,
        tracing: TracingSettings | None = None,
        checker: InputChecker | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.tracing = tracing or TracingSettings()
        self.checker: InputChecker = checker or InlineChecker()
        self.cache = SnapshotCache()
        self.board = NodeStatusBoard()
        self.generation = 0
        self.published_at: float = 0.0
        self._lock = asyncio.Lock()
        self._publish(self._build(store.list()))

    def _build(self, resources: Sequence[Resource]) -> dict[str, Snapshot]:
        generation = self.generation + 1
        nodes = translate(self.registry, resources, self.tracing)
        return {node_id: Snapshot.build(generation, resources_) for node_id, resources_ in nodes.items()}

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

    async def apply(self, resources: Sequence[Resource]) -> list[ApplyResult]:
        """Validate, store and push a batch atomically. Raises ValidationError / ConflictError."""
        async with self._lock:
            staged: dict[str, dict[str, Snapshot]] = {}
            problems = await self.checker.validate(resources, self.registry, self.store.list())

            def check(candidate: list[Resource], _changed: list[Resource]) -> list[FieldError]:
                return problems or self._preflight(candidate, staged)

            results = self.store.apply(resources, check)
            if "snapshots" in staged and any(r.action != "unchanged" for r in results):
                self._publish(staged["snapshots"])
            return results

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
