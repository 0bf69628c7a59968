"""The CA: Istio-shaped SPIFFE workload certificates, a root kept 0600, a plugged-in CA."""

from __future__ import annotations

import datetime as dt
import shutil
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from meshcore.controlplane.ca import CAError, CertificateAuthority

IDENTITY = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"


def leaf(issued) -> x509.Certificate:
    return x509.load_pem_x509_certificates(issued.cert_chain_pem)[0]


def test_workload_certificates_have_istios_shape():
    authority = CertificateAuthority.self_signed()
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    issued = authority.issue(IDENTITY, 20, now)
    certificate = leaf(issued)
    assert certificate.subject == x509.Name([])
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and san.value.get_values_for_type(x509.UniformResourceIdentifier) == [IDENTITY]
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert certificate.not_valid_after_utc == now + dt.timedelta(seconds=20)
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    certificate.verify_directly_issued_by(authority.ca_cert)
    assert issued.lifetime_s == 20


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl binary")
def test_openssl_accepts_the_chain(tmp_path):
    authority = CertificateAuthority.self_signed()
    (tmp_path / "root.pem").write_bytes(authority.root_pem)
    (tmp_path / "leaf.pem").write_bytes(authority.issue(IDENTITY, 60).cert_chain_pem)
    result = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "leaf.pem"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_root_is_kept_in_the_state_directory_with_a_private_key(tmp_path):
    first = CertificateAuthority.load_or_create(tmp_path / "ca")
    assert stat.S_IMODE((tmp_path / "ca" / "ca-key.pem").stat().st_mode) == 0o600
    again = CertificateAuthority.load_or_create(tmp_path / "ca")
    assert again.root_pem == first.root_pem  # a restart keeps trusting certificates already issued
    leaf(again.issue(IDENTITY, 60)).verify_directly_issued_by(first.ca_cert)


def test_a_plugged_in_intermediate_ca_signs_with_its_chain(tmp_path):
    root = CertificateAuthority.self_signed()
    intermediate_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    intermediate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "intermediate")]))
        .issuer_name(root.ca_cert.subject)
        .public_key(intermediate_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root.ca_key, hashes.SHA256())
    )
    (tmp_path / "ca-cert.pem").write_bytes(intermediate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "ca-key.pem").write_bytes(
        intermediate_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "root-cert.pem").write_bytes(root.root_pem)
    plugged = CertificateAuthority.plugged_in(tmp_path)
    chain = x509.load_pem_x509_certificates(plugged.issue(IDENTITY, 60).cert_chain_pem)
    assert [c.subject for c in chain[1:]] == [intermediate.subject]
    chain[0].verify_directly_issued_by(intermediate)
    assert plugged.root_pem == root.root_pem


def test_a_plugged_in_ca_with_missing_or_mismatched_files_is_refused(tmp_path):
    with pytest.raises(CAError, match=r"ca-cert\.pem: missing"):
        CertificateAuthority.plugged_in(tmp_path)
    one, other = CertificateAuthority.self_signed(), CertificateAuthority.self_signed()
    (tmp_path / "ca-cert.pem").write_bytes(one.root_pem)
    (tmp_path / "ca-key.pem").write_bytes(
        other.ca_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "root-cert.pem").write_bytes(one.root_pem)
    with pytest.raises(CAError, match=r"ca-key\.pem: does not belong to"):
        CertificateAuthority.plugged_in(tmp_path)
