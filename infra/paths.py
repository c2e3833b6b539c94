"""Where smack keeps generated state (inside the project, git-ignored) and caches (outside)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def state_root() -> Path:
    """Per-project generated state: keys, runner artifacts, fact cache, pulumi state."""
    return Path(os.environ.get("SMACK_STATE_DIR") or PROJECT_DIR / ".smack")


def state_dir(stack: str) -> Path:
    return state_root() / "stacks" / stack


def inventory_dir(stack: str) -> Path:
    return PROJECT_DIR / "inventories" / stack


def cache_dir() -> Path:
    """Machine-wide cache shared by clones: base images, built tools, artifact bundles."""
    explicit = os.environ.get("SMACK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "smack"


def remove_if_empty(*directories: Path) -> None:
    """Remove each directory in turn while it is empty (a stack's state directory once nothing
    of the stack is left in it); stop at the first that is not."""
    for directory in directories:
        try:
            directory.rmdir()
        except OSError:
            return
