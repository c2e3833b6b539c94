"""Find anything a test's local nodes could leave behind on this machine."""

from __future__ import annotations

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
    """Everything of `stack` still present: containers, networks, mounts, netns, processes."""
    found = [f"container {c}" for c in engine.containers(stack)]
    found += [f"network {n}" for n in engine.networks(stack)]
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


__all__ = ["STACK_LABEL", "Footprint", "footprint", "leftovers"]
