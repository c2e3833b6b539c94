"""Drive the local target's Pulumi providers directly, in the order the engine would.

For tests and bench only: it lets the node provider and the Ansible run be exercised through
their Python API. The product path is the Pulumi engine (`pulumi up` / `smack up`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi.dynamic as dyn

from infra.ansible import PlaybookResult, forget_runs, run_playbook
from infra.config import Settings
from infra.credentials import credentials_file, ensure_credentials, remove_credentials
from infra.inventory import remove_inventory, render_inventory, write_inventory
from infra.kafka_access import principals as kafka_principals
from infra.nodes.keypair import StackKeyPairProvider
from infra.nodes.local import (
    LocalNetworkProvider,
    LocalNodeProvider,
    local_specs,
    node_record,
)
from infra.nodes.local_disks import LocalDisksProvider
from infra.nodes.model import Node
from infra.paths import inventory_dir
from infra.progress import LineProgress
from infra.retire import PLAYBOOK as REMOVE_PLAYBOOK
from infra.retire import leaving_nodes, removal_extravars
from infra.topology import plan_nodes


@dataclass
class DirectLocalCluster:
    settings: Settings
    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: dict[str, Any] | None = None
    network: dict[str, Any] | None = None
    # container -> its LocalDisks outputs (the engine deletes them after the node)
    disks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def inventory(self) -> Path:
        return inventory_dir(self.settings.stack) / "hosts.yml"

    def up(self) -> list[Node]:
        """Create what is missing and delete surplus nodes, like `pulumi up` would."""
        probe = local_specs(self.settings, public_key="")
        if self.key is None:
            self.key = StackKeyPairProvider().create(probe.key).outs
        specs = local_specs(self.settings, public_key=self.key["public_key"])
        if self.network is None:
            self.network = LocalNetworkProvider().create(specs.network).outs
        wanted = {props["container"] for _, props in specs.nodes}
        for name in sorted(set(self.created) - wanted):
            LocalNodeProvider().delete(name, self.created.pop(name))
            if name in self.disks:
                LocalDisksProvider().delete(name, self.disks.pop(name))
        nodes = []
        for plan, props in specs.nodes:
            if props["container"] not in self.created:
                if plan.name in specs.disks:
                    self.disks[props["container"]] = LocalDisksProvider().create(
                        specs.disks[plan.name]).outs
                self.created[props["container"]] = LocalNodeProvider().create(props).outs
            outs = self.created[props["container"]]
            nodes.append(node_record(plan, outs, self.key["key_file"]))
        ensure_credentials(credentials_file(self.settings.stack),
                           kafka_principals=list(kafka_principals(self.settings)))
        files = render_inventory(self.settings, nodes, self.inventory.parent)
        write_inventory(self.inventory.parent, files)
        return nodes

    def replace(self, container: str) -> None:
        """Replace a node's container as the engine does for a replacing change: the container
        goes, its disks stay, and a new one with the same inputs mounts them (call up() next
        for the inventory with its new host key)."""
        outs = self.created[container]
        props = {k: v for k, v in outs.items() if k not in ("container_id", "host_key")}
        LocalNodeProvider().delete(container, outs)
        self.created[container] = LocalNodeProvider().create(props).outs

    def retire(self, dead: tuple[str, ...] = ()) -> PlaybookResult | None:
        """Run remove-node.yml on the nodes the settings no longer plan, as `pulumi up` does
        before deleting them (call it after changing `settings`, before `up`); `dead` names
        those gone for good, as `smack remove-node --dead` does."""
        leaving = leaving_nodes(self.inventory, [p.name for p in plan_nodes(self.settings)])
        if not leaving:
            return None
        return self.run(REMOVE_PLAYBOOK, extravars=removal_extravars(leaving, dead))

    def run(self, playbook: str, **kwargs: Any) -> PlaybookResult:
        return run_playbook(playbook, self.inventory, stack=self.settings.stack,
                            progress=LineProgress(), **kwargs)

    def down(self) -> None:
        """Delete everything in reverse order; keeps going past errors, raises the first."""
        errors: list[Exception] = []
        forget_runs(self.settings.stack)
        # Nodes before their disks, as the engine orders them.
        doomed: list[tuple[dyn.ResourceProvider, dict[str, Any] | None]] = [
            *((LocalNodeProvider(), self.created[name]) for name in sorted(self.created)),
            *((LocalDisksProvider(), self.disks[name]) for name in sorted(self.disks))]
        self.created.clear()
        self.disks.clear()
        remove_inventory(self.inventory.parent)
        remove_credentials(credentials_file(self.settings.stack))
        doomed += [(LocalNetworkProvider(), self.network), (StackKeyPairProvider(), self.key)]
        for provider, outs in doomed:
            if outs is not None:
                try:
                    provider.delete("", outs)
                except Exception as exc:
                    errors.append(exc)
        self.network = self.key = None
        if errors:
            raise errors[0]
