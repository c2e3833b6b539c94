"""Removing smack from existing hosts when a baremetal stack is destroyed.

A resource beside the nodes (the program makes it, not the node target): its delete runs
playbooks/reset.yml on the inventory it kept, while the hosts are still reachable, when
`smack:baremetal.reset_on_destroy` is true. Local and aws nodes are deleted outright instead.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pulumi
import pulumi.dynamic as dyn

from infra.config import Settings
from infra.errors import AnsibleRunError, SmackError
from infra.inventory import render_inventory, write_inventory
from infra.nodes.model import Node
from infra.paths import state_dir


def reset_run_name(stack: str) -> str:
    """The reset's runner state and inventory live apart from the stack's own state, which the
    engine may be deleting at the same time."""
    return f"{stack}.reset"


def reset_dir(stack: str) -> Path:
    return state_dir(reset_run_name(stack)) / "inventory"


def run_reset(props: dict[str, Any]) -> dict[str, Any]:
    """Write the stored inventory to a directory of its own and run reset.yml against it."""
    from infra.ansible import forget_runs, run_in_worker  # noqa: PLC0415

    directory = Path(props["dir"])
    write_inventory(directory, props["files"])
    args: dict[str, Any] = {
        "playbook": "reset.yml", "inventory": str(directory / "hosts.yml"),
        "stack": reset_run_name(props["stack"]), "limit": None, "tags": None,
        "extravars": {}, "forks": int(props.get("forks", 20)),
        "verbosity": int(props.get("verbosity", 0)),
    }
    try:
        return run_in_worker(args, sys.stderr)
    except AnsibleRunError as err:
        raise SmackError(
            f"{err}\nThe hosts may still hold part of smack. Fix the problem and destroy "
            f"again, or set smack:baremetal.reset_on_destroy: false and run `smack up` before "
            f"destroying to leave the hosts as they are."
        ) from None
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        forget_runs(reset_run_name(props["stack"]))


class HostResetProvider(dyn.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        return dyn.CreateResult(f"{props['stack']}-reset", dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        return dyn.DiffResult(changes=olds != news, replaces=[])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(dict(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("enabled"):
            run_reset(props)


class HostReset(dyn.Resource):
    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(HostResetProvider(), name, props, opts)


def reset_on_destroy(settings: Settings, nodes: pulumi.Output[list[dict[str, Any]]],
                     enabled: bool, was_under: pulumi.Resource | None = None) -> HostReset:
    """The reset resource for `nodes`; it depends on them, so the engine deletes it (and runs
    reset.yml) before anything they depend on. `was_under`: the component that held it before
    it moved here, so stacks made then keep it (an alias) instead of deleting it, which would
    run the reset on a live cluster."""
    directory = reset_dir(settings.stack)
    files = nodes.apply(lambda records: render_inventory(
        settings, [Node.from_dict(r) for r in records], directory))
    return HostReset(
        "reset",
        {"stack": settings.stack, "enabled": enabled, "dir": str(directory),
         "files": files, "forks": settings.ansible.forks,
         "verbosity": settings.ansible.verbosity},
        pulumi.ResourceOptions(aliases=[pulumi.Alias(parent=was_under)] if was_under else None),
    )
