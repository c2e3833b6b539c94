"""bench/cpu.py: a phase's CPU split between the stack's node containers and the rest, read
from cgroup files laid out as podman lays them out, and the least time that work needs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.cpu import CpuMeter, CpuUse, busy_core_seconds

pytestmark = pytest.mark.unit


def container(root: Path, cid: str, usec: int, layout: str = "cgroupfs") -> Path:
    directory = (root / "libpod_parent" / f"libpod-{cid}" if layout == "cgroupfs"
                 else root / "machine.slice" / f"libpod-{cid}.scope")
    directory.mkdir(parents=True, exist_ok=True)
    stat = directory / "cpu.stat"
    stat.write_text(f"usage_usec {usec}\nuser_usec {usec}\nsystem_usec 0\n")
    return directory


def meter(root: Path, names: dict[str, str]) -> CpuMeter:
    m = CpuMeter("podman", "smack-b-", root=root)
    m.stop()  # no background sampling: the test samples itself
    m.names.update(names)
    return m


def test_counts_only_the_stacks_containers_in_both_cgroup_layouts(tmp_path: Path) -> None:
    container(tmp_path, "a", 2_000_000)
    container(tmp_path, "b", 3_000_000, layout="systemd")
    container(tmp_path, "other", 50_000_000)
    m = meter(tmp_path, {"a": "smack-b-node-1", "b": "smack-b-node-2", "other": "smack-x-node-1"})
    assert m.nodes_total() == pytest.approx(5.0)


def test_a_phase_counts_new_nodes_whole_and_keeps_a_deleted_nodes_last_sample(
        tmp_path: Path) -> None:
    kept = container(tmp_path, "a", 10_000_000)
    leaving = container(tmp_path, "b", 4_000_000)
    m = meter(tmp_path, {"a": "smack-b-node-1", "b": "smack-b-node-2", "c": "smack-b-node-3"})

    def phase() -> str:
        (kept / "cpu.stat").write_text("usage_usec 12500000\n")
        (leaving / "cpu.stat").write_text("usage_usec 5000000\n")
        m.sample()  # the sampler's last look before the node is deleted
        (leaving / "cpu.stat").unlink()
        leaving.rmdir()
        container(tmp_path, "c", 7_000_000)
        return "done"

    result, use = m.measure(phase)
    assert result == "done"
    # node-1 +2.5, node-2 +1.0 until it went away, node-3 new: 7.0
    assert use.nodes == pytest.approx(10.5)
    assert use.seconds >= 0


def test_floor_is_busy_core_seconds_over_this_machines_cores() -> None:
    use = CpuUse(seconds=100.0, busy=150.0, nodes=90.0)
    assert use.floor == pytest.approx(150.0 / (os.cpu_count() or 1))
    assert use.controller == pytest.approx(60.0)


def test_busy_core_seconds_grow_while_this_process_works() -> None:
    before = busy_core_seconds()
    deadline = os.times().elapsed + 0.3
    while os.times().elapsed < deadline:
        pass
    assert busy_core_seconds() - before >= 0.2
