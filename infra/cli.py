"""The `smack` command: validate settings and drive the Pulumi program for a stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from infra.config import Settings, load_stack_file
from infra.errors import SmackError
from infra.paths import PROJECT_DIR
from infra.topology import local_address, plan_nodes

console = Console()
errors = Console(stderr=True)


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


def cmd_validate(args: argparse.Namespace) -> int:
    settings = load_stack_file(PROJECT_DIR, args.stack)
    console.print(_plan_table(settings))
    console.print(f"[green]stack {args.stack}: settings are valid[/green]")
    return 0


def cmd_image(args: argparse.Namespace) -> int:
    settings = load_stack_file(PROJECT_DIR, args.stack)
    if settings.target != "local":
        console.print(f"stack {args.stack} has no local nodes; no image needed")
        return 0
    from infra.nodes.image import ImageRecipe, ensure_image  # noqa: PLC0415
    from infra.nodes.local import engine_props, open_engine  # noqa: PLC0415

    local = settings.local
    recipe = ImageRecipe(suite=local.debian_suite, ssh_user=local.ssh_user,
                         mirror=local.debian_mirror)
    with console.status(f"base image {recipe.tag}"):
        tag = ensure_image(open_engine(engine_props(settings)), recipe)
    console.print(f"base image ready: {tag}")
    return 0


def cmd_engine(args: argparse.Namespace) -> int:
    # Validate first: a wrong setting is reported before anything else happens.
    load_stack_file(PROJECT_DIR, args.stack)
    from infra import engine  # noqa: PLC0415 - pulls in the automation API only when needed

    return engine.run_command(args.command, args.stack, yes=args.yes)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smack",
        description="SMACK clusters on local containers, bare metal or AWS.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def with_stack(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("-s", "--stack", default="local",
                       help="stack name; settings come from stacks/Pulumi.<stack>.yaml "
                            "(default: local)")
        return p

    with_stack(sub.add_parser("validate", help="check the stack settings and show the nodes"))
    with_stack(sub.add_parser("image", help="build the local nodes' base image if missing"))
    for name, text in (("up", "create or update the stack and converge the cluster"),
                       ("preview", "show what `up` would change"),
                       ("destroy", "remove every node and everything smack made for the stack")):
        p = with_stack(sub.add_parser(name, help=text))
        p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"validate": cmd_validate, "image": cmd_image, "up": cmd_engine,
                "preview": cmd_engine, "destroy": cmd_engine}
    try:
        return handlers[args.command](args)
    except SmackError as err:
        errors.print(f"[red]error:[/red] {err}", highlight=False)
        return 2
    except KeyboardInterrupt:
        errors.print("[yellow]interrupted[/yellow]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
