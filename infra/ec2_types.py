"""What an EC2 instance type's name says, for the settings checks and the aws node target alike
(so that reading settings never imports a node target)."""

from __future__ import annotations

import re


def architecture(kind: str) -> str:
    """EC2 architecture of an instance type: Graviton families (m7g, t4g, c6gd, a1) are arm64."""
    family = kind.split(".", 1)[0]
    if family == "a1" or re.match(r"^[a-z]+\d+[a-z]*g[a-z]*$", family):
        return "arm64"
    return "x86_64"
