"""Clients that talk to a sidecar's inbound listener directly, with or without a certificate.

What a workload outside the mesh (plaintext), an impostor (a certificate from another CA) or a
mesh workload (a certificate from the mesh's own CA, read from the mesh's state directory) sees.
"""

from __future__ import annotations

import http.client
import ssl
from pathlib import Path

from meshcore.controlplane.ca import CertificateAuthority


def mesh_authority(state_dir: Path) -> CertificateAuthority:
    """The running mesh's own root CA (kept in <state_dir>/ca by `meshcore up`)."""
    return CertificateAuthority.load_or_create(state_dir / "ca")


def client_certificate(directory: Path, authority: CertificateAuthority, identity: str) -> tuple[Path, Path]:
    """(certificate chain file, key file) of a short-lived certificate for ``identity``."""
    issued = authority.issue(identity, 600)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(issued.cert_chain_pem)
    key.write_bytes(issued.private_key_pem)
    return cert, key


def get_status(
    port: int,
    path: str = "/",
    host: str = "127.0.0.1",
    certificate: tuple[Path, Path] | None = None,
    use_tls: bool = True,
    timeout: float = 10,
) -> int:
    """GET ``path`` from 127.0.0.1:``port``; the HTTP status, or an OSError/ssl.SSLError when the
    server refuses the connection. ``use_tls=False`` speaks plaintext HTTP."""
    if use_tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # The test checks the server side only; the client does not verify the sidecar.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if certificate is not None:
            context.load_cert_chain(str(certificate[0]), str(certificate[1]))
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, context=context, timeout=timeout
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()
