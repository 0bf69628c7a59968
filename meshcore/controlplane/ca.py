"""The mesh's certificate authority (Istio-Auth's role): a root, and short-lived SPIFFE workload certs.

Two ways to get a CA, as in Istio:

* ``CertificateAuthority.load_or_create(directory)`` — a self-signed root kept in
  ``<directory>/ca-cert.pem`` and ``ca-key.pem`` (the key 0600), made on first use and reused
  afterwards, so certificates stay valid across restarts of the control plane.
* ``CertificateAuthority.plugged_in(directory)`` — Istio's "plug in CA certificates": an
  intermediate ``ca-cert.pem`` + ``ca-key.pem`` signed by the user's ``root-cert.pem``, with
  ``cert-chain.pem`` (the intermediate's chain up to the root) sent after every leaf.

Leaf certificates have Istio's shape: empty subject, one critical URI SAN
``spiffe://<trust domain>/ns/<namespace>/sa/<service account>``, serverAuth + clientAuth, P-256.
Instances are immutable after construction and safe to use from several threads.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from meshcore.model.registry import TRUST_DOMAIN

ROOT_LIFETIME = dt.timedelta(days=3650)
# Leaves are valid from a little before issue, so a clock a few seconds behind still accepts them.
BACKDATE = dt.timedelta(seconds=60)
SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
CA_CERT, CA_KEY, ROOT_CERT, CERT_CHAIN = "ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"


class CAError(ValueError):
    """The CA files are missing, unreadable or do not belong together; the message names the file."""


@dataclass(frozen=True)
class IssuedCertificate:
    """A workload's key pair and certificate chain (PEM); times are timezone-aware UTC."""

    spiffe_id: str
    cert_chain_pem: bytes  # the leaf first, then any intermediates
    private_key_pem: bytes
    not_before: dt.datetime
    not_after: dt.datetime
    serial: int

    @property
    def lifetime_s(self) -> float:
        return (self.not_after - self.not_before - BACKDATE).total_seconds()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: SigningKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (created 0600, never world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


class CertificateAuthority:
    """Signs workload certificates with ``ca_key``; ``root_pem`` is the trust bundle (ROOTCA)."""

    def __init__(
        self,
        ca_cert: x509.Certificate,
        ca_key: SigningKey,
        root_pem: bytes,
        chain_pem: bytes = b"",
        trust_domain: str = TRUST_DOMAIN,
    ) -> None:
        self.ca_cert = ca_cert
        self.ca_key = ca_key
        self.root_pem = root_pem
        self.chain_pem = chain_pem  # sent after each leaf (empty when the CA is the root itself)
        self.trust_domain = trust_domain

    @classmethod
    def self_signed(cls, trust_domain: str = TRUST_DOMAIN) -> CertificateAuthority:
        """A new root kept in memory only (tests, and control planes without a state directory)."""
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain)])
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + ROOT_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key, _pem(certificate), trust_domain=trust_domain)

    @classmethod
    def load_or_create(cls, directory: Path, trust_domain: str = TRUST_DOMAIN) -> CertificateAuthority:
        """The root kept in ``directory`` (created with a new root on first use; key file 0600)."""
        cert_path, key_path = directory / CA_CERT, directory / CA_KEY
        if cert_path.exists() and key_path.exists():
            ca_cert, ca_key = _load_pair(cert_path, key_path)
            return cls(ca_cert, ca_key, _pem(ca_cert), trust_domain=trust_domain)
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        authority = cls.self_signed(trust_domain)
        _write_private(key_path, _key_pem(authority.ca_key))
        cert_path.write_bytes(authority.root_pem)
        return authority

    @classmethod
    def plugged_in(cls, directory: Path, trust_domain: str = TRUST_DOMAIN) -> CertificateAuthority:
        """Istio's plug-in CA files in ``directory``: ca-cert.pem, ca-key.pem, root-cert.pem and
        (optional) cert-chain.pem. Raises CAError naming the file that is missing or wrong."""
        for required in (CA_CERT, CA_KEY, ROOT_CERT):
            if not (directory / required).is_file():
                raise CAError(
                    f"{directory / required}: missing (a plugged-in CA needs {CA_CERT}, {CA_KEY}, {ROOT_CERT})"
                )
        ca_cert, ca_key = _load_pair(directory / CA_CERT, directory / CA_KEY)
        root_pem = (directory / ROOT_CERT).read_bytes()
        try:
            roots = x509.load_pem_x509_certificates(root_pem)
        except ValueError as error:
            raise CAError(f"{directory / ROOT_CERT}: not a PEM certificate ({error})") from None
        chain_path = directory / CERT_CHAIN
        chain_pem = chain_path.read_bytes() if chain_path.is_file() else b""
        if not any(ca_cert.issuer == root.subject for root in roots) and not chain_pem:
            raise CAError(f"{directory / CA_CERT}: not issued by {ROOT_CERT} and no {CERT_CHAIN} given")
        return cls(ca_cert, ca_key, root_pem, chain_pem or _pem(ca_cert), trust_domain=trust_domain)

    def issue(self, identity: str, lifetime_s: float, now: dt.datetime | None = None) -> IssuedCertificate:
        """A new key pair and a certificate for the SPIFFE ``identity`` valid ``lifetime_s`` seconds."""
        if lifetime_s <= 0:
            raise ValueError(f"lifetime_s must be > 0, got {lifetime_s}")
        now = now or _now()
        key = _new_key()
        not_before = now - BACKDATE
        not_after = now + dt.timedelta(seconds=lifetime_s)
        serial = x509.random_serial_number()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            # An empty subject makes the SAN the only name, so it must be critical (RFC 5280).
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]), critical=True
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        return IssuedCertificate(
            spiffe_id=identity,
            cert_chain_pem=_pem(certificate) + self.chain_pem,
            private_key_pem=_key_pem(key),
            not_before=not_before,
            not_after=not_after,
            serial=serial,
        )


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, SigningKey]:
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError as error:
        raise CAError(f"{cert_path}: not a PEM certificate ({error})") from None
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise CAError(f"{key_path}: not an unencrypted PEM private key ({error})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CAError(f"{key_path}: meshcore signs with EC or RSA keys, got {type(key).__name__}")
    if key.public_key().public_numbers() != certificate.public_key().public_numbers():  # type: ignore[union-attr]
        raise CAError(f"{key_path}: does not belong to {cert_path}")
    return certificate, key
