"""Regenerate the stand-ins' data files from the shared reference material.

The stand-ins accept exactly the flags the real binaries accept. For Mesos the authority is the
`--help` output captured from the real 1.11 binaries (real-mesos-samples/*-help.stdout): its
flag names, aliases, boolean-ness and "(default: ...)" values match the /flags endpoint of the
real master and agent exactly, while the documentation tables (mesos-1.11-*-flags.tsv) also list
flags that only exist in builds with extra isolators. The TSV summaries are kept as help text.
For Marathon the authority is the `--help` of the real 1.11.24 build
(real-marathon-samples/help.stdout); the TSV (documented up to 1.7) adds required options,
integer types and summaries, and names the documented options the binary does not have.

Run from the repository root:  .venv/bin/python -m tests.standins.gen_flag_tables
A unit test checks that the checked-in files equal what this script produces.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "standin" / "data"


def reference_dir() -> Path:
    """Where the shared reference lives (override with SMACK_REFERENCE_DIR)."""
    return Path(os.environ.get("SMACK_REFERENCE_DIR")
                or Path(__file__).resolve().parents[1] / "reference")


def read_tsv(path: Path) -> dict[str, tuple[str, str, str]]:
    """flag -> (required, default, summary) from a '#'-commented TSV."""
    rows: dict[str, tuple[str, str, str]] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, required, default, summary = line.split("\t")
        rows[name] = (required, default, summary)
    return rows


_HEAD = re.compile(r"--(\[no-\])?([a-z0-9_]+)(=VALUE)?$")
_DEFAULT = re.compile(r"\(default: (.*?)\)\s*$")


def parse_mesos_help(text: str) -> list[dict[str, object]]:
    """Flags of a Mesos `--help` text: names, aliases, boolean, default (as /flags shows it)."""
    flags: list[dict[str, object]] = []
    descriptions: list[list[str]] = []
    for line in text.splitlines()[1:]:
        if line.startswith("  --"):
            head = re.split(r"\s{2,}", line.strip())[0]
            parsed = [_HEAD.match(part) for part in head.split(", ")]
            if not all(parsed):
                raise ValueError(f"unexpected help line: {line!r}")
            names = [m.group(2) for m in parsed if m]
            flags.append({"name": names[0], "aliases": names[1:], "bool": bool(parsed[0].group(1))})
            descriptions.append([line.strip()[len(head) :].strip()])
        elif descriptions:
            descriptions[-1].append(line.strip())
    for flag, desc in zip(flags, descriptions, strict=True):
        found = _DEFAULT.search(" ".join(desc))
        flag["default"] = found.group(1) if found else None
    return flags


def mesos_table(program: str, help_text: str, tsv: dict[str, tuple[str, str, str]]) -> dict:
    flags = parse_mesos_help(help_text)
    for flag in flags:
        row = tsv.get(str(flag["name"]))
        flag["summary"] = row[2] if row else ""
    accepted = set()
    for flag in flags:
        accepted.add(str(flag["name"]))
        accepted.update(flag["aliases"])  # a list of str
    return {
        "program": program,
        "source": f"real-mesos-samples/{program.split('-')[1]}-help.stdout (+ TSV summaries)",
        "documented_but_not_in_binary": sorted(set(tsv) - accepted),
        "flags": flags,
    }


# A flag line of Marathon's scallop help: "  -h, --hostname  <arg>   text" or "      --ha   text";
# continuation lines are indented far deeper.
_MARATHON_HEAD = re.compile(r"^(?:  -(\w), | {6})--([a-z0-9_]+)(?:\s+<\w+>)?(?=\s|$)(.*)$")
_MARATHON_DEFAULT = re.compile(r"^\(Default(?:: (.*?))?\)")


def parse_marathon_help(text: str) -> list[dict[str, object]]:
    """Options of Marathon's `--help` (scallop): name, short alias, argument or not, text."""
    options: list[dict[str, object]] = []
    for line in text.splitlines():
        found = _MARATHON_HEAD.match(line)
        if found is None:
            if options and line.startswith(" " * 20):
                options[-1]["text"] = f"{options[-1]['text']} {line.strip()}".strip()
            continue
        short, name, rest = found.groups()
        takes_arg = bool(re.match(r"^\s+<\w+>", line[found.end(2):]))
        options.append({"name": name, "short": short, "arg": takes_arg,
                        "text": rest.strip()})
    return options


