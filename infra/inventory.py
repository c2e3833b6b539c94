"""Nodes + settings → the Ansible inventory of a stack (hosts.yml, group_vars, known_hosts).

`render_inventory` is pure; `write_inventory` puts its result on disk, where a person can
also run `ansible-playbook -i inventories/<stack>/hosts.yml playbooks/site.yml` by hand.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from infra import metrics
from infra.apps import render_app
from infra.config import QUORUM_SERVICES, SERVICE_GROUPS, Settings
from infra.credentials import credentials_file
from infra.kafka_access import principals as kafka_principals
from infra.nodes.model import Node
from infra.render import digest, render, write_if_changed
from infra.topology import local_bundle_node_dir

INVENTORY_FILES = ("hosts.yml", "group_vars/all.yml", "known_hosts")


def role_variables(settings: Settings) -> dict[str, Any]:
    """Stack settings as the role-prefixed variables the roles read.

    Each service's typed settings become `<service>_<field>`; its `vars` pass through as given
    (their names were checked to carry the prefix). Stack-wide values are `smack_*`.
    """
    out: dict[str, Any] = {
        "smack_stack": settings.stack,
        "smack_target": settings.target,
        "smack_layout": settings.layout,
        "smack_artifact_source": settings.artifacts.source,
        "smack_artifact_mirror_url": settings.artifacts.mirror_url,
        "smack_artifact_bundle_dir": str(settings.artifacts.bundle_path()),
        "smack_artifact_bundle_node_dir": local_bundle_node_dir(settings),
        "smack_nofile_limit": settings.nofile_limit,
        "smack_health_checks_enabled": settings.ansible.health_checks_enabled,
        "smack_packages": {
            **settings.packages.model_dump(exclude={"repository_dir"}),
            "repository_dir": (str(settings.packages.repository_path())
                               if settings.packages.repository_dir else ""),
        },
    }
    common = settings.common.model_dump(exclude={"vars", "nofile_limit"})
    out.update({f"common_{k}": v for k, v in common.items()})
    out.update(settings.common.vars)
    out["apps_definitions"] = [render_app(app) for app in settings.apps]
    out["pipelines_enabled"] = list(settings.pipelines)
    out["smack_mesos_task_users"] = mesos_task_users(settings)
    out.update(target_role_defaults(settings))
    for name in SERVICE_GROUPS:
        service = getattr(settings.services, name)
        out.update({f"{name}_{k}": v for k, v in service.model_dump(exclude={"vars"}).items()})
        out.update(service.vars)
    # The declared principals and the pipelines' own, with their groups filled in.
    out["kafka_principals"] = kafka_principals(settings)
    out.update(metrics.role_variables(settings))
    return out


# Local nodes share one bridge on one machine, where gossip reaches every node within a few
# one-second rounds: a Cassandra node that joins or leaves need not sleep the 30 s Cassandra
# sizes for real networks (twice per decommission). Measured on the local stack, 4→3:
# remove-node.yml 76 s → 31 s.
LOCAL_CASSANDRA_RING_DELAY_MS = 5000
# Nor wait for gossip to settle at each start, four times in a join (at least 8 s each): the
# ring delay a joiner sleeps first already lets gossip reach every node. Measured on the local
# stack: a joiner's start to serving CQL 50 s → 20 s.
LOCAL_CASSANDRA_GOSSIP_SETTLE_MAX_POLLS = 0


def target_role_defaults(settings: Settings) -> dict[str, Any]:
    """Role variables whose right value depends on where the nodes are; a service's own
    `vars` still win."""
    if settings.target == "local":
        return {"cassandra_ring_delay_ms": LOCAL_CASSANDRA_RING_DELAY_MS,
                "cassandra_gossip_settle_max_polls": LOCAL_CASSANDRA_GOSSIP_SETTLE_MAX_POLLS}
    return {}


def mesos_task_users(settings: Settings) -> list[str]:
    """Who runs tasks on the Mesos agents, so every agent has these users: Marathon's
    --mesos_user, and Spark's drivers (user spark) in mesos mode."""
    services = settings.services
    users = []
    if services.marathon.enabled:
        users.append(str(services.marathon.vars.get("marathon_mesos_user", "marathon")))
    if services.spark.enabled and services.spark.cluster_manager == "mesos":
        users.append("spark")
    return users


