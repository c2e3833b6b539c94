"""Thin wrapper around the podman or docker command line.

Podman reads its settings from the containers.conf smack writes (runtime, ulimits), pointed
at through CONTAINERS_CONF for every call, so the user's own podman setup is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from infra.errors import EngineError

# Marks everything smack creates, so cleanup and leak checks only ever touch our own objects.
STACK_LABEL = "io.smack.stack"


@dataclass(frozen=True)
class ContainerEngine:
    name: str  # podman | docker
    containers_conf: str = ""

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.name == "podman" and self.containers_conf:
            env["CONTAINERS_CONF"] = self.containers_conf
        return env

    def run(self, *args: str, check: bool = True, input_text: str | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
        binary = shutil.which(self.name)
        if binary is None:
            raise EngineError(
                f"'{self.name}' is not installed; install it (the README's set-up commands do) "
                f"or set smack:local.engine"
            )
        proc = subprocess.run(
            [binary, *args], capture_output=True, text=True, env=self._env(),
            input=input_text, timeout=timeout, check=False,
        )
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise EngineError(
                f"{self.name} {' '.join(args[:2])} failed (exit {proc.returncode}): "
                f"{detail[-1] if detail else 'no output'}"
            )
        return proc

    def inspect(self, kind: str, name: str) -> dict[str, Any] | None:
        proc = self.run(kind, "inspect", name, check=False)
        if proc.returncode != 0:
            return None
        data = json.loads(proc.stdout or "[]")
        return data[0] if data else None

    def image_exists(self, ref: str) -> bool:
        return self.run("image", "inspect", ref, check=False).returncode == 0

    def containers(self, stack: str) -> list[str]:
        proc = self.run("ps", "-a", "--filter", f"label={STACK_LABEL}={stack}",
                        "--format", "{{.Names}}")
        return [line for line in proc.stdout.split() if line]

    def container_states(self, stack: str) -> dict[str, str]:
        """Container name -> state (running, exited, ...) for the stack's containers."""
        # JSON: podman's text {{.State}} is "Up 2 minutes ago", its JSON field the state.
        proc = self.run("ps", "-a", "--filter", f"label={STACK_LABEL}={stack}",
                        "--format", "json")
        text = proc.stdout.strip()
        # podman prints one array, docker one object per line.
        entries = json.loads(text) if text.startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]
        states = {}
        for entry in entries:
            names = entry.get("Names") or []
            name = names[0] if isinstance(names, list) and names else str(names)
            states[name.lstrip("/")] = str(entry.get("State", "")).lower()
        return states

    def volumes(self, stack: str) -> list[str]:
        proc = self.run("volume", "ls", "--filter", f"label={STACK_LABEL}={stack}",
                        "--format", "{{.Name}}")
        return [line for line in proc.stdout.split() if line]

    def networks(self, stack: str) -> list[str]:
        proc = self.run("network", "ls", "--filter", f"label={STACK_LABEL}={stack}",
                        "--format", "{{.Name}}")
        return [line for line in proc.stdout.split() if line]
