"""Suite-wide rules: tiers come from the directory, and a strict run tolerates no skips.

With SMACK_REQUIRED_TIERS set (the README's test command sets it), every listed tier must
have passed at least one test and nothing may be skipped, so a tier that silently did not
run (no nodes, no engine, no tests collected) fails the suite instead of passing it.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

TIERS = ("unit", "lint", "integration", "e2e")
_passed: Counter[str] = Counter()
_skipped: list[str] = []


def _tier(item: pytest.Item) -> str | None:
    parts = Path(str(item.fspath)).parts
    return next((t for t in TIERS if t in parts), None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = _tier(item)
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)
    elif report.when == "call" and report.passed:
        for tier in TIERS:
            if f"/{tier}/" in f"/{report.nodeid}":
                _passed[tier] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    required = [t for t in os.environ.get("SMACK_REQUIRED_TIERS", "").split(",") if t]
    if not required:
        return
    problems = [f"tier '{t}' passed no test" for t in required if _passed[t] == 0]
    problems += [f"skipped: {nodeid}" for nodeid in _skipped]
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("strict run failed:\n  " + "\n  ".join(problems), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def standin_repository() -> Path:
    """The Mesos/Marathon stand-in apt repository (test doubles) the local stack points at.

    Reproducible builds: rebuilding gives the same bytes, so nodes see no change.
    """
    from tests.standins.build import HERE, build_repository

    return build_repository(HERE / "build" / "repo")