def marathon_table(help_text: str, tsv: dict[str, tuple[str, str, str]]) -> dict:
    """The options real Marathon 1.11 accepts, from its `--help` (real-marathon-samples):
    a pair --x / --disable_x without argument is one toggle (on by default when the text of
    --x says "(Default)", as for maintenance_mode where both texts do), any other option
    without argument a flag, the rest take a value. The documentation TSV adds what the help
    does not show: required options, integer types, and its summaries."""
    parsed = {str(o["name"]): o for o in parse_marathon_help(help_text)}
    flags = []
    for name, option in parsed.items():
        if name == "help" or (name.startswith("disable_") and name[8:] in parsed
                              and not option["arg"] and not parsed[name[8:]]["arg"]):
            continue
        text = str(option["text"])
        negation = parsed.get(f"disable_{name}")
        row = tsv.get(name)
        default_text = _MARATHON_DEFAULT.match(text)
        if not option["arg"] and negation is not None and not negation["arg"]:
            kind = "toggle"
            default: str | None = "enabled" if default_text is not None else "disabled"
        elif not option["arg"]:
            kind, default = "flag", "false"
        else:
            kind = "value"
            # The help's defaults are prose ("120 seconds"); the TSV has the number behind it.
            default = default_text.group(1) if default_text and default_text.group(1) else None
            if row and row[1] and (default is None or row[1].isdigit()):
                default = row[1]
        flags.append({
            "name": name,
            "short": option["short"],
            "required": bool(row and row[0] == "yes"),
            "kind": kind,
            "default": default,
            "integer": kind == "value" and bool(row and row[1].isdigit()),
            "summary": row[2] if row else _MARATHON_DEFAULT.sub("", text).strip(),
        })
    return {
        "program": "marathon",
        "source": "real-marathon-samples/help.stdout (+ marathon-1.11-flags.tsv: required, "
                  "integer types, summaries)",
        "documented_but_not_in_binary": sorted(set(tsv) - set(parsed)),
        "flags": flags,
    }


def generate(ref: Path) -> dict[str, str]:
    """File name -> content for every generated data file."""
    samples = ref / "real-mesos-samples"
    out = {}
    for role in ("master", "agent"):
        table = mesos_table(
            f"mesos-{role}",
            (samples / f"{role}-help.stdout").read_text(),
            read_tsv(ref / f"mesos-1.11-{role}-flags.tsv"),
        )
        out[f"mesos-{role}-flags.json"] = json.dumps(table, indent=1) + "\n"
    marathon = marathon_table((ref / "real-marathon-samples" / "help.stdout").read_text(),
                              read_tsv(ref / "marathon-1.11-flags.tsv"))
    out["marathon-flags.json"] = json.dumps(marathon, indent=1) + "\n"
    out["marathon-app.schema.json"] = (ref / "marathon-1.11-app.schema.json").read_text()
    return out


# smack's own settings check (infra/config_checks.py) refuses option names the real daemons
# do not have; it reads them from this generated module, not from the stand-ins.
DAEMON_FLAGS = Path(__file__).resolve().parents[2] / "infra" / "daemon_flags.py"


def daemon_flags(ref: Path) -> str:
    """infra/daemon_flags.py: every option name (aliases included) of the real daemons."""
    samples = ref / "real-mesos-samples"
    names: dict[str, set[str]] = {}
    for role in ("master", "agent"):
        flags = parse_mesos_help((samples / f"{role}-help.stdout").read_text())
        names[f"MESOS_{role.upper()}"] = {str(f["name"]) for f in flags} | {
            str(a) for f in flags for a in f["aliases"]}  # type: ignore[attr-defined]
    help_text = (ref / "real-marathon-samples" / "help.stdout").read_text()
    names["MARATHON"] = {str(o["name"]) for o in parse_marathon_help(help_text)} - {"help"}
    lines = ['"""Option names the real daemons accept: Mesos 1.11 (mesos-master and mesos-agent',
             "--help, real-mesos-samples) and Marathon 1.11.24 (--help, real-marathon-samples).",
             "",
             "Generated by `python -m tests.standins.gen_flag_tables`; a unit test keeps it equal",
             'to what that produces. Do not edit."""', "", "from __future__ import annotations", ""]
    for const in ("MESOS_MASTER", "MESOS_AGENT", "MARATHON"):
        lines.append(f"{const} = frozenset({{")
        lines += [f'    "{name}",' for name in sorted(names[const])]
        lines += ["})", ""]
    return "\n".join(lines)


def main() -> int:
    ref = reference_dir()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for name, content in generate(ref).items():
        (DATA_DIR / name).write_text(content)
        print(f"wrote {DATA_DIR / name}")
    DAEMON_FLAGS.write_text(daemon_flags(ref))
    print(f"wrote {DAEMON_FLAGS}")
    shutil.rmtree(DATA_DIR / "__pycache__", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
