"""Regenerate the stand-ins' data files from the shared reference material.

The stand-ins accept exactly the flags the real binaries accept. For Mesos the authority is the
`--help` output captured from the real 1.11 binaries (real-mesos-samples/*-help.stdout): its
flag names, aliases, boolean-ness and "(default: ...)" values match the /flags endpoint of the
real master and agent exactly, while the documentation tables (mesos-1.11-*-flags.tsv) also list
flags that only exist in builds with extra isolators. The TSV summaries are kept as help text.
For Marathon the TSV is the only list we have.

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


def marathon_kind(name: str, default: str, summary: str) -> str:
    if summary.startswith("Toggle"):
        return "toggle"
    if summary.startswith("Flag:"):
        return "flag"
    if default in ("true", "false"):
        return "boolean"
    return "value"


def marathon_table(tsv: dict[str, tuple[str, str, str]]) -> dict:
    flags = []
    for name, (required, default, summary) in tsv.items():
        kind = marathon_kind(name, default, summary)
        flags.append(
            {
                "name": name,
                "required": required == "yes",
                "kind": kind,
                "default": default or None,
                "integer": kind == "value" and default.isdigit(),
                "summary": summary,
            }
        )
    return {"program": "marathon", "source": "marathon-1.11-flags.tsv", "flags": flags}


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
    marathon = marathon_table(read_tsv(ref / "marathon-1.11-flags.tsv"))
    out["marathon-flags.json"] = json.dumps(marathon, indent=1) + "\n"
    out["marathon-app.schema.json"] = (ref / "marathon-1.11-app.schema.json").read_text()
    return out


def main() -> int:
    ref = reference_dir()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for name, content in generate(ref).items():
        (DATA_DIR / name).write_text(content)
        print(f"wrote {DATA_DIR / name}")
    shutil.rmtree(DATA_DIR / "__pycache__", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
