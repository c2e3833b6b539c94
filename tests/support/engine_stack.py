"""A Pulumi stack of the local target for tests and bench, driven like a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from infra.engine import engine_env
from infra.nodes.engine import ContainerEngine
from infra.paths import PROJECT_DIR, state_dir

SUBNET = os.environ.get("SMACK_TEST_SUBNET", "198.18.0.0/24")
BIN = Path(sys.executable).parent


class StackCommandError(RuntimeError):
    pass


class Stack:
    """A stack of its own on the test subnet, driven with plain `pulumi` and with `smack`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.file = PROJECT_DIR / "stacks" / f"Pulumi.{name}.yaml"
        self.env = {**os.environ, **engine_env()}
        self.podman = ContainerEngine("podman")

    def destroy_and_remove(self) -> None:
        """Best-effort cleanup, also after a failed step."""
        self.pulumi("destroy", "--yes", check=False)
        self.pulumi("stack", "rm", "--yes", check=False)
        self.file.unlink(missing_ok=True)

    def write_settings(self, count: int, **settings: object) -> None:
        """The shipped local stack's settings with `count` nodes on the test subnet.

        `settings` replaces whole smack:<key> values (e.g. services=...).
        """
        if self.file.exists():
            doc = yaml.safe_load(self.file.read_text())
        else:
            local = yaml.safe_load((PROJECT_DIR / "stacks" / "Pulumi.local.yaml").read_text())
            doc = {"config": dict(local["config"])}
        config = doc["config"]
        local_settings = dict(config.get("smack:local") or {})
        local_settings["subnet"] = SUBNET
        config.update({"smack:nodes": [{"name": "node", "count": count}],
                       "smack:local": local_settings})
        config.update({f"smack:{k}": v for k, v in settings.items()})
        self.file.write_text(yaml.safe_dump(doc, sort_keys=False))

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["pulumi", *args, "--stack", self.name], cwd=PROJECT_DIR,
                              env=self.env, capture_output=True, text=True, check=False,
                              timeout=1200)
        if check and proc.returncode != 0:
            raise StackCommandError(
                f"pulumi {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr}")
        return proc

    def smack(self, *args: str) -> subprocess.CompletedProcess[str]:
        # Wide enough that rich keeps every table row on one line.
        proc = subprocess.run([str(BIN / "smack"), *args, "--stack", self.name],
                              cwd=PROJECT_DIR, capture_output=True, text=True, check=False,
                              timeout=1200, env={**os.environ, "COLUMNS": "400"})
        if proc.returncode != 0:
            raise StackCommandError(
                f"smack {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr}")
        return proc

    def outputs(self) -> dict[str, object]:
        return json.loads(self.pulumi("stack", "output", "--json").stdout)

    def containers(self) -> dict[str, str]:
        """Container name → id of this stack's nodes."""
        out = {}
        for name in self.podman.containers(self.name):
            info = self.podman.inspect("container", name) or {}
            if not info["State"]["Running"]:
                raise StackCommandError(f"{name} is not running")
            out[name] = info["Id"]
        return out

    def node(self, n: int) -> str:
        return f"smack-{self.name}-node-{n}"

    def exec(self, n: int, *cmd: str) -> str:
        return self.podman.run("exec", self.node(n), *cmd).stdout

    def runs_of_site(self) -> int:
        return self.runs_of("site.yml")

    def runs_of(self, playbook: str) -> int:
        log = state_dir(self.name) / f"{Path(playbook).stem}.log"
        return log.read_text().count(f"{playbook}: starting") if log.exists() else 0
