"""Benchmark the local stack on this machine.

Run as root from the project directory:

    .venv/bin/python -m bench.bench                  # through the Pulumi engine (default)
    .venv/bin/python -m bench.bench --mode direct    # providers and playbooks without the engine

engine mode: first `pulumi up`, no-op `smack up`, `smack verify`, scale 3→4 and 4→3 (`smack
up`), destroy; each as a ratio of the first deploy too (issue 18's targets: no-op, +1 and -1
node and verify against the first deploy); also each service's first start (its plays in the
first run's log), the slowest plays of the first deploy, and memory per node; and for the first
deploy, verify and both scalings the CPU they used (bench/cpu.py: busy core-seconds of the
machine, the nodes' part) and the least time that work needs on this machine's cores.
direct mode: node bring-up, first site.yml, no-op site.yml, verify.yml, a rolling restart of
Kafka and Cassandra, +1 node, remove-node.yml on it and its deletion, teardown.
datapath mode: the stack with the IoT pipeline deployed (smack:pipelines: [iot]); events/s
through the whole path (generator -> Kafka -> streaming job -> Cassandra rows, steady state
over 60 s), beside the raw Kafka produce rate (the generator's acks=all burst) and the raw
Cassandra write rate (QUORUM inserts from a node) measured in the same run.
Each run uses a fresh stack on the test subnet and removes it afterwards; the table shows the
median, min and max of each phase. A script, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.cpu import CpuMeter
from infra.config import Settings, parse_settings
from infra.paths import state_dir
from tests.standins.build import HERE as STANDINS_DIR
from tests.standins.build import build_repository
from tests.support.direct import DirectLocalCluster
from tests.support.engine_stack import Stack

# Wide enough for the table when the output goes to a file (rich assumes 80 columns there).
console = Console() if sys.stdout.isatty() else Console(width=120)
Phases = dict[str, list[float]]


def timed(phases: Phases, name: str, fn: Callable[[], Any], meter: CpuMeter | None = None) -> Any:
    """Run a phase and record its seconds; with a meter also its CPU: all busy core-seconds,
    the nodes' part, and the least time that work needs on this machine's cores."""
    if meter is None:
        started = time.monotonic()
        result = fn()
        phases.setdefault(name, []).append(time.monotonic() - started)
        console.print(f"  {name}: {phases[name][-1]:.1f}s")
        return result
    result, use = meter.measure(fn)
    phases.setdefault(name, []).append(use.seconds)
    for row, value in ((CPU_BUSY, use.busy), (CPU_NODES, use.nodes), (CPU_FLOOR, use.floor)):
        phases.setdefault(row.format(name), []).append(value)
    console.print(f"  {name}: {use.seconds:.1f}s, {use.busy:.0f} core-s ({use.nodes:.0f} on the "
                  f"nodes), at least {use.floor:.0f}s on {os.cpu_count()} cores")
    return result


def engine_run(phases: Phases, nodes: int, _subnet: str) -> None:
    stack = Stack(f"bench{uuid.uuid4().hex[:6]}")
    stack.write_settings(count=nodes)
    meter = CpuMeter("podman", f"smack-{stack.name}-")
    try:
        stack.pulumi("stack", "init")
        timed(phases, FIRST, lambda: stack.pulumi("up", "--yes"), meter)
        log = state_dir(stack.name) / "site.log"
        for service, seconds in service_starts(log).items():
            phases.setdefault(f"  {service} first start", []).append(seconds)
        for play, seconds in slowest_plays(log):
            console.print(f"    {seconds:4d}s  {play}")
        for node, mib in memory_per_node(stack).items():
            phases.setdefault(f"  memory MiB, {node}", []).append(mib)
        out = timed(phases, NOOP, lambda: stack.smack("up"))
        if "unchanged" not in out.stdout:
            raise SystemExit("the no-op up changed something")
        timed(phases, VERIFY, lambda: stack.smack("verify"), meter)
        stack.write_settings(count=nodes + 1)
        timed(phases, GROW.format(nodes, nodes + 1), lambda: stack.smack("up"), meter)
        stack.write_settings(count=nodes)
        timed(phases, SHRINK.format(nodes + 1, nodes), lambda: stack.smack("up"), meter)
        timed(phases, "smack destroy", lambda: stack.smack("destroy", "--yes"))
        ratios(phases, nodes)
    finally:
        meter.stop()
        stack.destroy_and_remove()


FIRST = "pulumi up (nodes + site.yml)"
NOOP = "smack up, nothing changed"
VERIFY = "smack verify"
GROW = "scale {}→{} (smack up)"
SHRINK = "scale {}→{} (smack up)"
# Each metered phase's CPU rows; {} is the phase.
CPU_BUSY = "  {}: CPU core-s"
CPU_NODES = "  {}: CPU core-s on the nodes"
CPU_FLOOR = "  {}: CPU floor s (core-s / cores)"
# Issue 18's targets: seconds for the first deploy and verify, fractions of the first deploy
# for one node more or fewer.
TARGETS = {FIRST: "≤ 240", VERIFY: "≤ 30", GROW: "≤ 0.3", SHRINK: "≤ 0.3"}


def ratios(phases: Phases, nodes: int) -> None:
    """Each run's phases against its own first deploy, as rows `  <phase> / first`."""
    first = phases[FIRST][-1]
    for name in (NOOP, VERIFY, GROW.format(nodes, nodes + 1), SHRINK.format(nodes + 1, nodes)):
        phases.setdefault(f"  {name} / first deploy", []).append(phases[name][-1] / first)


