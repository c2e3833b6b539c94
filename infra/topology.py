"""Which nodes a stack has and what runs on each: a pure function of the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.config import QUORUM_SERVICES, SERVICE_GROUPS, Settings


@dataclass(frozen=True)
class NodePlan:
    """A node the stack asks for, before any target has created or adopted it."""

    name: str
    group: str
    group_index: int
    index: int
    services: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def inventory_groups(self) -> tuple[str, ...]:
        return tuple(SERVICE_GROUPS[s] for s in self.services)


def plan_nodes(settings: Settings) -> list[NodePlan]:
    """Nodes in a stable order: node groups as listed, then by index.

    Names are `<group>-<n>`, so lowering a count drops exactly the highest-numbered nodes.
    In the converged layout every node runs every enabled service, except the quorum
    services, which run on the first `quorum_size` nodes only.
    """
    enabled = settings.services.enabled()
    quorum = settings.quorum_members()
    plans: list[NodePlan] = []

    def services_for(listed: list[str]) -> tuple[str, ...]:
        if settings.layout == "separate":
            return tuple(s for s in enabled if s in listed)
        first = len(plans) < quorum
        return tuple(s for s in enabled if first or s not in QUORUM_SERVICES)

    if settings.target == "baremetal" and settings.baremetal is not None:
        group_index = {g.name: gi for gi, g in enumerate(settings.node_groups())}
        seen: dict[str, int] = {}
        for host in settings.baremetal.hosts:
            seen[host.group] = seen.get(host.group, 0) + 1
            plans.append(NodePlan(host.name, host.group, group_index[host.group],
                                  seen[host.group], services_for(list(host.services)),
                                  dict(host.labels)))
        return plans
    for gi, group in enumerate(settings.nodes):
        for i in range(1, group.count + 1):
            plans.append(NodePlan(f"{group.name}-{i}", group.name, gi, i,
                                  services_for(list(group.services)), dict(group.labels)))
    return plans


def local_address(settings: Settings, plan: NodePlan) -> str:
    """Fixed address of a local node: groups get blocks, so scaling one never renumbers another."""
    net = settings.local.network
    offset = (
        settings.local.address_offset
        + plan.group_index * settings.local.addresses_per_group
        + plan.index
        - 1
    )
    return str(net.network_address + offset)


def local_gateway(settings: Settings) -> str:
    return str(settings.local.network.network_address + 1)


# Where a local node sees the control machine's artifact bundle (read-only bind mount), so
# the roles unpack releases in place instead of copying them over SSH.
LOCAL_BUNDLE_NODE_DIR = "/mnt/smack-bundle"


def local_bundle_dir(settings: Settings) -> str:
    """The bundle directory local nodes mount, or "" when releases do not come from a bundle
    (or the nodes are not local)."""
    if settings.target != "local" or settings.artifacts.source != "bundle":
        return ""
    return str(settings.artifacts.bundle_path())


def local_bundle_node_dir(settings: Settings) -> str:
    """Where the nodes see that bundle, or "" when they do not mount one."""
    return LOCAL_BUNDLE_NODE_DIR if local_bundle_dir(settings) else ""
