"""Marathon command-line flags, Scallop-style (smack test stand-in, not Marathon).

Marathon parses its options with Scallop: `--name value` or `--name=value`; toggles as `--name`
/ `--disable_name`; flags without a value; an unknown option, a missing --master or a stray
argument ends the process with status 1 and Scallop's default message "[scallop] Error: ...".
The launcher passes no arguments of its own: the JVM reads every MARATHON_<NAME> environment
variable itself, as `--name value` (a bare `--name` when the value is empty) placed BEFORE the
command line (real-marathon-samples/launcher-env-*): an unknown variable is fatal like an
unknown flag, and a variable plus the same flag give the option two values ("Bad arguments
for option 'http_port': '8084 8083' - you should provide exactly one argument for this
option"). MARATHON_HA=true is an error too; use MARATHON_HA= instead. The MARATHON_APP_*
variables Marathon sets for its own tasks are not read (not sample-backed).
MESOSPHERE_HTTP_CREDENTIALS sets --http_credentials when the flag is not given (--help).
Flag list: the real 1.11.24 `--help` (real-marathon-samples/help.stdout), with the TSV's
required options, integer types and summaries (data/marathon-flags.json).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "marathon-flags.json"


class ScallopError(Exception):
    """Printed as '[scallop] Error: <message>' with exit status 1."""


@dataclass(frozen=True)
class Option:
    name: str
    kind: str  # value, toggle, flag
    default: str | None
    integer: bool
    required: bool
    summary: str


def options() -> dict[str, Option]:
    raw = json.loads(DATA.read_text())["flags"]
    return {
        f["name"]: Option(
            f["name"], f["kind"], f["default"], f["integer"], f["required"], f["summary"]
        )
        for f in raw
    }


def env_arguments(environ: dict[str, str]) -> list[str]:
    """What the launcher appends for MARATHON_* variables (sorted for a stable order)."""
    args: list[str] = []
    for key in sorted(environ):
        if not key.startswith("MARATHON_") or key.startswith("MARATHON_APP_"):
            continue
        args.append("--" + key[len("MARATHON_") :].lower())
        if environ[key] != "":
            args.append(environ[key])
    return args


def _resolve(name: str, known: dict[str, Option]) -> tuple[Option, bool]:
    """(option, negated) for `name`, accepting disable_<toggle>."""
    if name in known:
        return known[name], False
    base = name.removeprefix("disable_")
    if base != name and base in known and known[base].kind == "toggle":
        return known[base], True
    raise ScallopError(f"Unknown option '{name}'")


ONE_ARGUMENT = "you should provide exactly one argument for this option"


def _take_values(inline: str | None, rest: list[str]) -> list[str]:
    """The arguments after an option: the inline one, else every following non-option."""
    if inline is not None:
        return [inline]
    values = []
    while rest and not rest[0].startswith("--"):
        values.append(rest.pop(0))
    return values


def _switch(option: Option, negated: bool, inline: str | None,
            given: dict[str, object]) -> bool:
    """The value of a toggle (--x/--disable_x) or a flag (--x)."""
    if option.name in given:
        raise ScallopError(f"Option '{option.name}' is specified more than once")
    if inline is not None:
        raise ScallopError(f"Bad arguments for option '{option.name}': '{inline}'")
    return not negated


def parse(argv: list[str]) -> dict[str, object]:
    """Effective configuration: given options plus documented defaults (toggles as bools).
    `given_options` lists the names set explicitly (the startup log marks them with (*))."""
    known = options()
    given: dict[str, object] = {}
    values: dict[str, list[str]] = {}
    rest = list(argv)
    if rest and rest[0].startswith("-") and not rest[0].startswith("--"):
        raise ScallopError(f"Unknown option '{rest[0].lstrip('-')}'")
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("--"):
            raise ScallopError(f"Excess arguments provided: '{arg}'")
        name, eq, inline = arg[2:].partition("=")
        if name == "help":
            given[name] = True
            continue
        option, negated = _resolve(name, known)
        if option.kind in ("toggle", "flag"):
            given[option.name] = _switch(option, negated, inline if eq else None, given)
        else:
            # Scallop gathers every argument of every occurrence, then wants exactly one.
            values.setdefault(option.name, []).extend(_take_values(inline if eq else None, rest))
    for name, got in values.items():
        if len(got) != 1:
            raise ScallopError(f"Bad arguments for option '{name}': '{' '.join(got)}' - "
                               f"{ONE_ARGUMENT}")
        if known[name].integer and not got[0].lstrip("-").isdigit():
            raise ScallopError(f"Bad arguments for option '{name}': '{got[0]}' - wrong "
                               f"arguments format")
        given[name] = got[0]
    if "help" in given:
        return given
    for option in known.values():
        if option.required and option.name not in given:
            raise ScallopError(f"Required option '{option.name}' not found")
    return _with_defaults(given, known)


def _with_defaults(given: dict[str, object], known: dict[str, Option]) -> dict[str, object]:
    conf: dict[str, object] = {"given_options": sorted(given)}
    for option in known.values():
        if option.name in given:
            conf[option.name] = given[option.name]
        elif option.kind == "toggle":
            conf[option.name] = option.default == "enabled"
        elif option.kind == "flag":
            conf[option.name] = option.default == "true"
        elif option.default is not None and option.integer:
            conf[option.name] = option.default
        elif option.default is not None and " " not in option.default:
            conf[option.name] = option.default  # prose defaults ("3 minutes") stay unset
    return conf


def config_lines(conf: dict[str, object]) -> list[str]:
    """The startup log's configuration listing: every option, (*) where it was given.
    Like the real one it prints http_credentials in clear text."""
    given = set(conf.get("given_options") or [])  # type: ignore[call-overload]
    lines = []
    for name in options():
        if name in conf:
            value = conf[name]
            text = str(value).lower() if isinstance(value, bool) else str(value)
            lines.append(f" - {name}{' (*)' if name in given else ''} = {text}")
    return lines


def help_text() -> str:
    lines = ["Usage: marathon [options]  (smack test stand-in for Marathon 1.11)", ""]
    for option in options().values():
        prefix = "--[disable_]" if option.kind == "toggle" else "--"
        arg = "" if option.kind in ("toggle", "flag") else " <arg>"
        lines.append(f"  {prefix}{option.name}{arg:<8} {option.summary}")
    return "\n".join(lines) + "\n"
