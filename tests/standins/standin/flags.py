"""Mesos-style flag loading for the stand-ins (smack test stand-in, not Apache Mesos).

Mirrors stout's FlagsBase::load as the real 1.11 binaries behave:
- `--name=value`; a bare `--name` means value "true" (so `--port 5050` loads port="true" and
  fails to parse, as in the real binary; the "5050" is left as an ignored positional argument);
- booleans take `--name`, `--no-name`, `--name=true|false`;
- MESOS_<NAME> environment variables are read first and the command line overrides them;
  environment variables that match no flag are ignored (MESOS_NATIVE_JAVA_LIBRARY etc.);
- an unknown command-line flag fails with "Failed to load unknown flag 'x'" plus the usage hint,
  exit status 1 (byte-for-byte as real-mesos-samples/*-unknown-flag.stderr);
- /flags reports every flag that has a default or was set, as strings, under its main name.
The table (names, aliases, booleans, defaults) is generated from the real `--help` output.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

DATA = Path(__file__).resolve().parent / "data"

_DURATION = re.compile(r"^\d+(\.\d+)?(ns|us|ms|secs|mins|hrs|days|weeks)$")
_BYTES = re.compile(r"^\d+(B|KB|MB|GB|TB)$")
# Flags without a default whose values the real binary parses as numbers.
_INTEGER_NO_DEFAULT = {"quorum", "advertise_port", "max_executors_per_agent"}


class FlagError(Exception):
    """A flag problem the real binary reports with the usage hint (exit status 1)."""


@dataclass(frozen=True)
class Flag:
    name: str
    aliases: tuple[str, ...]
    boolean: bool
    default: str | None
    summary: str

    @property
    def kind(self) -> str:
        """How the real binary parses the value: bool, int, duration, bytes or string."""
        if self.boolean:
            return "bool"
        if self.name in _INTEGER_NO_DEFAULT or (self.default or "x").isdigit():
            return "int"
        if self.default and _DURATION.match(self.default):
            return "duration"
        if self.default and _BYTES.match(self.default):
            return "bytes"
        return "string"


class FlagTable:
    """The accepted flags of one program (mesos-master or mesos-agent)."""

    def __init__(self, program: str) -> None:
        raw = json.loads((DATA / f"{program}-flags.json").read_text())
        self.program = program
        self.flags = [
            Flag(f["name"], tuple(f["aliases"]), f["bool"], f["default"], f["summary"])
            for f in raw["flags"]
        ]
        self.by_name = {f.name: f for f in self.flags}
        for flag in self.flags:
            for alias in flag.aliases:
                self.by_name[alias] = flag

    def usage_hint(self) -> str:
        return f"See `{self.program} --help` for a list of supported flags."

    def help_text(self) -> str:
        """Our own help text (same flags, paraphrased summaries; not the real wording)."""
        lines = [f"Usage: {self.program} [options]", ""]
        for flag in self.flags:
            prefix = "--[no-]" if flag.boolean else "--"
            names = ", ".join(
                f"{prefix}{n}{'' if flag.boolean else '=VALUE'}" for n in (flag.name, *flag.aliases)
            )
            default = "" if flag.default is None else f" (default: {flag.default})"
            lines.append(f"  {names:<78} {flag.summary}{default}")
        lines.append("")
        lines.append("smack test stand-in: accepts the flags of the real Mesos 1.11 binary.")
        return "\n".join(lines) + "\n"


def _bad_value(name: str, value: str, reason: str) -> str:
    return f"Failed to load flag '{name}': Failed to load value '{value}': {reason}"


def _parse_bool(name: str, value: str) -> str:
    if value in ("true", "1"):
        return "true"
    if value in ("false", "0"):
        return "false"
    raise FlagError(_bad_value(name, value, "Expecting a boolean (e.g., true or false)"))


def _normalise(flag: Flag, value: str) -> str:
    """Check the value the way the real binary's type parser would, and stringify it."""
    kind = flag.kind
    if kind == "bool":
        return _parse_bool(flag.name, value)
    if kind == "int" and not re.fullmatch(r"-?\d+", value.strip()):
        raise FlagError(_bad_value(flag.name, value, "Failed to convert into required type"))
    if kind == "int":
        return str(int(value))
    if kind == "duration" and not _DURATION.match(value):
        raise FlagError(_bad_value(flag.name, value, "Invalid duration format"))
    if kind == "bytes" and not _BYTES.match(value):
        raise FlagError(_bad_value(flag.name, value, "Invalid bytes format"))
    return value


def _from_environment(table: FlagTable, environ: dict[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in environ.items():
        if not key.startswith("MESOS_"):
            continue
        flag = table.by_name.get(key[len("MESOS_") :].lower())
        if flag is not None:  # unknown MESOS_* variables are ignored, as stout does
            values[flag.name] = _normalise(flag, value)
    return values


def _from_command_line(table: FlagTable, argv: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    seen: set[str] = set()
    for arg in argv:
        if arg == "--":
            break
        if not arg.startswith("--"):
            continue  # positional arguments are ignored by the daemons
        name, has_value, value = arg[2:].partition("=")
        negated = name.startswith("no-") and name not in table.by_name
        base = name[3:] if negated else name
        flag = table.by_name.get(base)
        if flag is None:
            raise FlagError(f"Failed to load unknown flag '{base}'")
        if base in seen:
            raise FlagError(f"Duplicate flag '{base}' on command line")
        seen.add(base)
        if negated and not flag.boolean:
            raise FlagError(f"Failed to load non-boolean flag '{base}' via '{name}'")
        if negated and has_value:
            raise FlagError(
                f"Failed to load boolean flag '{base}' via '{name}' with value '{value}'"
            )
        if negated:
            values[flag.name] = "false"
            continue
        values[flag.name] = _normalise(flag, value if has_value else "true")
    return values


def load(table: FlagTable, argv: list[str], environ: dict[str, str]) -> dict[str, str]:
    """Effective flags (main name -> string): defaults, then MESOS_* env, then command line."""
    values = {f.name: f.default for f in table.flags if f.default is not None}
    values.update(_from_environment(table, environ))
    values.update(_from_command_line(table, argv))
    return dict(sorted((k, v) for k, v in values.items() if v is not None))


def fail_usage(table: FlagTable, message: str) -> NoReturn:
    """Print a load error exactly like the real binary and exit with status 1."""
    sys.stderr.write(f"{message}\n\n{table.usage_hint()}\n")
    sys.stderr.flush()
    sys.exit(1)


def is_true(flags: dict[str, str], name: str) -> bool:
    return flags.get(name) == "true"


def parse_duration(text: str) -> float:
    """A Mesos duration ("10secs", "1mins", "500ms") in seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|ms|secs|mins|hrs|days|weeks)", text)
    if match is None:
        raise ValueError(f"bad duration {text!r}")
    scale = {
        "ns": 1e-9,
        "us": 1e-6,
        "ms": 1e-3,
        "secs": 1,
        "mins": 60,
        "hrs": 3600,
        "days": 86400,
        "weeks": 604800,
    }[match.group(2)]
    return float(match.group(1)) * scale
