"""The `smack` command: validate settings and drive the Pulumi program for a stack."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from infra.config import Settings, load_stack_file
from infra.errors import AnsibleRunError, SmackError
from infra.node_shell import LOG_SOURCES
from infra.paths import PROJECT_DIR
from infra.topology import local_address, plan_nodes

if TYPE_CHECKING:
    from infra.ansible import PlaybookResult

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def smack_version() -> str:
    try:
        return metadata.version("smack")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _plan_table(settings: Settings) -> Table:
    table = Table(title=f"stack {settings.stack}: {settings.target}, {settings.layout} layout")
    table.add_column("node")
    table.add_column("group")
    table.add_column("address")
    table.add_column("services")
    for plan in plan_nodes(settings):
        address = local_address(settings, plan) if settings.target == "local" else "(target)"
        table.add_row(plan.name, plan.group, address, ", ".join(plan.services))
    return table


def _say_notices(settings: Settings) -> None:
    for notice in settings.notices():
        console.print(f"[yellow]notice: {notice}[/yellow]")


def cmd_validate(args: argparse.Namespace) -> int:
    settings = load_stack_file(PROJECT_DIR, args.stack)
    console.print(_plan_table(settings))
    _say_notices(settings)
    console.print(f"[green]stack {args.stack}: settings are valid[/green]")
    return 0


def cmd_image(args: argparse.Namespace) -> int:
    settings = load_stack_file(PROJECT_DIR, args.stack)
    if settings.target != "local":
        console.print(f"stack {args.stack} has no local nodes; no image needed")
        return 0
    from infra.nodes.image import ImageRecipe, ensure_image  # noqa: PLC0415
    from infra.nodes.local_engine import engine_props, open_engine  # noqa: PLC0415

    local = settings.local
    recipe = ImageRecipe(suite=local.debian_suite, ssh_user=local.ssh_user,
                         mirror=local.debian_mirror)
    with console.status(f"base image {recipe.tag}"):
        tag = ensure_image(open_engine(engine_props(settings)), recipe)
    console.print(f"base image ready: {tag}")
    return 0


def cmd_env(_args: argparse.Namespace) -> int:
    """Shell exports for running plain `pulumi` against smack's stacks (no secret values)."""
    import shlex  # noqa: PLC0415

    from infra import engine  # noqa: PLC0415

    env = engine.engine_env()
    env["PATH"] = f"{PROJECT_DIR / '.venv' / 'bin'}:{env.get('PATH', '$PATH')}"
    for key in sorted(env):
        print(f"export {key}={shlex.quote(env[key])}")
    return 0


def _stream(line: str) -> None:
    console.out(line.rstrip("\n"), highlight=False)


def print_outputs(stack: str, outputs: dict[str, Any]) -> None:
    nodes = outputs.get("nodes") or {}
    table = Table(title=f"stack {stack}: nodes")
    table.add_column("node")
    table.add_column("address")
    table.add_column("services")
    for name, node in nodes.items():
        table.add_row(name, node["address"], ", ".join(node["services"]))
    console.print(table)
    endpoints = outputs.get("endpoints") or {}
    if endpoints:
        ends = Table(title=f"stack {stack}: endpoints")
        ends.add_column("service")
        ends.add_column("endpoint")
        ends.add_column("value")
        for service, values in endpoints.items():
            for key, value in values.items():
                ends.add_row(service, key, str(value))
        console.print(ends)
    if outputs.get("inventory"):
        console.print(f"inventory: {outputs['inventory']}")
    if outputs.get("ssh"):
        console.print(f"ssh:       {outputs['ssh']}")
    if outputs.get("ca_certificate"):
        console.print(f"ca:        the stack's CA certificate: pulumi stack output ca_certificate "
                      f"-s {stack} (also /etc/smack/tls/ca.crt on every node)")


def cmd_up(args: argparse.Namespace) -> int:
    # Validate first: a wrong setting is reported before the engine starts.
    settings = load_stack_file(PROJECT_DIR, args.stack)
    if settings.target == "local":
        cmd_image(args)
    from infra import engine  # noqa: PLC0415 - pulls in the automation API only when needed
    from infra.program import CONVERGE_ENV  # noqa: PLC0415

    converge = {CONVERGE_ENV: secrets.token_hex(8)} if getattr(args, "converge", False) else None
    # Only a preview says which nodes a change replaces: `up` shows it as it happens.
    replaced = ReplacedNodes([plan.name for plan in plan_nodes(settings)], settings.target)
    outputs = engine.run(args.command, args.stack, _stream, converge,
                         on_event=replaced if args.command == "preview" else None,
                         refresh=getattr(args, "refresh", False))
    if args.command == "up":
        outputs = _until_no_node_waits(args.stack, outputs)
        print_outputs(args.stack, outputs)
        _say_standins(args.stack)
        return 0
    if replaced.nodes or replaced.waiting:
        console.print(f"[bold yellow]warning: {replaced.warning(settings.target)}[/bold yellow]")
    return 0 if args.engine_only else _preview_nodes(args.stack)


