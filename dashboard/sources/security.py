"""Workload security as the mesh's control plane sees it: identity, mTLS mode, policies, certificate.

`ControlPlaneSecurity` reads the local control plane's `/api/v1/security/workloads` (see
meshcore/controlplane/security_view.py for the document). A Kubernetes adapter would build the same
document from Istio's CRDs and the pods' service accounts.
"""

from __future__ import annotations

from typing import Any, Protocol

from dashboard.sources.http import TokenSource, auth_headers, get_json


class SecuritySource(Protocol):
    def workloads(self) -> dict[str, dict[str, Any]]:
        """Workload name -> its security document. Raises SourceError on failure."""
        ...


class ControlPlaneSecurity:
    """The local control plane at `base_url`; each call bounded by `timeout` seconds. Thread-safe."""

    def __init__(self, base_url: str, timeout: float, token: TokenSource = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token

    def workloads(self) -> dict[str, dict[str, Any]]:
        document = get_json(
            f"{self.base_url}/api/v1/security/workloads", self.timeout, headers=auth_headers(self.token)
        )
        return {entry["name"]: entry for entry in document.get("workloads", []) if "name" in entry}
