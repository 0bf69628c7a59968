"""The `/api/registry` document: which services and workloads the mesh has, in either mode.

Pure (no Django): the view asks the configured registry source and answers this.
"""

from __future__ import annotations

from typing import Any

from dashboard.sources.registry import MeshRegistry


def registry_listing(registry: MeshRegistry) -> dict[str, Any]:
    """`{"services": [...], "workloads": [...], "gateway": {...} | None}`, each sorted by
    namespace then name. A workload's `sidecar` says every instance runs Envoy, `ready` that it has
    instances and all are ready; `spiffe_id` is "" where the registry names no identity."""
    services = sorted(registry.services, key=lambda s: (s.namespace, s.name))
    workloads = sorted(registry.workloads, key=lambda w: (w.namespace, w.name))
    gateway = registry.gateway
    return {
        "services": [
            {"name": s.name, "namespace": s.namespace, "fqdn": s.fqdn, "ports": list(s.ports)}
            for s in services
        ],
        "workloads": [
            {
                "name": w.name,
                "namespace": w.namespace,
                "service": w.service,
                "app": w.app,
                "version": w.version,
                "service_account": w.service_account,
                "spiffe_id": w.spiffe_id,
                "sidecar": w.sidecar,
                "ready": w.ready,
            }
            for w in workloads
        ],
        "gateway": None if gateway is None else {"name": gateway.name, "namespace": gateway.namespace},
    }
