"""Per-stack SSH key pairs: generated here, written 0600, never printed."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def ensure_key_pair(private_key: Path, comment: str) -> str:
    """Create the key pair if it is missing; return the public key line.

    The private key file is created with mode 0600 from the start (no window where it is
    readable by others); the directory is 0700.
    """
    _private_dir(private_key)
    public = private_key.with_name(private_key.name + ".pub")
    if private_key.exists() and public.exists():
        private_key.chmod(0o600)
        return public.read_text().strip()
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    line = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
        + f" {comment}"
    )
    _write_private(private_key, pem)
    public.write_text(line + "\n")
    return line


def _private_dir(private_key: Path) -> None:
    private_key.parent.mkdir(parents=True, exist_ok=True)
    private_key.parent.chmod(0o700)


def _write_private(private_key: Path, data: bytes) -> None:
    """0600 from the first byte: no window in which another user could read the key."""
    fd = os.open(private_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def remove_key_pair(private_key: Path) -> None:
    private_key.unlink(missing_ok=True)
    private_key.with_name(private_key.name + ".pub").unlink(missing_ok=True)


def restore_key_pair(private_key: Path, private_pem: str, public_line: str) -> None:
    """Write a kept key pair back where it belongs, when the files are missing or differ."""
    _private_dir(private_key)
    public = private_key.with_name(private_key.name + ".pub")
    if not private_key.exists() or private_key.read_text() != private_pem:
        _write_private(private_key, private_pem.encode())
    private_key.chmod(0o600)
    if not public.exists() or public.read_text().strip() != public_line:
        public.write_text(public_line + "\n")
