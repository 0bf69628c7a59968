"""Workload identities: each proxy's SDS secrets, issued by the CA and rotated before they expire.

``WorkloadIdentities`` keeps one certificate per proxy (node id -> SPIFFE id) and the Envoy Secret
messages built from it (``default`` and ``ROOTCA``). A certificate is due for rotation once
``rotate_after`` of its lifetime has passed (Istio's default grace ratio: half), so a proxy always
holds a valid one while the next is pushed. Not thread-safe: the control plane uses it from its
event loop.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from google.protobuf.message import Message

from meshcore.controlplane.builders.proto import SECRET_TYPE, to_message
from meshcore.controlplane.builders.security import make_secrets
from meshcore.controlplane.ca import CertificateAuthority, IssuedCertificate

DEFAULT_LIFETIME_S = 24 * 3600.0  # Istio's default workload certificate lifetime
DEFAULT_ROTATE_AFTER = 0.5


@dataclass(frozen=True)
class _Held:
    certificate: IssuedCertificate
    secrets: dict[str, Message]
    rotate_at: float  # epoch seconds


class WorkloadIdentities:
    """Issues, caches and rotates every proxy's certificate.

    ``lifetime_s`` is the validity of each workload certificate (seconds); ``clock`` returns epoch
    seconds (injected for tests). ``issued`` counts certificates issued since construction.
    """

    def __init__(
        self,
        authority: CertificateAuthority,
        lifetime_s: float = DEFAULT_LIFETIME_S,
        rotate_after: float = DEFAULT_ROTATE_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if lifetime_s <= 0:
            raise ValueError(f"certificate lifetime must be > 0 seconds, got {lifetime_s}")
        if not 0 < rotate_after < 1:
            raise ValueError(f"rotate_after must be between 0 and 1, got {rotate_after}")
        self.authority = authority
        self.lifetime_s = lifetime_s
        self.rotate_after = rotate_after
        self.clock = clock
        self.issued = 0
        self._held: dict[str, _Held] = {}

    def secrets(self, node_id: str, identity: str) -> dict[str, Message]:
        """The SDS secrets of ``node_id`` (issued on first use, or when its identity changed)."""
        held = self._held.get(node_id)
        if held is None or held.certificate.spiffe_id != identity:
            held = self._issue(node_id, identity)
        return held.secrets

    def certificate(self, node_id: str) -> IssuedCertificate | None:
        held = self._held.get(node_id)
        return held.certificate if held else None

    def due(self) -> list[str]:
        """Node ids whose certificate should be replaced now."""
        now = self.clock()
        return sorted(node_id for node_id, held in self._held.items() if held.rotate_at <= now)

    def next_rotation_at(self) -> float | None:
        """Epoch seconds of the earliest rotation ahead (None when nothing was issued yet)."""
        return min((held.rotate_at for held in self._held.values()), default=None)

    def rotate(self, node_ids: Iterable[str]) -> dict[str, dict[str, Message]]:
        """Issue new certificates for ``node_ids``; returns their new secrets."""
        return {
            node_id: self._issue(node_id, self._held[node_id].certificate.spiffe_id).secrets
            for node_id in node_ids
            if node_id in self._held
        }

    def _issue(self, node_id: str, identity: str) -> _Held:
        now = self.clock()
        certificate = self.authority.issue(identity, self.lifetime_s, dt.datetime.fromtimestamp(now, dt.UTC))
        secrets = {
            name: to_message(SECRET_TYPE, secret)
            for name, secret in make_secrets(
                certificate.cert_chain_pem, certificate.private_key_pem, self.authority.root_pem
            ).items()
        }
        held = _Held(certificate, secrets, now + self.rotate_after * self.lifetime_s)
        self._held[node_id] = held
        self.issued += 1
        return held
