"""Agent resources and attributes (smack test stand-in, not Apache Mesos).

Parses --resources ("cpus:2;mem:1024;ports:[31000-31100]", roles as "cpus(role):1", or the
JSON list form) and --attributes ("rack:r1;zone:z1"), and fills in what is not given the way the
real agent computes it: cpus = CPU count, mem = total minus 1 GB (or half when below 2 GB),
disk = work_dir filesystem minus 5 GB (or half when below 10 GB), ports [31000-32000], gpus 0.
JSON shapes follow real-mesos-samples (res-*.json, agent-state.json).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

SCALARS = ("cpus", "mem", "disk", "gpus")
GB = 1024  # resources count megabytes


@dataclass
class Resources:
    scalars: dict[str, float] = field(default_factory=dict)  # unreserved
    ports: list[tuple[int, int]] = field(default_factory=list)
    reserved: dict[str, dict[str, float]] = field(default_factory=dict)  # role -> scalars

    def totals(self) -> dict[str, float]:
        out = dict(self.scalars)
        for role_scalars in self.reserved.values():
            for name, value in role_scalars.items():
                out[name] = out.get(name, 0.0) + value
        return out

    def ports_text(self) -> str:
        return "[" + ", ".join(f"{b}-{e}" for b, e in self.ports) + "]"

    def summary(self) -> dict[str, object]:
        """The `resources` object: disk, mem, gpus, cpus (+ ports), in the real key order."""
        totals = self.totals()
        out: dict[str, object] = {
            k: float(totals.get(k, 0.0)) for k in ("disk", "mem", "gpus", "cpus")
        }
        if self.ports:
            out["ports"] = self.ports_text()
        return out

    def unreserved_summary(self) -> dict[str, object]:
        out: dict[str, object] = {
            k: float(self.scalars.get(k, 0.0)) for k in ("disk", "mem", "gpus", "cpus")
        }
        if self.ports:
            out["ports"] = self.ports_text()
        return out

    def reserved_summary(self) -> dict[str, object]:
        return {role: {k: float(v) for k, v in s.items()} for role, s in self.reserved.items()}

    def full(self) -> list[dict[str, object]]:
        """`unreserved_resources_full`: protobuf-shaped list (cpus, mem, disk, ports)."""
        out: list[dict[str, object]] = []
        for name in ("cpus", "mem", "disk", "gpus"):
            value = self.scalars.get(name)
            if value:  # zero gpus are not listed by the real agent
                out.append(
                    {"name": name, "type": "SCALAR", "scalar": {"value": float(value)}, "role": "*"}
                )
        if self.ports:
            ranges = [{"begin": b, "end": e} for b, e in self.ports]
            out.append(
                {"name": "ports", "type": "RANGES", "ranges": {"range": ranges}, "role": "*"}
            )
        return out

    def to_json(self) -> dict[str, object]:
        return {"scalars": self.scalars, "ports": self.ports, "reserved": self.reserved}

    @classmethod
    def from_json(cls, data: dict) -> Resources:
        return cls(
            scalars={k: float(v) for k, v in data["scalars"].items()},
            ports=[(int(b), int(e)) for b, e in data["ports"]],
            reserved={r: {k: float(v) for k, v in s.items()} for r, s in data["reserved"].items()},
        )


def _parse_ranges(text: str) -> list[tuple[int, int]]:
    inner = text.strip()
    if not (inner.startswith("[") and inner.endswith("]")):
        raise ValueError(f"Bad value for ranges: {text!r}")
    ranges = []
    for part in inner[1:-1].split(","):
        begin, _, end = part.strip().partition("-")
        ranges.append((int(begin), int(end or begin)))
    return ranges


def _parse_text(text: str) -> list[tuple[str, str, str]]:
    """(name, role, value) triples from the text form."""
    items = []
    for chunk in filter(None, (c.strip() for c in text.split(";"))):
        name, sep, value = chunk.partition(":")
        if not sep:
            raise ValueError(f"Bad value for resources, missing ':' within {chunk!r}")
        match = re.fullmatch(r"([a-z_]+)(?:\(([^)]*)\))?", name.strip())
        if match is None:
            raise ValueError(f"Bad resource name {name!r}")
        items.append((match.group(1), match.group(2) or "*", value.strip()))
    return items


def _parse_json(text: str) -> list[tuple[str, str, str]]:
    items = []
    for entry in json.loads(text):
        role = entry.get("role", "*")
        if entry.get("type", "SCALAR") == "RANGES":
            ranges = entry["ranges"]["range"]
            value = "[" + ",".join(f"{r['begin']}-{r['end']}" for r in ranges) + "]"
        else:
            value = str(entry["scalar"]["value"])
        items.append((entry["name"], role, value))
    return items


def parse_resources(text: str | None) -> Resources:
    res = Resources()
    if not text:
        return res
    stripped = text.strip()
    items = _parse_json(stripped) if stripped.startswith("[") else _parse_text(stripped)
    for name, role, value in items:
        if name == "ports":
            res.ports.extend(_parse_ranges(value))
            continue
        amount = float(value)
        if role == "*":
            res.scalars[name] = res.scalars.get(name, 0.0) + amount
        else:
            res.reserved.setdefault(role, {})[name] = amount
    return res


def _memory_mb() -> float:
    try:
        for line in open("/proc/meminfo"):  # noqa: SIM115 - tiny read
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) // 1024
                break
        else:
            total = 2048
    except OSError:
        total = 2048
    return float(total - GB if total >= 2 * GB else total // 2)


def _disk_mb(path: str) -> float:
    probe = path
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe.rstrip("/")) or "/"
    stats = os.statvfs(probe or "/")
    total = stats.f_blocks * stats.f_frsize // (1024 * 1024)
    return float(total - 5 * GB if total >= 10 * GB else total // 2)


def agent_resources(flag: str | None, work_dir: str) -> Resources:
    """--resources plus the real agent's computed defaults for anything not given."""
    res = parse_resources(flag)
    given = set(res.totals()) | ({"ports"} if res.ports else set())
    defaults = {
        "cpus": lambda: float(os.cpu_count() or 1),
        "mem": _memory_mb,
        "disk": lambda: _disk_mb(work_dir),
    }
    for name, compute in defaults.items():
        if name not in given:
            res.scalars[name] = compute()
    if "ports" not in given:
        res.ports = [(31000, 32000)]
    return res


