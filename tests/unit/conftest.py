"""Fixtures the stand-in daemon tests share, one set per test module: a scratch directory,
a real ZooKeeper from the bundle, the unpacked stand-in packages, and agent work directories
every user can traverse."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.standins.harness import Processes, ZooKeeper, install_tree


@pytest.fixture(scope="module")
def workdir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture(scope="module")
def zookeeper(workdir: Path) -> Iterator[ZooKeeper]:
    server = ZooKeeper(workdir)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def procs(workdir: Path) -> Iterator[Processes]:
    install_tree(workdir)
    processes = Processes(workdir / "fs", workdir)
    yield processes
    processes.stop_all()


@pytest.fixture(scope="module")
def open_dir(procs: Processes) -> Iterator[Path]:
    """Agent work directories every user can traverse (pytest's own are 0700, like the
    roles' old 0750 /var/lib/mesos), so tasks running as nobody reach their sandbox."""
    path = Path(tempfile.mkdtemp(prefix="smack-standin-agents-"))
    path.chmod(0o755)
    procs.task_roots.append(path)
    yield path
    procs.stop_all()
    shutil.rmtree(path, ignore_errors=True)
