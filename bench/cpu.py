"""What a bench phase cost in CPU: the machine's busy core-seconds (/proc/stat) and the part
spent inside the stack's node containers (their cgroups' cpu.stat), the rest being this
machine's own processes (smack, Pulumi, Ansible). Divided by the cores it is the least time
the phase could take here with the same work, however it were scheduled."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# Where podman puts a container's cgroup under the cgroup2 mount: cgroupfs manager, systemd manager.
CGROUP_GLOBS = ("libpod_parent/libpod-*/cpu.stat", "machine.slice/libpod-*.scope/cpu.stat")
SAMPLE_SECONDS = 1.0


@dataclass(frozen=True)
class CpuUse:
    seconds: float
    busy: float
    nodes: float

    @property
    def floor(self) -> float:
        """Seconds the phase needs at the very least on this machine's cores."""
        return self.busy / (os.cpu_count() or 1)

    @property
    def controller(self) -> float:
        return self.busy - self.nodes


def busy_core_seconds() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def cgroup2_mount() -> Path | None:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[2] == "cgroup2":
            return Path(parts[1])
    return None


class CpuMeter:
    """Samples the node containers' CPU once a second, so a node deleted during a phase still
    counts with what it used until its last sample."""

    def __init__(self, engine: str, name_prefix: str, root: Path | None = None) -> None:
        self.engine, self.prefix = engine, name_prefix
        self.root = root or cgroup2_mount()
        self.names: dict[str, str] = {}
        self.usage: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _name(self, container_id: str) -> str:
        if container_id not in self.names:
            proc = subprocess.run([self.engine, "inspect", "--format", "{{.Name}}", container_id],
                                  capture_output=True, text=True, check=False)
            self.names[container_id] = proc.stdout.strip()
        return self.names[container_id]

    def sample(self) -> None:
        if self.root is None:
            return
        for pattern in CGROUP_GLOBS:
            for stat in self.root.glob(pattern):
                container_id = stat.parent.name.removeprefix("libpod-").removesuffix(".scope")
                if not self._name(container_id).startswith(self.prefix):
                    continue
                try:
                    usec = int(stat.read_text().split("\n", 1)[0].split()[1])
                except (OSError, IndexError, ValueError):
                    continue  # the container went away between the glob and the read
                with self.lock:
                    self.usage[container_id] = usec / 1e6

    def _run(self) -> None:
        while not self.stopped.wait(SAMPLE_SECONDS):
            self.sample()

    def nodes_total(self) -> float:
        self.sample()
        with self.lock:
            return sum(self.usage.values())

    def measure(self, fn: Callable[[], T]) -> tuple[T, CpuUse]:
        """Run fn() and return its result with the CPU the machine and the nodes used meanwhile."""
        started, busy, nodes = time.monotonic(), busy_core_seconds(), self.nodes_total()
        result = fn()
        use = CpuUse(seconds=time.monotonic() - started, busy=busy_core_seconds() - busy,
                     nodes=self.nodes_total() - nodes)
        return result, use

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