def _until_no_node_waits(stack: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """Run `up` again while local nodes wait for their turn to be replaced (one per run,
    infra/nodes/local_turns.py); stop when a run replaced none of them."""
    from infra import engine  # noqa: PLC0415

    waiting = list(outputs.get("replacements_waiting") or [])
    while waiting:
        console.print(f"[yellow]{', '.join(waiting)} wait for their turn to be replaced: "
                      "running up again[/yellow]")
        outputs = engine.run("up", stack, _stream, None)
        now = list(outputs.get("replacements_waiting") or [])
        if len(now) >= len(waiting):
            raise SmackError(f"stack {stack}: node(s) {', '.join(now)} still wait for their "
                             "turn after a run that replaced none of them; its output above "
                             "says why")
        waiting = now
    return outputs


class ReplacedNodes:
    """Collects, from the engine's events, the nodes a run replaces (and which inputs force it)."""

    REPLACING = ("replace", "create-replacement")

    def __init__(self, names: list[str], target: str = "local") -> None:
        self.names = set(names)
        self.target = target
        self.nodes: dict[str, list[str]] = {}
        # Local nodes whose replacement waits for a later run: the provider turns it into an
        # update that keeps the container (infra/nodes/local_turns.py).
        self.waiting: set[str] = set()

    def __call__(self, event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        meta = getattr(pre, "metadata", None)
        op = getattr(getattr(meta, "op", None), "value", None)
        if meta is None:
            return
        name = str(meta.urn).rsplit("::", 1)[-1]
        if name not in self.names:
            return
        if op in self.REPLACING:
            self.nodes[name] = sorted(set(self.nodes.get(name, [])) | set(meta.keys or []))
        elif op == "update" and self.target == "local":
            self.waiting.add(name)

    def warning(self, target: str) -> str:
        keys = sorted({k for ks in self.nodes.values() for k in ks})
        what = (f"this change REPLACES node(s) {', '.join(sorted(self.nodes))}"
                + (f" (because of: {', '.join(keys)})" if keys else ""))
        if target == "aws":
            return (what + ": new instances start from the image; the data volumes stay and "
                    "are attached again, the root disks do not")
        later = sorted(self.waiting - set(self.nodes))
        if not self.nodes:
            what = f"this change REPLACES node(s) {', '.join(later)}, one per run"
        elif later:
            what += f", then {', '.join(later)} in later runs, one per run"
        return (what + ": each comes back from the base image with its data volumes "
                "(nodes made before smack kept data on volumes have none and come back "
                "empty); the next node's turn comes once site.yml converged the one before "
                "behind its health gates, and `smack up` runs until every node is replaced.")


def _preview_nodes(stack: str) -> int:
    """What site.yml would change on the nodes as they are now (check mode): drift shows up
    here even when the engine sees no change. Which files and tasks, never file contents."""
    from infra import ansible  # noqa: PLC0415
    from infra.paths import inventory_dir  # noqa: PLC0415

    inventory = inventory_dir(stack) / "hosts.yml"
    if not inventory.is_file():
        console.print(f"stack {stack}: no nodes converged yet, so no Ansible check to run")
        return 0
    try:
        result = ansible.run_playbook("site.yml", inventory, stack=stack, check=True)
    except AnsibleRunError as err:
        _failure_table(stack, err, "site.yml --check")
        return 1
    if not result.changed_tasks:
        console.print(f"[green]stack {stack}: site.yml --check: no task would change on "
                      f"{len(result.hosts)} host(s); the nodes are as converged[/green]")
        return 0
    table = Table(title="site.yml --check: would change (`smack up --converge` applies it)",
                  title_justify="left")
    table.add_column("host")
    table.add_column("task (file)", overflow="fold")
    for line in result.changed_tasks:
        host, _, task = line.partition(": ")
        table.add_row(host, task)
    console.print(table)
    console.print(f"[yellow]stack {stack}: {len(result.changed_tasks)} task(s) on "
                  f"{len({r.partition(': ')[0] for r in result.changed_tasks})} host(s) would "
                  f"change[/yellow]")
    return 0


def _failure_table(stack: str, err: AnsibleRunError, what: str) -> None:
    table = Table(title=f"{what}: failed", title_justify="left")
    table.add_column("host, task and message", overflow="fold")
    for failure in err.failures:
        table.add_row(Text(failure, style="red"))
    console.print(table)
    console.print(f"[red]stack {stack}: {what} failed ({len(err.failures)} failure(s) above)[/red]")


def _say_standins(stack: str) -> None:
    """One line when the Mesos/Marathon the stack runs are smack's test stand-ins."""
    from infra import status  # noqa: PLC0415

    try:
        found = status.standins_of(stack)
    except SmackError:
        return
    if found:
        console.print(f"[yellow]{' and '.join(found)} on stack {stack} are smack's TEST "
                      "STAND-INS (tests/standins), not the real packages: see README, \"Use real "
                      "Mesos and Marathon packages\".[/yellow]")


def cmd_destroy(args: argparse.Namespace) -> int:
    load_stack_file(PROJECT_DIR, args.stack)
    if not args.yes:
        if not sys.stdin.isatty():
            raise SmackError("destroy removes every node of the stack; pass --yes to confirm")
        answer = console.input(f"Type the stack name ({args.stack}) to destroy it: ")
        if answer.strip() != args.stack:
            console.print("not destroyed")
            return 1
    from infra import engine  # noqa: PLC0415

    engine.run("destroy", args.stack, _stream)
    console.print(f"[green]stack {args.stack}: destroyed[/green]")
    return 0


def cmd_outputs(args: argparse.Namespace) -> int:
    from infra import engine  # noqa: PLC0415

    outputs = engine.outputs(args.stack)
    if args.json:
        from infra import json_output  # noqa: PLC0415

        print(json_output.dumps(json_output.outputs_document(args.stack, outputs)))
        return 0
    print_outputs(args.stack, outputs)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from infra import status  # noqa: PLC0415

    report = status.collect_status(args.stack)
    if args.json:
        from infra import json_output  # noqa: PLC0415

        print(json_output.dumps(json_output.status_document(report)))
    else:
        for part in status.render(report):
            console.print(part)
    return 0 if report.healthy else 1


def _verify_tables(result: PlaybookResult) -> list[Table]:
    hosts = Table(title=f"{result.playbook}: hosts", title_justify="left")
    for column in ("host", "ok", "changed", "failed", "unreachable", "skipped"):
        hosts.add_column(column, justify="left" if column == "host" else "right")
    for host, stats in sorted(result.hosts.items()):
        hosts.add_row(host, str(stats.ok), str(stats.changed), str(stats.failed),
                      str(stats.unreachable), str(stats.skipped))
    plays = Table(title=f"{result.playbook}: plays", title_justify="left")
    plays.add_column("play")
    plays.add_column("seconds", justify="right")
    for name, seconds in result.plays:
        plays.add_row(name, f"{seconds:.1f}")
    if not result.checks:
        return [hosts, plays]
    checks = Table(title=f"{result.playbook}: figures", title_justify="left")
    checks.add_column("check")
    checks.add_column("result", overflow="fold")
    for name, figures in sorted(result.checks.items()):
        checks.add_row(name, figures)
    return [hosts, plays, checks]


def _run_verb(stack: str, playbook: str, done: str,
              extravars: dict[str, Any] | None = None, *, as_json: bool = False) -> int:
    """Run a verb playbook on the stack's inventory; print its tables, or each failure (with
    `as_json`, the verify document instead: infra/json_output.py)."""
    from infra import ansible, json_output  # noqa: PLC0415 - ansible-runner only when a run happens
    from infra.status import require_inventory  # noqa: PLC0415

    inventory = require_inventory(stack)
    try:
        result = ansible.run_playbook(playbook, inventory, stack=stack, extravars=extravars)
    except AnsibleRunError as err:
        # A failed verification or a refused step is a finding, not a usage error: exit 1.
        if as_json:
            print(json_output.dumps(json_output.verify_document(stack, None, err.failures)))
        else:
            _failure_table(stack, err, err.playbook)
        return 1
    if as_json:
        print(json_output.dumps(json_output.verify_document(stack, result)))
        return 0
    for table in _verify_tables(result):
        console.print(table)
    console.print(f"[green]stack {stack}: {done} {len(result.hosts)} host(s), "
                  f"{result.changed} changed, in {result.duration_seconds:.0f} s[/green]")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    return _run_verb(args.stack, "verify.yml", "verified", as_json=args.json)


def cmd_logs(args: argparse.Namespace) -> int:
    from infra.node_shell import stream_logs  # noqa: PLC0415
    from infra.status import load_inventory  # noqa: PLC0415

    inventory = load_inventory(args.stack)
    try:
        failures = stream_logs(inventory, args.service, node=args.node, lines=args.lines,
                               follow=args.follow, out=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        return 0  # the way out of --follow
    for failure in failures:
        errors.print(f"[red]{failure}[/red]", highlight=False)
    return 1 if failures else 0


def cmd_ssh(args: argparse.Namespace) -> int:
    from infra.node_shell import open_shell  # noqa: PLC0415
    from infra.status import load_inventory  # noqa: PLC0415

    command = args.remote[1:] if args.remote[:1] == ["--"] else args.remote
    return open_shell(load_inventory(args.stack), args.node, command)


def cmd_completion(args: argparse.Namespace) -> int:
    import shtab  # noqa: PLC0415

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    return _run_verb(args.stack, "restart.yml", "restarted one node at a time on",
                     {"restart_services": ",".join(args.services)})


def cmd_scale(args: argparse.Namespace) -> int:
    from infra.scale import scaled_settings  # noqa: PLC0415

    settings = load_stack_file(PROJECT_DIR, args.stack)
    # The new count is checked like any setting before the stack file changes.
    index, old, _new = scaled_settings(settings, PROJECT_DIR, args.group, args.count)
    console.print(f"stack {args.stack}: node group {settings.nodes[index].name}, "
                  f"{old} -> {args.count} node(s)")
    _set_count_and_up(args.stack, index, old, args.count)
    return 0


def cmd_remove_node(args: argparse.Namespace) -> int:
    from infra.retire import DEAD_NODES_ENV  # noqa: PLC0415
    from infra.scale import removal  # noqa: PLC0415

    settings = load_stack_file(PROJECT_DIR, args.stack)
    index, old = removal(settings, PROJECT_DIR, args.node, dead=args.dead)
    how = ("gone for good: the survivors take over its data, nothing connects to it"
           if args.dead else "drained and decommissioned first")
    console.print(f"stack {args.stack}: {args.node} leaves ({how}); node group "
                  f"{settings.nodes[index].name}, {old} -> {old - 1} node(s)")
    _set_count_and_up(args.stack, index, old, old - 1,
                      {DEAD_NODES_ENV: args.node} if args.dead else None)
    return 0


def _set_count_and_up(stack: str, index: int, old: int, new: int,
                      extra_env: dict[str, str] | None = None) -> None:
    from infra import engine  # noqa: PLC0415

    key = f"smack:nodes[{index}].count"
    engine.set_config(stack, key, new)
    try:
        outputs = engine.run("up", stack, _stream, extra_env)
    except BaseException:
        # The stack file keeps describing the cluster that is really there.
        engine.set_config(stack, key, old)
        errors.print(f"stack {stack}: {key} put back to {old}")
        raise
    print_outputs(stack, outputs)


def cmd_bundle(args: argparse.Namespace) -> int:
    import time  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from infra import bundle  # noqa: PLC0415

    settings = load_stack_file(PROJECT_DIR, args.stack)
    directory = Path(args.dir).resolve() if args.dir else settings.artifacts.bundle_path()
    started = time.monotonic()
    if args.verify:
        manifest = bundle.require_valid(directory, deep=True)
        console.print(bundle.bundle_table(directory, manifest))
        console.print(f"[green]bundle {directory}: every tarball and every file in it matches "
                      f"{bundle.MANIFEST_NAME}[/green]")
        return 0
    manifest = bundle.build_bundle(settings, directory, console)
    console.print(bundle.bundle_table(directory, manifest))
    console.print(f"bundle ready in {time.monotonic() - started:.1f} s: "
                  f"{directory / bundle.MANIFEST_NAME}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smack",
        description="SMACK clusters on local containers, bare metal or AWS.",
    )
    parser.add_argument("--version", action="version", version=f"smack {smack_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_stack(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("-s", "--stack", default="local",
                       help="stack name; settings come from stacks/Pulumi.<stack>.yaml "
                            "(default: local)")
        return p

    with_stack(sub.add_parser("validate", help="check the stack settings and show the nodes"))
    with_stack(sub.add_parser("image", help="build the local nodes' base image if missing"))
    sub.add_parser("env", help="print shell exports for running plain `pulumi` (eval them)")
    for name, text in (("up", "create or update the stack and converge the cluster"),
                       ("preview", "show what `up` would change: the engine's plan, then what "
                                   "site.yml would change on the nodes (check mode)"),
                       ("destroy", "remove every node and everything smack made for the stack")):
        p = with_stack(sub.add_parser(name, help=text))
        p.add_argument("-y", "--yes", action="store_true",
                       help="do not ask for confirmation (destroy asks otherwise)")
        if name == "up":
            p.add_argument("--converge", action="store_true",
                           help="run site.yml on every node even when no input changed, to "
                                "repair drift (a file edited by hand, a unit stopped)")
        if name in ("up", "preview"):
            p.add_argument("--refresh", action="store_true",
                           help="read the resources first, site.yml in check mode among them: "
                                "drift found on the nodes makes `up` run site.yml again")
        if name == "preview":
            p.add_argument("--engine-only", action="store_true",
                           help="only the engine's plan; skip the check-mode Ansible run")
    json_help = "print one JSON document (schemas/<command>.schema.json) instead of tables"
    for name, text in (("outputs", "show the stack's nodes and endpoints"),
                       ("status", "check every service of the stack now, from this machine "
                                  "(exit 1 when anything is unhealthy)"),
                       ("verify", "run playbooks/verify.yml against the stack (changes "
                                  "nothing; exit 1 when a check fails)")):
        with_stack(sub.add_parser(name, help=text)).add_argument(
            "--json", action="store_true", help=json_help)
    p = with_stack(sub.add_parser(
        "logs", help="print a service's log from every node that runs it (or one), each line "
                     "prefixed by its node"))
    p.add_argument("service", choices=sorted(LOG_SOURCES))
    p.add_argument("-n", "--node", help="only this node")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("--lines", type=int, default=100, help="lines of history per node "
                   "(default: 100)")
    p = with_stack(sub.add_parser(
        "ssh", help="a shell on a node (or a command there), connecting the way Ansible does"))
    p.add_argument("node", help="node name, e.g. node-1")
    p.add_argument("remote", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                   help="run this instead of a login shell")
    p = sub.add_parser("completion", help="print a shell completion script "
                                          "(e.g. `smack completion bash > "
                                          "/etc/bash_completion.d/smack`)")
    p.add_argument("shell", choices=["bash", "zsh"])
    p = with_stack(sub.add_parser(
        "restart", help="rolling restart of services, one node at a time behind health checks"))
    p.add_argument("services", nargs="+", metavar="SERVICE",
                   choices=["zookeeper", "mesos_master", "mesos_agent", "marathon", "kafka",
                            "cassandra", "spark"])
    p = with_stack(sub.add_parser(
        "scale", help="set a node group's count in the stack file and `up`: new nodes join, "
                      "surplus nodes are drained and decommissioned first"))
    p.add_argument("group", help="node group name (smack:nodes); 'agents' also names the one "
                                 "group whose nodes run Mesos agents")
    p.add_argument("count", type=int)
    p = with_stack(sub.add_parser(
        "remove-node", help="take the last node of a group out of the cluster and delete it "
                            "(drained first; --dead: gone for good, the survivors take over)"))
    p.add_argument("node", help="node name, e.g. node-4: the highest-numbered of its group")
    p.add_argument("--dead", action="store_true",
                   help="the node is gone for good: nothing connects to it; its Mesos machine "
                        "is marked DOWN, its Kafka partitions reassigned and its Cassandra "
                        "ranges rebuilt from the other replicas (nodetool removenode)")
    p = with_stack(sub.add_parser(
        "bundle", help="build the offline artifact bundle (ZooKeeper, Kafka, Cassandra, Spark) "
                       "for the stack's service versions"))
    p.add_argument("--dir", help="bundle directory (default: smack:artifacts.bundle_dir, "
                                 "else ~/.cache/smack/bundle)")
    p.add_argument("--verify", action="store_true",
                   help="check an existing bundle against its manifest; build nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"validate": cmd_validate, "image": cmd_image, "env": cmd_env, "up": cmd_up,
                "preview": cmd_up, "destroy": cmd_destroy, "outputs": cmd_outputs,
                "bundle": cmd_bundle, "status": cmd_status, "verify": cmd_verify,
                "restart": cmd_restart, "scale": cmd_scale, "remove-node": cmd_remove_node,
                "logs": cmd_logs, "ssh": cmd_ssh, "completion": cmd_completion}
    try:
        return handlers[args.command](args)
    except SmackError as err:
        errors.print(f"[red]error:[/red] {err}", highlight=False)
        return 2
    except KeyboardInterrupt:
        errors.print("[yellow]interrupted[/yellow]")
        return 130
    except BrokenPipeError:
        # The reader went away (`smack logs ... | head`): stop quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
