"""The security part of a preview: what a proposed change does to each workload's effective mTLS
mode, authorization policies and rate limits (`posture.proposed_changes` on the stored objects)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dashboard.security.posture import WorkloadChange, proposed_changes
from dashboard.sources import configured
from dashboard.sources.errors import SourceError
from dashboard.sources.routestore import SECURITY_PLURALS

# A DestinationRule's TLS mode does not change what a server accepts, but it is read for warnings.
_READ = (*SECURITY_PLURALS, "destinationrules")


def touches_security(proposed: Sequence[Mapping[str, Any]]) -> bool:
    return any(document.get("kind") in SECURITY_PLURALS.values() for document in proposed)


def security_changes(proposed: Sequence[Mapping[str, Any]]) -> tuple[tuple[WorkloadChange, ...], str]:
    """(the changes per workload, "") or ((), why they could not be computed)."""
    try:
        store = configured.route_store()
        stored = [d for plural in _READ for d in store.list(plural)]
        registry = configured.registry_source().registry()
    except SourceError as error:
        return (), f"the mesh is unreachable: {error}"
    return proposed_changes(stored, proposed, registry), ""
