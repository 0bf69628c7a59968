"""The workload page's security section: identity, certificate in force, mTLS mode and policies.

Two independent sources, as an operator would check them: the proxy itself (Envoy's admin
`/certs`: the certificate it actually holds) and the control plane (the identity it issued, the
mTLS mode its inbound port accepts, the AuthorizationPolicies and rate limits selecting it).
`workload_security` never raises: a source that fails is named in `errors` and the rest renders.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dashboard.sources.envoy import EnvoyAdmin
from dashboard.sources.errors import SourceError
from dashboard.sources.security import SecuritySource


def _parse_time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None


def workload_certificate(certs_document: dict[str, Any]) -> dict[str, Any] | None:
    """The workload certificate (the one with a SPIFFE URI SAN) in an Envoy `/certs` answer:
    ``{"spiffe_id", "serial", "valid_from", "expires_at"}`` (datetimes, UTC), None when absent.
    Envoy lists one entry per TLS context; they all hold the same SDS secret."""
    for entry in certs_document.get("certificates", []):
        for certificate in entry.get("cert_chain", []):
            uris = [san["uri"] for san in certificate.get("subject_alt_names", []) if "uri" in san]
            spiffe = next((uri for uri in uris if uri.startswith("spiffe://")), None)
            if spiffe is None:
                continue
            return {
                "spiffe_id": spiffe,
                "serial": certificate.get("serial_number", ""),
                "valid_from": _parse_time(certificate.get("valid_from", "")),
                "expires_at": _parse_time(certificate.get("expiration_time", "")),
            }
    return None


def workload_security(
    envoy: EnvoyAdmin, admin_address: str, security: SecuritySource, name: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Everything the security section shows for workload `name` (see the module docstring):
    ``{"identity", "certificate", "policy", "errors"}``; the certificate's ``expires_in_s`` is its
    remaining validity in seconds at `now`."""
    view: dict[str, Any] = {"identity": "", "certificate": None, "policy": None, "errors": []}
    try:
        view["certificate"] = workload_certificate(envoy.certs(admin_address))
    except SourceError as error:
        view["errors"].append(f"certificate: {error}")
    try:
        view["policy"] = security.workloads().get(name)
    except SourceError as error:
        view["errors"].append(f"policies: {error}")
    certificate = view["certificate"]
    # The identity the control plane assigned; what the certificate names when it is unreachable.
    view["identity"] = (view["policy"] or {}).get("spiffe_id") or (certificate or {}).get("spiffe_id", "")
    if certificate and certificate["expires_at"] is not None:
        now = now or dt.datetime.now(dt.UTC)
        certificate["expires_in_s"] = round((certificate["expires_at"] - now).total_seconds())
        certificate["expires_in"] = remaining(certificate["expires_in_s"])
    return view


def remaining(seconds: int) -> str:
    """``23 h 58 min``, ``4 min 10 s``, ``12 s``; ``expired`` at or below zero."""
    if seconds <= 0:
        return "expired"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
