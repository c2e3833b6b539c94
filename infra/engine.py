"""The Pulumi engine as smack drives it: where the CLI is, and running a command on a stack."""

from __future__ import annotations

import shutil
from importlib.metadata import version
from pathlib import Path

from infra.errors import SmackError
from infra.paths import cache_dir


def sdk_version() -> str:
    return version("pulumi")


def pulumi_bin_dir() -> Path | None:
    """Directory holding a pulumi CLI for this SDK: the build cache first, else PATH."""
    cached = cache_dir() / "pulumi" / f"v{sdk_version()}" / "bin"
    if (cached / "pulumi").is_file():
        return cached
    found = shutil.which("pulumi")
    return Path(found).parent if found else None


def run_command(command: str, stack: str, *, yes: bool) -> int:
    if pulumi_bin_dir() is None:
        raise SmackError(
            f"`smack {command}` needs the pulumi CLI {sdk_version()}, which is not on this "
            f"machine yet; the settings are valid (see `smack validate -s {stack}`)."
        )
    raise SmackError(f"`smack {command}` through the Pulumi engine is not wired up yet")
