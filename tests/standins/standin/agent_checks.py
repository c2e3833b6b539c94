"""What the real Mesos 1.11 agent checks about its host before it registers (smack test
stand-in, not Apache Mesos). Each check does what the real agent does on the node, so the
stand-in fails exactly where the real one fails:

1. flag validation (real-mesos-samples/PROVENANCE.txt, every run on a hybrid cgroup host): a
   cgroup2 mount anywhere but --cgroups_hierarchy fails with "Failed to check if cgroup2
   filesystem is mounted: Found cgroups2 mount at an unexpected location '<path>'" and the
   usage hint, status 1;
2. systemd support (--systemd_enable_support, on by default) where systemd manages the host
   (a name=systemd cgroup hierarchy and systemctl): the runtime directory must exist
   (sample: "Failed to initialize systemd: Failed to locate systemd runtime directory:
   /run/systemd/system"); the agent writes mesos_executors.slice there, starts it and then
   needs `<systemd hierarchy>/mesos_executors.slice` to exist -- in a container sharing the
   host's cgroup namespace it does not (issue 13: "Failed to initialize systemd: Failed to
   locate systemd cgroups hierarchy: 'mesos_executors.slice' is not a valid cgroup");
3. the Linux launcher (--launcher=linux, the default for root) creates the freezer root cgroup
   `<--cgroups_hierarchy>/freezer/<--cgroups_root>`, and each cgroups/* isolator its
   subsystem's; on read-only cgroup mounts that fails (issue 13: "Failed to create Linux
   launcher: Failed to create root cgroup /sys/fs/cgroup/freezer/mesos: ... Read-only file
   system"). The words between the sampled parts follow Mesos' sources (README: not sampled).

SMACK_STANDIN_MOUNTS (default /proc/self/mounts) exists only so the stand-ins' own tests can
describe a host; the real agent has no such variable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import glog
from .flags import FlagTable, fail_usage

SLICE = "mesos_executors.slice"
CONTAINERIZER = "Failed to create a containerizer: Could not create MesosContainerizer: "
# cgroups/<isolator> -> the subsystem it prepares
SUBSYSTEMS = {"cpu": "cpu", "mem": "memory", "pids": "pids", "devices": "devices",
              "blkio": "blkio", "hugetlb": "hugetlb", "net_cls": "net_cls",
              "perf_event": "perf_event", "cpuset": "cpuset"}


@dataclass(frozen=True)
class Mount:
    point: str
    fstype: str
    options: tuple[str, ...]


def mounts() -> list[Mount]:
    path = os.environ.get("SMACK_STANDIN_MOUNTS", "/proc/self/mounts")
    out = []
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if len(fields) >= 4:
            point = fields[1].replace("\\040", " ")
            out.append(Mount(point, fields[2], tuple(fields[3].split(","))))
    return out


def check_isolation(table: FlagTable, flags: dict[str, str]) -> None:
    table_mounts = mounts()
    hierarchy = flags.get("cgroups_hierarchy", "/sys/fs/cgroup").rstrip("/")
    for mount in table_mounts:
        if mount.fstype == "cgroup2" and mount.point.rstrip("/") != hierarchy:
            fail_usage(table, "Failed to check if cgroup2 filesystem is mounted: Found cgroups2 "
                              f"mount at an unexpected location '{mount.point}'")
    if flags.get("systemd_enable_support", "true") == "true":
        systemd = systemd_hierarchy(table_mounts, hierarchy)
        if systemd is not None and shutil.which("systemctl"):
            initialize_systemd(flags, systemd)
    root = flags.get("cgroups_root", "mesos")
    if (flags.get("launcher") or "linux") == "linux":
        prepare(hierarchy, "freezer", root, CONTAINERIZER + "Failed to create launcher: "
                                            "Failed to create Linux launcher: ")
    for isolator in (flags.get("isolation") or "").split(","):
        name = isolator.strip()
        if name.startswith("cgroups/") and name[len("cgroups/"):] in SUBSYSTEMS:
            subsystem = SUBSYSTEMS[name[len("cgroups/"):]]
            prepare(hierarchy, subsystem, root,
                    CONTAINERIZER + f"Failed to create isolator '{name}': ")


def systemd_hierarchy(table_mounts: list[Mount], hierarchy: str) -> str | None:
    """Where systemd's cgroups are: the name=systemd hierarchy (v1), or the unified one."""
    for mount in table_mounts:
        if mount.fstype == "cgroup" and "name=systemd" in mount.options:
            return mount.point
    for mount in table_mounts:
        if mount.fstype == "cgroup2" and mount.point.rstrip("/") == hierarchy:
            return mount.point
    return None


def initialize_systemd(flags: dict[str, str], hierarchy: str) -> None:
    runtime = Path(flags.get("systemd_runtime_directory", "/run/systemd/system"))
    where = "main.cpp:697"
    if not runtime.is_dir():
        glog.exit_with(where, f"Failed to initialize systemd: Failed to locate systemd runtime "
                              f"directory: {runtime}")
    unit = runtime / SLICE
    if not unit.exists():
        unit.write_text("[Unit]\nDescription=Mesos Executors Slice\n")
        subprocess.run(["systemctl", "daemon-reload"], check=False, capture_output=True)
    started = subprocess.run(["systemctl", "start", SLICE], check=False, capture_output=True,
                             text=True)
    if started.returncode != 0:
        glog.exit_with(where, f"Failed to initialize systemd: Failed to start '{SLICE}': "
                              f"{started.stderr.strip()}")
    if not Path(hierarchy, SLICE).is_dir():
        glog.exit_with(where, "Failed to initialize systemd: Failed to locate systemd cgroups "
                              f"hierarchy: '{SLICE}' is not a valid cgroup")


def prepare(hierarchy: str, subsystem: str, root: str, prefix: str) -> None:
    """Create the root cgroup of a subsystem as cgroups::prepare does, or exit."""
    base = Path(hierarchy, subsystem)
    where = "main.cpp:707"
    if not base.is_dir():
        glog.exit_with(where, f"{prefix}Failed to prepare hierarchy for subsystem "
                              f"'{subsystem}': '{subsystem}' is not mounted at {base}")
    path = base / root
    if path.is_dir():
        return
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        glog.exit_with(where, f"{prefix}Failed to create root cgroup {path}: Failed to create "
                              f"directory '{path}': {exc.strerror}")