def target(phase: str) -> str:
    """Issue 18's target for a row of the table, where it sets one."""
    if phase in (FIRST, VERIFY):
        return TARGETS[phase]
    if phase.endswith(" / first deploy"):
        plain = re.sub(r"\d+→\d+", "{}→{}", phase.strip().removesuffix(" / first deploy"))
        return TARGETS.get(plain, "") if plain in (GROW, SHRINK) else ""
    return ""


MARK = re.compile(r"^\S+ \[\s*(\d+)s\] (.*)$")


def play_spans(log: Path) -> list[tuple[str, int]]:
    """Each play of a run's progress log with its seconds: until the next play starts, the
    last one until the log's last line."""
    marks = [(int(m.group(1)), m.group(2)) for line in log.read_text().splitlines()
             if (m := MARK.match(line))]
    plays = [(at, text.removeprefix("PLAY ")) for at, text in marks if text.startswith("PLAY ")]
    ends = [at for at, _ in plays[1:]] + ([marks[-1][0]] if plays else [])
    return [(name, end - at) for (at, name), end in zip(plays, ends, strict=True)]


def service_starts(log: Path) -> dict[str, float]:
    """Seconds each service's first-start plays took, from the run's progress log."""
    out: dict[str, float] = {}
    for name, seconds in play_spans(log):
        play, _, service = name.rpartition(" - ")
        if service and ("does not run yet" in play or "brand-new cluster" in play):
            out[service] = out.get(service, 0) + seconds
    return out


def slowest_plays(log: Path, top: int = 12) -> list[tuple[str, int]]:
    """The plays of a run's progress log that took longest, with their seconds."""
    return sorted(play_spans(log), key=lambda span: -span[1])[:top]


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


PATH_WINDOW_SECONDS = 60
PATH_WARMUP_SECONDS = 15


def datapath_settings(stack: str, nodes: int, subnet: str) -> Settings:
    settings = direct_settings(stack, nodes, subnet)
    return settings.model_copy(update={
        "pipelines": ["iot"],
        "services": settings.services.model_copy(update={
            "spark": settings.services.spark.model_copy(update={"worker_memory_mb": 1536})})})


