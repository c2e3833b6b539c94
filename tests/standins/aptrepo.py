"""A flat apt repository (Packages, Packages.gz, Release) written in Python, no dpkg-dev.

Layout (apt's "flat repository format"):  <dir>/*.deb  <dir>/Packages[.gz]  <dir>/Release
Use it with:  deb [trusted=yes] file:/path/to/dir ./     (unsigned, hence trusted=yes)
Everything is deterministic for the same .debs, so copying the directory again is a no-op.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import subprocess
from pathlib import Path

HASHES = (("MD5Sum", "md5"), ("SHA1", "sha1"), ("SHA256", "sha256"))


def _digest(data: bytes, name: str) -> str:
    return hashlib.new(name, data, usedforsecurity=False).hexdigest()


def control_fields(deb: Path) -> str:
    """The control paragraph of a .deb, as dpkg-deb prints it (no trailing blank line)."""
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True
    ).stdout.rstrip("\n")


def packages_stanza(deb: Path) -> str:
    data = deb.read_bytes()
    fields = [
        control_fields(deb),
        f"Filename: ./{deb.name}",
        f"Size: {len(data)}",
        f"MD5sum: {_digest(data, 'md5')}",
        f"SHA1: {_digest(data, 'sha1')}",
        f"SHA256: {_digest(data, 'sha256')}",
    ]
    return "\n".join(fields) + "\n"


def write_repository(repo: Path, debs: list[Path], date_epoch: int) -> Path:
    """Write Packages, Packages.gz and Release for `debs` (already inside `repo`)."""
    packages = "\n".join(packages_stanza(d) for d in sorted(debs)).encode()
    (repo / "Packages").write_bytes(packages)
    with (
        (repo / "Packages.gz").open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz,
    ):
        gz.write(packages)
    architectures = sorted({_field(d, "Architecture") for d in debs})
    lines = [
        "Origin: smack",
        "Label: smack test stand-ins (not Mesos, not Marathon)",
        f"Date: {email.utils.formatdate(date_epoch, usegmt=True)}",
        f"Architectures: {' '.join(architectures)}",
        "Description: smack TEST STAND-IN packages for Mesos 1.11 and Marathon 1.11",
    ]
    index_files = ["Packages", "Packages.gz"]
    for label, algorithm in HASHES:
        lines.append(f"{label}:")
        for name in index_files:
            data = (repo / name).read_bytes()
            lines.append(f" {_digest(data, algorithm)} {len(data):>16} {name}")
    (repo / "Release").write_text("\n".join(lines) + "\n")
    return repo


def _field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), name], check=True, capture_output=True, text=True
    ).stdout.strip()


def parse_packages(text: str) -> list[dict[str, str]]:
    """Parse a Packages file into dicts (continuation lines folded into the field)."""
    stanzas = []
    for block in filter(None, text.strip().split("\n\n")):
        fields: dict[str, str] = {}
        last = ""
        for line in block.splitlines():
            if line.startswith(" ") and last:
                fields[last] += "\n" + line
            else:
                last, _, value = line.partition(":")
                fields[last] = value.strip()
        stanzas.append(fields)
    return stanzas
