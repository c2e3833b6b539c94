"""`smack scale GROUP COUNT`: which node group, and whether the new count is a valid setting."""

from __future__ import annotations

from pathlib import Path

import yaml

from infra.config import Settings, parse_settings, stack_file
from infra.errors import SmackError

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