def parse_attributes(text: str | None) -> dict[str, object]:
    """--attributes: numbers become JSON numbers (Mesos scalars), everything else text."""
    out: dict[str, object] = {}
    for chunk in filter(None, (c.strip() for c in (text or "").split(";"))):
        name, sep, value = chunk.partition(":")
        if not sep:
            raise ValueError(f"Invalid attribute {chunk!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            out[name.strip()] = value.strip()
    return out


# ----- arithmetic on Mesos Resource JSON lists (offers, tasks, used/offered totals) ----------

MIN_CPUS = 0.01  # the real allocator offers nothing smaller (master/constants.hpp)
MIN_MEM = 32.0


@dataclass
class ResourceSet:
    """Unreserved scalars plus port ranges: what an offer holds, what a task uses."""

    scalars: dict[str, float] = field(default_factory=dict)
    ports: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def of_agent(cls, res: Resources) -> ResourceSet:
        return cls(dict(res.totals()), list(res.ports))

    @classmethod
    def from_json(cls, items: list[dict] | None) -> ResourceSet:
        out = cls()
        for item in items or []:
            if item.get("type") == "RANGES" or "ranges" in item:
                ranges = (item.get("ranges") or {}).get("range") or []
                out.ports.extend((int(r["begin"]), int(r["end"])) for r in ranges)
            elif "scalar" in item:
                name = str(item["name"])
                out.scalars[name] = out.scalars.get(name, 0.0) + float(item["scalar"]["value"])
        out.ports = _merge(out.ports)
        return out

    def to_json(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for name in ("cpus", "mem", "disk", "gpus"):
            value = round(self.scalars.get(name, 0.0), 6)
            if value > 0:
                out.append({"name": name, "type": "SCALAR", "scalar": {"value": value},
                            "role": "*"})
        if self.ports:
            ranges = [{"begin": b, "end": e} for b, e in self.ports]
            out.append({"name": "ports", "type": "RANGES", "ranges": {"range": ranges},
                        "role": "*"})
        return out

    def summary(self) -> dict[str, object]:
        """{"disk", "mem", "gpus", "cpus"[, "ports"]} as /master/state prints resources."""
        out: dict[str, object] = {
            k: round(float(self.scalars.get(k, 0.0)), 6) for k in ("disk", "mem", "gpus", "cpus")
        }
        if self.ports:
            out["ports"] = "[" + ", ".join(f"{b}-{e}" for b, e in self.ports) + "]"
        return out

    def plus(self, other: ResourceSet) -> ResourceSet:
        scalars = dict(self.scalars)
        for name, value in other.scalars.items():
            scalars[name] = scalars.get(name, 0.0) + value
        return ResourceSet(scalars, _merge(self.ports + other.ports))

    def minus(self, other: ResourceSet) -> ResourceSet:
        scalars = {k: max(0.0, round(v - other.scalars.get(k, 0.0), 6))
                   for k, v in self.scalars.items()}
        return ResourceSet(scalars, _subtract(self.ports, other.ports))

    def contains(self, other: ResourceSet) -> bool:
        for name, value in other.scalars.items():
            if value > self.scalars.get(name, 0.0) + 1e-9:
                return False
        return all(any(b <= lo and hi <= e for b, e in self.ports) for lo, hi in other.ports)

    def offerable(self) -> bool:
        return self.scalars.get("cpus", 0.0) >= MIN_CPUS or self.scalars.get("mem", 0.0) >= MIN_MEM


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for begin, end in sorted(ranges):
        if out and begin <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((begin, end))
    return out


def _subtract(ranges: list[tuple[int, int]], taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = list(_merge(ranges))
    for lo, hi in taken:
        next_out = []
        for begin, end in out:
            if hi < begin or lo > end:
                next_out.append((begin, end))
                continue
            if begin < lo:
                next_out.append((begin, lo - 1))
            if hi < end:
                next_out.append((hi + 1, end))
        out = next_out
    return out
