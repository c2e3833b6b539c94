"""The container engine as the local target's resources open it: podman reads a
containers.conf of the stack's own (runtime, ulimits), so the user's podman setup is untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.config import Settings
from infra.nodes.engine import ContainerEngine
from infra.paths import state_dir
from infra.render import render, write_if_changed


def engine_props(settings: Settings) -> dict[str, Any]:
    s = settings.local
    return {
        "name": s.engine,
        "containers_conf": str(state_dir(settings.stack) / "containers.conf"),
        "runtime": s.runtime,
        "nofile": s.ulimits.nofile,
        "nproc": s.ulimits.nproc,
        "stack": settings.stack,
    }


def open_engine(props: dict[str, Any]) -> ContainerEngine:
    """Write the containers.conf these props describe (podman) and return the engine."""
    if props["name"] != "podman":
        return ContainerEngine(props["name"])
    path = Path(props["containers_conf"])
    write_if_changed(
        path,
        render("local/containers.conf.j2", stack=props["stack"], runtime=props["runtime"],
               nofile=int(props["nofile"]), nproc=int(props["nproc"])),
    )
    return ContainerEngine("podman", str(path))
