"""The Pulumi program: one direction from settings to a converged cluster."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pulumi

from infra.ansible import AnsibleRun, InventoryFiles, content_digest
from infra.config import Settings, parse_settings
from infra.credentials import StackCredentials
from infra.endpoints import endpoints
from infra.errors import SmackError
from infra.inventory import membership_shape, render_inventory
from infra.kafka_access import principals as kafka_principals
from infra.nodes.model import Node
from infra.paths import inventory_dir
from infra.retire import PLAYBOOK as REMOVE_PLAYBOOK
from infra.retire import dead_nodes_from_env

# Set by `smack up --converge` (a new token per run): site.yml runs although no input changed.
CONVERGE_ENV = "SMACK_CONVERGE"


def _raw_config() -> dict[str, Any]:
    # The whole map, not pulumi.Config lookups by name: pulumi.Config cannot list the keys a
    # stack sets, and a misspelt smack:* key must be refused, not ignored.
    from pulumi.runtime.config import CONFIG, get_config_env  # noqa: PLC0415

    raw = dict(get_config_env())
    raw.update(CONFIG.get())
    return raw


def load_settings() -> Settings:
    try:
        return parse_settings(pulumi.get_stack(), _raw_config())
    except SmackError as err:
        # RunError ends the program with the message only, no traceback.
        raise pulumi.RunError(str(err)) from None


def create_nodes(settings: Settings) -> pulumi.Output[list[dict[str, Any]]]:
    if settings.target == "local":
        from infra.nodes.local import LocalCluster  # noqa: PLC0415

        local = LocalCluster("local", settings)
        # Nodes a replacing change has not reached yet: one per run (`smack up` repeats).
        pulumi.export("replacements_waiting", local.waiting.apply(_say_waiting))
        return local.nodes
    if settings.target == "aws":
        from infra.nodes.aws import AwsCluster  # noqa: PLC0415

        cluster = AwsCluster("aws", settings)
        pulumi.export("bastion", cluster.bastion_address)
        return cluster.nodes
    if settings.target == "baremetal":
        from infra.nodes.baremetal import BaremetalCluster, baremetal_settings  # noqa: PLC0415
        from infra.reset import reset_on_destroy  # noqa: PLC0415

        hosts = BaremetalCluster("baremetal", settings)
        reset_on_destroy(settings, hosts.nodes, baremetal_settings(settings).reset_on_destroy,
                         was_under=hosts)
        return hosts.nodes
    raise pulumi.RunError(
        f"stack '{settings.stack}': target '{settings.target}' is not available; "
        f"allowed: 'local', 'baremetal', 'aws'"
    )


def _say_waiting(names: list[str]) -> list[str]:
    if names:
        pulumi.log.warn(f"node(s) {', '.join(names)} wait for their turn: a change that replaces "
                        "local nodes replaces one per run, after site.yml converged the one "
                        "before; run `up` again (`smack up` does until none waits)")
    return names


def converge(settings: Settings, nodes: pulumi.Output[list[dict[str, Any]]],
             credentials: StackCredentials | None = None) -> AnsibleRun:
    directory = inventory_dir(settings.stack)
    files = nodes.apply(
        lambda records: render_inventory(
            settings, [Node.from_dict(r) for r in records], directory
        )
    )
    # Nodes the last inventory (in the state) has and this one drops leave the cluster
    # (remove-node.yml) inside the inventory's update, before the engine deletes them; those
    # named in SMACK_DEAD_NODES are gone for good and only the survivors act.
    inventory = InventoryFiles("inventory", {
        "dir": str(directory), "files": files,
        "retire": {"playbook": REMOVE_PLAYBOOK, "stack": settings.stack,
                   "forks": settings.ansible.forks, "verbosity": settings.ansible.verbosity,
                   "dead": dead_nodes_from_env(dict(os.environ))},
    })
    credentials = credentials or stack_credentials(settings)
    return AnsibleRun(
        "site",
        {
            "stack": settings.stack,
            "playbook": "site.yml",
            "inventory": str(directory / "hosts.yml"),
            "inventory_digest": inventory.digest,
            # Lets the run tell a pure scale (scale.yml) from any other change (site.yml).
            "membership": files.apply(membership_shape),
            "content_digest": content_digest(),
            "extravars": {},
            "forks": settings.ansible.forks,
            "verbosity": settings.ansible.verbosity,
            "converge": os.environ.get(CONVERGE_ENV, ""),
        },
        pulumi.ResourceOptions(depends_on=[inventory, credentials]),
    )


def stack_credentials(settings: Settings) -> StackCredentials:
    return StackCredentials("credentials", settings.stack,
                            kafka_principals=list(kafka_principals(settings)))


def ssh_hint(records: list[dict[str, Any]], inventory: Path) -> str:
    """A command that logs into the first node the way Ansible does."""
    if not records:
        return ""
    first = Node.from_dict(records[0])
    key = f"-i {first.ssh_key_file} " if first.ssh_key_file else ""
    port = f"-p {first.ssh_port} " if first.ssh_port != 22 else ""
    jump = f"-J {first.proxy_jump} " if first.proxy_jump else ""
    return (f"ssh {key}{port}{jump}-o UserKnownHostsFile={inventory / 'known_hosts'} "
            f"{first.ssh_user}@{first.address}")


def _run_summary(hosts: dict[str, Any] | None) -> dict[str, str]:
    return {
        host: " ".join(f"{k}={stats.get(k, 0)}" for k in ("ok", "changed", "failed", "unreachable"))
        for host, stats in sorted((hosts or {}).items())
    }


def main() -> None:
    settings = load_settings()
    for notice in settings.notices():  # `pulumi up` run directly shows them as warnings
        pulumi.log.warn(notice)
    nodes = create_nodes(settings)
    credentials = stack_credentials(settings)
    run = converge(settings, nodes, credentials)
    pulumi.export("nodes", nodes.apply(
        lambda records: {r["name"]: {"address": r["address"], "services": r["services"]}
                         for r in records}
    ))
    inventory = inventory_dir(settings.stack)
    pulumi.export("inventory", str(inventory / "hosts.yml"))
    pulumi.export("ssh", nodes.apply(lambda records: ssh_hint(records, inventory)))
    pulumi.export("endpoints", nodes.apply(
        lambda records: endpoints(settings, [Node.from_dict(r) for r in records])
    ))
    pulumi.export("ansible", run.hosts.apply(_run_summary))
    # The CA's certificate is public (clients need it to trust the nodes); its key stays secret.
    pulumi.export("ca_certificate", pulumi.Output.unsecret(
        credentials.values.apply(lambda values: str((values or {}).get("ca", {}).get("cert", "")))))
