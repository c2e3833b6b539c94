"""`smack scale GROUP COUNT` and `smack remove-node NODE`: which node group, and whether the new
count is a valid setting."""

from __future__ import annotations

from pathlib import Path

import yaml

from infra.config import QUORUM_SERVICES, Settings, parse_settings, stack_file
from infra.errors import SmackError
from infra.topology import plan_nodes

AGENTS = "agents"


def group_index(settings: Settings, name: str) -> int:
    """Index of the node group `name` in smack:nodes; `agents` also names the one group that
    runs Mesos agents when no group is called that."""
    if settings.target == "baremetal":
        raise SmackError(f"stack '{settings.stack}' is baremetal: add or remove hosts in "
                         f"smack:baremetal.hosts, then `smack up`")
    names = [group.name for group in settings.nodes]
    if name in names:
        return names.index(name)
    if name == AGENTS:
        runs_agents = [i for i, group in enumerate(settings.nodes)
                       if settings.layout == "converged" or "mesos_agent" in group.services]
        if len(runs_agents) == 1:
            return runs_agents[0]
    raise SmackError(f"stack '{settings.stack}': no node group '{name}' in smack:nodes; "
                     f"allowed: {', '.join(repr(n) for n in names)}")


def scaled_settings(settings: Settings, project_dir: Path, group: str, count: int
                    ) -> tuple[int, int, Settings]:
    """(group index, old count, settings with the new count): raises SettingsError naming
    smack:nodes[i].count when the new count is not allowed, before anything changes."""
    index = group_index(settings, group)
    doc = yaml.safe_load(stack_file(project_dir, settings.stack).read_text()) or {}
    config = dict(doc.get("config") or {})
    nodes = [dict(g) for g in config.get("smack:nodes") or [{}]]
    nodes[index]["count"] = count
    config["smack:nodes"] = nodes
    return index, settings.nodes[index].count, parse_settings(settings.stack, config)


def removal(settings: Settings, project_dir: Path, node: str, *, dead: bool) -> tuple[int, int]:
    """(group index, old count) for taking `node` out: it must be the highest-numbered node
    of its group (lowering a count drops exactly that one) and not hold a fixed quorum; the
    lower count must be a valid setting. Raises before anything changes."""
    flag = " --dead" if dead else ""
    if settings.target == "baremetal":
        raise SmackError(
            f"stack '{settings.stack}' is baremetal: delete {node} from smack:baremetal.hosts, "
            f"then run `{'SMACK_DEAD_NODES=' + node + ' ' if dead else ''}smack up -s "
            f"{settings.stack}` (the node leaves the cluster before smack forgets it)")
    plans = {plan.name: plan for plan in plan_nodes(settings)}
    plan = plans.get(node)
    if plan is None:
        raise SmackError(f"stack '{settings.stack}' has no node '{node}'; nodes: "
                         f"{', '.join(plans) or 'none'}")
    group = settings.nodes[plan.group_index]
    if plan.index != group.count:
        raise SmackError(
            f"{node} is not the last node of group '{group.name}' ({group.name}-{group.count} "
            f"is): a count drops the highest-numbered nodes, so smack removes those only; "
            f"remove {group.name}-{group.count} first, or keep {node}")
    held = [s for s in plan.services if s in QUORUM_SERVICES]
    if held:
        raise SmackError(
            f"{node} runs {', '.join(held)}, whose membership smack keeps fixed (a quorum); "
            f"it cannot be removed{flag}. Bring it back (a replacement node under the same "
            f"name and address) and rerun `smack up`")
    index, old, _new = scaled_settings(settings, project_dir, group.name, group.count - 1)
    return index, old
