"""Benchmark the local stack on this machine.

Run as root from the project directory:

    .venv/bin/python -m bench.bench                  # through the Pulumi engine (default)
    .venv/bin/python -m bench.bench --mode direct    # providers and playbooks without the engine

engine mode: first `pulumi up`, no-op `smack up`, scale 3→4 and 4→3 (`smack up`), destroy;
also each service's first start (its plays in the first run's log) and memory per node.
direct mode: node bring-up, first site.yml, no-op site.yml, verify.yml, a rolling restart of
Kafka and Cassandra, +1 node, remove-node.yml on it and its deletion, teardown.
Each run uses a fresh stack on the test subnet and removes it afterwards; the table shows the
median, min and max of each phase. A script, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from infra.config import Settings, parse_settings
from infra.paths import state_dir
from tests.standins.build import HERE as STANDINS_DIR
from tests.standins.build import build_repository
from tests.support.direct import DirectLocalCluster
from tests.support.engine_stack import Stack

console = Console()
Phases = dict[str, list[float]]


def timed(phases: Phases, name: str, fn: Callable[[], Any]) -> Any:
    started = time.monotonic()
    result = fn()
    phases.setdefault(name, []).append(time.monotonic() - started)
    console.print(f"  {name}: {phases[name][-1]:.1f}s")
    return result


def engine_run(phases: Phases, nodes: int, _subnet: str) -> None:
    stack = Stack(f"bench{uuid.uuid4().hex[:6]}")
    stack.write_settings(count=nodes)
    try:
        stack.pulumi("stack", "init")
        timed(phases, "pulumi up (nodes + site.yml)", lambda: stack.pulumi("up", "--yes"))
        for service, seconds in service_starts(state_dir(stack.name) / "site.log").items():
            phases.setdefault(f"  {service} first start", []).append(seconds)
        for node, mib in memory_per_node(stack).items():
            phases.setdefault(f"  memory MiB, {node}", []).append(mib)
        out = timed(phases, "smack up, nothing changed", lambda: stack.smack("up"))
        if "unchanged" not in out.stdout:
            raise SystemExit("the no-op up changed something")
        stack.write_settings(count=nodes + 1)
        timed(phases, f"scale {nodes}→{nodes + 1} (smack up)", lambda: stack.smack("up"))
        stack.write_settings(count=nodes)
        timed(phases, f"scale {nodes + 1}→{nodes} (smack up)", lambda: stack.smack("up"))
        timed(phases, "smack destroy", lambda: stack.smack("destroy", "--yes"))
    finally:
        stack.destroy_and_remove()


PLAY_LINE = re.compile(r"^site\.yml \[\s*(\d+)s\] PLAY (.*?) - (\w[\w-]*)$")


def service_starts(log: Path) -> dict[str, float]:
    """Seconds each service's first-start plays took, from the run's progress log."""
    marks = []
    for line in log.read_text().splitlines():
        if "PLAY" in line:
            match = PLAY_LINE.match(line)
            marks.append((int(match.group(1)), match.group(2), match.group(3)) if match
                         else (int(line.split("[")[1].split("s]")[0]), line, ""))
    out: dict[str, float] = {}
    for (at, name, service), (nxt, _, _) in itertools.pairwise(marks):
        if service and "does not run yet" in name:
            out[service] = out.get(service, 0) + nxt - at
    return out


def memory_per_node(stack: Stack) -> dict[str, float]:
    proc = stack.podman.run("stats", "--no-stream", "--format", "json")
    data = json.loads(proc.stdout or "[]")
    out = {}
    for entry in data:
        name = entry.get("name") or entry.get("Name") or ""
        if name.startswith(f"smack-{stack.name}-"):
            usage = str(entry.get("mem_usage") or entry.get("MemUsage") or "0B").split("/")[0]
            out[name.removeprefix(f"smack-{stack.name}-")] = _mib(usage.strip())
    return out


def _mib(text: str) -> float:
    units = {"B": 1 / 2**20, "kB": 1 / 1024, "KB": 1 / 1024, "MB": 1, "MiB": 1,
             "GB": 1024, "GiB": 1024}
    match = re.match(r"([\d.]+)\s*([A-Za-z]+)", text)
    return float(match.group(1)) * units.get(match.group(2), 1) if match else 0.0


def direct_settings(stack: str, nodes: int, subnet: str) -> Settings:
    # Mesos and Marathon come from the stand-in repository (test doubles), as in the
    # shipped local stack.
    repository = build_repository(STANDINS_DIR / "build" / "repo")
    return parse_settings(stack, {
        "smack:target": "local", "smack:nodes": [{"name": "node", "count": nodes}],
        "smack:local": {"subnet": subnet},
        "smack:packages": {"source": "local_repository", "repository_dir": str(repository)}})


def direct_run(phases: Phases, nodes: int, subnet: str) -> None:
    stack = f"bench{uuid.uuid4().hex[:6]}"
    cluster = DirectLocalCluster(direct_settings(stack, nodes, subnet))
    try:
        timed(phases, "node bring-up", cluster.up)
        timed(phases, "first site.yml", lambda: cluster.run("site.yml"))
        result = timed(phases, "no-op site.yml", lambda: cluster.run("site.yml"))
        if result.changed:
            raise SystemExit(f"no-op rerun changed {result.changed_tasks}")
        timed(phases, "verify.yml", lambda: cluster.run("verify.yml"))
        timed(phases, "rolling restart of kafka and cassandra (restart.yml)",
              lambda: cluster.run("restart.yml",
                                  extravars={"restart_services": "kafka,cassandra"}))
        cluster.settings = direct_settings(stack, nodes + 1, subnet)
        timed(phases, f"+1 node ({nodes}→{nodes + 1}: bring-up and site.yml)",
              lambda: (cluster.up(), cluster.run("site.yml")))
        cluster.settings = direct_settings(stack, nodes, subnet)
        timed(phases, "remove-node.yml (drain, reassign, decommission)", cluster.retire)
        timed(phases, "node deletion", cluster.up)
    finally:
        timed(phases, "teardown", cluster.down)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["engine", "direct"], default="engine")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--subnet", default="198.18.0.0/24")
    args = parser.parse_args()
    run = engine_run if args.mode == "engine" else direct_run
    phases: Phases = {}
    for i in range(args.runs):
        console.print(f"run {i + 1}/{args.runs} ({args.nodes} nodes, {args.mode})")
        run(phases, args.nodes, args.subnet)
    table = Table(title=f"local stack, {args.nodes} nodes, {args.mode} mode, "
                        f"{args.runs} runs (seconds)")
    for column in ("phase", "median", "min", "max"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for name, values in phases.items():
        table.add_row(name, f"{statistics.median(values):.1f}", f"{min(values):.1f}",
                      f"{max(values):.1f}")
    console.print(table)


if __name__ == "__main__":
    main()
