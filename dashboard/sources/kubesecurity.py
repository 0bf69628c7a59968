"""Workload security in a cluster: identity, effective mTLS mode, policies and rate limits of every
workload, from Istio's security objects in the cluster and the registry.

The same document as the local control plane's `/api/v1/security/workloads` (see
meshcore/controlplane/security_view.py), made by the same lookups (`SecurityIndex`,
`workload_view`), so both modes show one truth. The certificate is None: istiod's CA is not
readable through the Kubernetes API (the sidecar's own `/certs`, on the workload page, shows it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dashboard.sources.errors import SourceError
from dashboard.sources.registry import MeshRegistry
from dashboard.sources.routecheck import model_registry, parse_resources
from dashboard.sources.routestore import SECURITY_PLURALS, RouteStore
from meshcore.controlplane.security_view import workload_view
from meshcore.model.istio_schema import check_spec
from meshcore.model.security import SecurityIndex


class KubernetesSecurity:
    """Reads `store` (the cluster's route store) and `registry()` (None while unavailable) per call."""

    def __init__(self, store: RouteStore, registry: Callable[[], MeshRegistry | None]) -> None:
        self.store = store
        self.registry = registry

    def workloads(self) -> dict[str, dict[str, Any]]:
        registry = self.registry()
        if registry is None:
            raise SourceError("the registry is unreachable: no workload identities")
        documents = [d for plural in SECURITY_PLURALS for d in self.store.list(plural)]
        # An object kubectl stored with a malformed spec decides nothing (Istio ignores it too).
        resources = [r for r in parse_resources(documents)[0] if not check_spec(r.kind, r.spec)]
        model = model_registry(registry)
        index = SecurityIndex.build(resources)
        return {w.name: workload_view(model, w, index) for w in model.workloads}
