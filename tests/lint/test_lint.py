"""Lint tier: ruff, mypy, ansible-lint (production profile) and playbook syntax checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.paths import PROJECT_DIR, cache_dir

pytestmark = pytest.mark.lint
BIN = Path(sys.executable).parent
PLAYBOOKS = sorted(p.name for p in (PROJECT_DIR / "playbooks").glob("*.yml"))


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=PROJECT_DIR, capture_output=True, text=True, check=False,
                          timeout=600)


def test_ruff() -> None:
    proc = run(str(BIN / "ruff"), "check", "infra", "tests", "bench")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy() -> None:
    # The machine-wide cache (not the clone's .mypy_cache) makes a clean clone's run incremental.
    proc = run(str(BIN / "mypy"), "--cache-dir", str(cache_dir() / "mypy"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ansible_lint_production_profile() -> None:
    proc = run(str(BIN / "ansible-lint"), "--profile", "production", "roles", "playbooks")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed" in proc.stdout + proc.stderr


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_syntax(playbook: str) -> None:
    # converge.yml and restart_service.yml are only ever imported with their variables set.
    extra = ["-e", "converge_service=common converge_group=all converge_unit=common "
                   "converge_first_start_serial=false restart_service=zookeeper "
                   "restart_group=zookeeper restart_unit=zookeeper"]
    proc = run(str(BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,", *extra,
               f"playbooks/{playbook}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