def datapath_run(phases: Phases, nodes: int, subnet: str) -> None:
    from tests.support.nodes import Nodes  # noqa: PLC0415 - test helpers, only in this mode

    stack = f"bench{uuid.uuid4().hex[:6]}"
    cluster = DirectLocalCluster(datapath_settings(stack, nodes, subnet))
    try:
        timed(phases, "node bring-up", cluster.up)
        timed(phases, "first site.yml (with the IoT pipeline)", lambda: cluster.run("site.yml"))
        result = timed(phases, "verify.yml (with the data-path check)",
                       lambda: cluster.run("verify.yml"))
        console.print(f"  {result.checks}")
        view = Nodes(cluster, count=nodes, dc="dc1")
        brokers = ",".join(f"{a}:9092" for a in view.addresses)
        jar = "/opt/smack/iot_pipeline/current/lib/iot-generator.jar"
        # The pipeline generator's own login (root may read it).
        login = "/etc/smack/pipelines/iot-generator-kafka.properties"

        def burst(count: int, run: str) -> dict[str, Any]:
            out = view.sh(1, f"java -Xmx256m -jar {jar} --kafka-config {login} "
                             f"--bootstrap {brokers} --count {count} "
                             f"--run-id {run}")
            return dict(json.loads(out.strip().splitlines()[-1]))

        raw = burst(20000, "bench-raw")
        phases.setdefault("raw Kafka produce, events/s (acks=all)", []).append(
            raw["events_per_second"])
        trip = json.loads(view.sh(1, "cassandra-cql --hosts "
                                     + ",".join(view.addresses)
                                     + " roundtrip smack_bench_raw 20000 --member-dcs "
                                     + ",".join(["dc1"] * nodes)).strip())
        view.sh(1, "cassandra-cql drop smack_bench_raw", check=False)
        phases.setdefault("raw Cassandra writes, rows/s (QUORUM)", []).append(
            trip["written"] / trip["write_seconds"])
        # Enough events for the warm-up and the window at the raw rate; the path's rate is the
        # rows written (by their write time) inside the window.
        count = int(raw["events_per_second"] * (PATH_WARMUP_SECONDS + PATH_WINDOW_SECONDS + 30))
        started = time.time()
        burst(count, "bench-path")
        phases.setdefault("pipeline, events/s (positions rows, 60 s window)", []).append(
            path_rate(view, started + PATH_WARMUP_SECONDS, PATH_WINDOW_SECONDS))
    finally:
        timed(phases, "teardown", cluster.down)


def path_rate(view: Any, start: float, window: float) -> float:
    """Rows of the bench's events whose write time falls in [start, start + window), per s;
    waits until the job has caught up with the window's end."""
    session = view.cql()
    try:
        deadline = time.monotonic() + 600
        while True:
            times = [r.w / 1e6 for r in session.execute(
                "SELECT event_id, writetime(vehicle_id) AS w FROM iot.positions", timeout=120)
                if r.event_id.startswith("bench-path-")]
            if (times and max(times) >= start + window) or time.monotonic() > deadline:
                break
            time.sleep(5)
        return sum(1 for t in times if start <= t < start + window) / window
    finally:
        session.cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["engine", "direct", "datapath"], default="engine")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--subnet", default="198.18.0.0/24")
    args = parser.parse_args()
    run = {"engine": engine_run, "direct": direct_run, "datapath": datapath_run}[args.mode]
    phases: Phases = {}
    for i in range(args.runs):
        console.print(f"run {i + 1}/{args.runs} ({args.nodes} nodes, {args.mode})")
        run(phases, args.nodes, args.subnet)
    table = Table(title=f"local stack, {args.nodes} nodes, {args.mode} mode, "
                        f"{args.runs} runs (seconds)")
    for column in ("phase", "median", "min", "max", "target"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for name, values in phases.items():
        digits = 2 if name.endswith("/ first deploy") else 1
        table.add_row(name, f"{statistics.median(values):.{digits}f}",
                      f"{min(values):.{digits}f}", f"{max(values):.{digits}f}", target(name))
    console.print(table)


if __name__ == "__main__":
    main()
