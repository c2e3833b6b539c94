"""Find anything a test's local nodes could leave behind on this machine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from infra.nodes.engine import STACK_LABEL, ContainerEngine


@dataclass
class Footprint:
    """What a set of running nodes holds on the host: ids, mounts, netns files."""

    container_ids: list[str] = field(default_factory=list)
    mount_points: list[str] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)


def footprint(engine: ContainerEngine, containers: list[str]) -> Footprint:
    fp = Footprint()
    for name in containers:
        info = engine.inspect("container", name)
        if info is None:
            continue
        fp.container_ids.append(info["Id"])
        merged = (info.get("GraphDriver") or {}).get("Data", {}).get("MergedDir")
        if merged:
            fp.mount_points.append(merged)
        sandbox = (info.get("NetworkSettings") or {}).get("SandboxKey")
        if sandbox:
            fp.netns.append(sandbox)
    return fp


def leftovers(engine: ContainerEngine, stack: str, fp: Footprint) -> list[str]:
    """Everything of `stack` still present: containers, networks, volumes, mounts, netns,
    processes."""
    found = [f"container {c}" for c in engine.containers(stack)]
    found += [f"network {n}" for n in engine.networks(stack)]
    found += [f"volume {v}" for v in engine.volumes(stack)]
    mounts = Path("/proc/mounts").read_text()
    found += [f"mount {m}" for m in fp.mount_points if m in mounts]
    found += [f"mount {n}" for n in fp.netns if n in mounts]
    found += [f"netns file {n}" for n in fp.netns if Path(n).exists()]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(cid in cmdline for cid in fp.container_ids):
            found.append(f"process {proc.name}: {cmdline[:120]}")
        if f"smack-{stack}" in cmdline and "ssh" in cmdline:
            found.append(f"ssh process {proc.name}: {cmdline[:120]}")
    return found


__all__ = ["STACK_LABEL", "Footprint", "footprint", "leftovers", "node_traces"]


# What smack's services are called: units, users, packages, directories and processes.
# (A whole word: "smacker" is not "smack".)
SERVICE_NAMES = r"(zookeeper|kafka|cassandra|spark|mesos|marathon|prometheus|smack)([^a-z]|$)"
# One look inside a node for anything named like them, one "<kind> <item>" line each.
_TRACES_SCRIPT = rf"""
names='{SERVICE_NAMES}'
systemctl list-units --all --no-legend --plain | awk '{{print "unit " $1}}' | grep -E "$names"
systemctl list-unit-files --no-legend | awk '{{print "unit-file " $1}}' | grep -E "$names"
getent passwd | cut -d: -f1 | sed 's/^/user /' | grep -E "$names"
getent group | cut -d: -f1 | sed 's/^/group /' | grep -E "$names"
dpkg-query -W -f '${{Package}} ${{db:Status-Abbrev}}\n' | awk '$2 != "un" {{print "package " $1}}' \
  | grep -E "$names"
find /opt /srv /var/lib /var/log /var/cache /etc /usr/local /usr/lib /usr/share /tmp -xdev \
  -maxdepth 3 2>/dev/null | grep -E "$names" | sed 's/^/path /'
ps -eo comm=,args= | grep -E "java|$names" | grep -vE '^(ps|grep|sh|sshd|sshd-session|sudo) ' \
  | sed 's/^/process /'
ss -Hltn | awk '{{print "port " $4}}'
grep -q 'smack cluster nodes' /etc/hosts && echo 'hosts-block /etc/hosts'
true
"""


def node_traces(run_in_node: Callable[[str], str]) -> set[str]:
    """Everything on a node named like smack's services, and every listening TCP port;
    `run_in_node` runs a shell script on the node and returns its output."""
    return set(run_in_node(_TRACES_SCRIPT).splitlines())
