"""Benchmark the local stack: node bring-up, first deploy, no-op rerun, teardown.

Run as root from the project directory:  .venv/bin/python -m bench.bench [--runs 3]
Each run uses a fresh stack on the test subnet and removes it afterwards. Prints the median,
min and max of each phase. A script, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from infra.config import parse_settings
from tests.support.direct import DirectLocalCluster

console = Console()


def timed(phases: dict[str, list[float]], name: str, fn: Callable[[], Any]) -> Any:
    started = time.monotonic()
    result = fn()
    phases.setdefault(name, []).append(time.monotonic() - started)
    console.print(f"  {name}: {phases[name][-1]:.1f}s")
    return result


def one_run(phases: dict[str, list[float]], nodes: int, subnet: str) -> None:
    settings = parse_settings(f"bench{uuid.uuid4().hex[:6]}", {
        "smack:target": "local", "smack:nodes": [{"name": "node", "count": nodes}],
        "smack:local": {"subnet": subnet}})
    cluster = DirectLocalCluster(settings)
    try:
        timed(phases, "node bring-up", cluster.up)
        timed(phases, "first deploy (site.yml)", lambda: cluster.run("site.yml"))
        result = timed(phases, "no-op rerun (site.yml)", lambda: cluster.run("site.yml"))
        if result.changed:
            raise SystemExit(f"no-op rerun changed {result.changed} task(s): "
                             f"{result.changed_tasks}")
        timed(phases, "verify.yml", lambda: cluster.run("verify.yml"))
    finally:
        timed(phases, "teardown", cluster.down)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--subnet", default="198.18.0.0/24")
    args = parser.parse_args()
    phases: dict[str, list[float]] = {}
    for i in range(args.runs):
        console.print(f"run {i + 1}/{args.runs} ({args.nodes} nodes)")
        one_run(phases, args.nodes, args.subnet)
    table = Table(title=f"local stack, {args.nodes} nodes, {args.runs} runs (seconds)")
    for column in ("phase", "median", "min", "max"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for name, values in phases.items():
        table.add_row(name, f"{statistics.median(values):.1f}", f"{min(values):.1f}",
                      f"{max(values):.1f}")
    console.print(table)


if __name__ == "__main__":
    main()
