"""The security view of every workload, as the control plane itself decides it.

``GET /api/v1/security/workloads`` answers, per sidecar: its SPIFFE identity and service account,
the mTLS mode its inbound port accepts and the PeerAuthentication that decided it, the
AuthorizationPolicies and rate-limit EnvoyFilters that select it, and the certificate the CA issued
to it (serial, not_before, not_after as ISO 8601 UTC). It uses the same lookups as translation, so
the dashboard shows what Envoy was actually configured with, never a second guess.
"""

from __future__ import annotations

from typing import Any

from meshcore.model.registry import Registry, Workload
from meshcore.model.security import SecurityIndex


def workload_security(control_plane: Any, workload: Workload, index: SecurityIndex) -> dict[str, Any]:
    certificate = control_plane.identities.certificate(workload.node_id)
    return workload_view(control_plane.registry, workload, index, certificate)


def workload_view(
    registry: Registry, workload: Workload, index: SecurityIndex, certificate: Any = None
) -> dict[str, Any]:
    """One workload's entry of the report; `certificate` (serial, not_before, not_after) is None
    where the CA is not ours to ask (a cluster's istiod)."""
    service = registry.service(workload.service)
    port = service.ports[0].number if service else 9080
    decision = index.mtls_mode(workload, port)
    return {
        "name": workload.name,
        "namespace": workload.namespace,
        "service_account": workload.service_account,
        "spiffe_id": workload.spiffe_id,
        "mtls": {"mode": decision.mode, "level": decision.level, "source": decision.source_ref or None},
        "authorization_policies": [
            {"ref": resource.ref, "namespace": resource.namespace, "name": resource.name, "action": spec.action,
             "rules": len(spec.rules)}
            for resource, spec in index.policies_for(workload)
        ],
        "rate_limits": [
            {"ref": resource.ref, "namespace": resource.namespace, "name": resource.name}
            for resource, _ in index.rate_limits_for(workload)
        ],
        "certificate": None
        if certificate is None
        else {
            "serial": format(certificate.serial, "x"),
            "not_before": certificate.not_before.isoformat(),
            "not_after": certificate.not_after.isoformat(),
        },
    }  # fmt: skip


def security_report(control_plane: Any) -> dict[str, Any]:
    """The JSON of ``GET /api/v1/security/workloads`` for a ControlPlane (see the module docstring)."""
    index = SecurityIndex.build(control_plane.store.list())
    return {
        "certificate_lifetime_s": control_plane.identities.lifetime_s,
        "workloads": [workload_security(control_plane, w, index) for w in control_plane.registry.workloads],
    }
