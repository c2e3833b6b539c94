"""Client identities for tests that talk TLS to the nodes: a key and a certificate issued by a
CA (the stack's, from its credentials, or a stranger's), written 0600 into a directory."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def client_identity(ca: dict[str, str], directory: Path, name: str) -> dict[str, str]:
    """Files for a TLS client: {"certfile", "keyfile", "ca"} (paths); the certificate says
    `name` and is signed by `ca` ({"cert", "key"} PEM); "ca" is that CA's certificate."""
    authority = x509.load_pem_x509_certificate(ca["cert"].encode())
    signer = serialization.load_pem_private_key(ca["key"].encode(), password=None)
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(authority.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(signer, hashes.SHA256())
    )
    files = {
        "certfile": cert.public_bytes(serialization.Encoding.PEM),
        "keyfile": key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()),
        "ca": ca["cert"].encode(),
    }
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, data in files.items():
        path = directory / f"{name}.{kind}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        paths[kind] = str(path)
    return paths
