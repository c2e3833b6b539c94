"""The stack's certificate authority: generated once, kept with the stack's credentials.

The CA's key and certificate (PEM) live in the credentials file (0600) and, through it, in the
Pulumi state as secrets, so a lost `.smack/` directory gets the same CA back on refresh. Node
certificates are issued from it by the `common` role (roles/common/tasks/tls.yml).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Long enough to outlive the clusters it signs for; rotating the CA is a separate step.
AUTHORITY_DAYS = 3650


def new_authority(stack: str, now: dt.datetime | None = None) -> dict[str, str]:
    """A fresh self-signed CA for `stack`: {"cert": PEM, "key": PEM (PKCS#8, unencrypted)}."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smack"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"smack {stack} CA"),
    ])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=AUTHORITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=True, crl_sign=True, encipher_only=False,
                          decipher_only=False),
            critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return {
        "cert": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode(),
    }


def is_authority(value: Any) -> bool:
    """Whether `value` holds a usable CA: a CA certificate and the private key that matches it."""
    if not isinstance(value, dict):
        return False
    try:
        cert = x509.load_pem_x509_certificate(str(value.get("cert", "")).encode())
        key = serialization.load_pem_private_key(str(value.get("key", "")).encode(), None)
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (ValueError, TypeError, x509.ExtensionNotFound):
        return False
    same_key = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo,
    ) == cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bool(constraints.ca) and same_key