def render_inventory(settings: Settings, nodes: list[Node], inventory_dir: Path
                     ) -> dict[str, str]:
    """File name (relative to the inventory dir) → content."""
    in_order = ordered(nodes)
    groups: dict[str, list[str]] = {group: [] for group in SERVICE_GROUPS.values()}
    for node in in_order:
        for service in node.services:
            groups[SERVICE_GROUPS[service]].append(node.name)
    server = metrics.prometheus_node(settings, in_order)
    groups[metrics.PROMETHEUS_GROUP] = [server.name] if server else []
    known_hosts = inventory_dir / "known_hosts"
    ssh_args = (
        f'-o UserKnownHostsFile="{known_hosts} ~/.ssh/known_hosts"'
    )
    common = {"stack": settings.stack, "target": settings.target}
    return {
        "hosts.yml": render("inventory/hosts.yml.j2", nodes=in_order, groups=groups, **common),
        "group_vars/all.yml": render(
            "inventory/group_vars_all.yml.j2", ssh_common_args=ssh_args,
            credentials_file=str(credentials_file(settings.stack)),
            variables=role_variables(settings), **common,
        ),
        "known_hosts": render("inventory/known_hosts.j2", nodes=in_order),
    }


# Groups whose members a scale run (playbooks/scale.yml) leaves alone: the fixed quorums and
# the node running Prometheus.
FIXED_GROUPS = (*(SERVICE_GROUPS[s] for s in QUORUM_SERVICES), metrics.PROMETHEUS_GROUP)


def membership_shape(files: dict[str, str]) -> dict[str, Any]:
    """What a scale run must find unchanged, as digests: the shared variables, the members of
    the fixed groups, and per host its variables and groups. Two inventories of the same shape
    but for hosts added or removed differ only in which nodes the growing services run on."""
    inventory = yaml.safe_load(files["hosts.yml"]) or {}
    hosts: dict[str, Any] = (inventory.get("all") or {}).get("hosts") or {}
    children: dict[str, Any] = (inventory.get("all") or {}).get("children") or {}
    members = {group: sorted((body or {}).get("hosts") or {}) for group, body in children.items()}

    def canonical(value: Any) -> str:
        return json.dumps(value, sort_keys=True)

    return {
        "shared": digest(files["group_vars/all.yml"]),
        "fixed": digest(canonical({g: members.get(g, []) for g in FIXED_GROUPS})),
        "hosts": {
            name: digest(canonical({"vars": hostvars or {},
                                    "groups": sorted(g for g, m in members.items() if name in m)}))
            for name, hostvars in hosts.items()
        },
    }


def ordered(nodes: list[Node]) -> list[Node]:
    """The inventory's node order (group, then number): roles pick "the first node" from it."""
    return sorted(nodes, key=lambda n: (n.group, _natural(n.name)))


def write_inventory(inventory_dir: Path, files: dict[str, str]) -> str:
    """Write the files (only those that changed) and return a digest of their content."""
    for name, text in files.items():
        write_if_changed(inventory_dir / name, text)
    return inventory_digest(files)


def inventory_digest(files: dict[str, str]) -> str:
    return digest(*(f"{k}\n{files[k]}" for k in sorted(files)))


def remove_inventory(inventory_dir: Path) -> None:
    """Remove the generated files; anything a person added by hand stays."""
    for name in INVENTORY_FILES:
        (inventory_dir / name).unlink(missing_ok=True)
    for directory in (inventory_dir / "group_vars", inventory_dir):
        if directory.is_dir() and not any(directory.iterdir()):
            shutil.rmtree(directory)


def _natural(name: str) -> tuple[str, int]:
    head, _, tail = name.rpartition("-")
    return (head, int(tail)) if tail.isdigit() else (name, 0)
