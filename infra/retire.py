"""Nodes leave the cluster through playbooks/remove-node.yml before they are deleted.

`pulumi up` decides from the inventory kept in the Pulumi state (infra.ansible: the inventory
resource's update retires the hosts it drops, whatever this machine's disk holds). The tests'
driver without the engine reads the inventory on disk through this module; the playbook and
the way it drains, reassigns and decommissions are the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from infra.errors import SmackError
from infra.inventory import INVENTORY_FILES, inventory_digest

PLAYBOOK = "remove-node.yml"
# Nodes gone for good, for one `pulumi up`: `smack remove-node NODE --dead` sets it. Not a
# stack setting on purpose: it is a decision about one removal, not a property of the stack.
DEAD_NODES_ENV = "SMACK_DEAD_NODES"


def dead_nodes_from_env(environ: dict[str, str]) -> list[str]:
    """Names in SMACK_DEAD_NODES (comma-separated), in the order given."""
    return [name.strip() for name in environ.get(DEAD_NODES_ENV, "").split(",") if name.strip()]


def removal_extravars(leaving: Iterable[str], dead: Iterable[str]) -> dict[str, str]:
    """remove-node.yml's extra variables for `leaving`; those of them in `dead` are not
    connected to. Naming a dead node that does not leave is refused: it would be ignored."""
    leaving = list(leaving)
    gone = [name for name in dead if name in leaving]
    stray = [name for name in dead if name not in leaving]
    if stray:
        raise SmackError(f"{DEAD_NODES_ENV}={','.join(dead)}: {', '.join(stray)} "
                         f"{'is' if len(stray) == 1 else 'are'} not among the nodes this run "
                         f"removes ({', '.join(leaving) or 'none'})")
    extravars = {"remove_nodes": ",".join(leaving)}
    if gone:
        extravars["remove_dead_nodes"] = ",".join(gone)
    return extravars


def current_hosts(inventory: Path) -> list[str]:
    """Hosts of the stack's inventory on disk, in its order; none before the first `up`."""
    if not inventory.is_file():
        return []
    try:
        data = yaml.safe_load(inventory.read_text()) or {}
    except yaml.YAMLError as err:
        raise SmackError(f"{inventory}: not readable as YAML ({err}); fix or remove it") from None
    return list(((data.get("all") or {}).get("hosts") or {}).keys())


def leaving_nodes(inventory: Path, planned: Iterable[str]) -> list[str]:
    """Hosts the inventory has and the plan does not: the nodes about to be deleted."""
    keep = set(planned)
    return [host for host in current_hosts(inventory) if host not in keep]


def current_digest(inventory: Path) -> str:
    """Digest of the inventory files on disk, as `write_inventory` computes it."""
    directory = inventory.parent
    files = {name: (directory / name).read_text() for name in INVENTORY_FILES
             if (directory / name).is_file()}
    return inventory_digest(files)
