"""Raw stack settings shared by tests."""

from __future__ import annotations

from typing import Any

# A package source for settings that are only parsed, never deployed: Mesos and Marathon are
# enabled by default and need one. The .invalid name can never resolve.
PARSE_ONLY_PACKAGES: dict[str, Any] = {
    "apt_repository": "deb https://packages.example.invalid/debian bookworm main",
}

MESOS_SERVICES = ("mesos_master", "mesos_agent", "marathon")
WITHOUT_MESOS: dict[str, Any] = {name: {"enabled": False} for name in MESOS_SERVICES}


def parse_only(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` with a package source added unless it names one."""
    return {"smack:packages": PARSE_ONLY_PACKAGES, **raw}
