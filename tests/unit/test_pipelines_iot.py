"""The reference pipeline's JVM code (pipelines/iot): its own unit tests, run by Maven.

The generator's event factory and options, and the streaming job end to end on a local Spark
with in-memory input and tables (duplicates, replays, a fresh checkpoint, late events). The
build runs on a copy, so the checkout gets no target/ directories.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from infra import bundle
from infra.paths import PROJECT_DIR

pytestmark = [pytest.mark.unit, pytest.mark.timeout(600)]


def test_the_pipeline_builds_and_its_unit_tests_pass(tmp_path: Path) -> None:
    source = PROJECT_DIR / bundle.IOT_PIPELINE_PROJECT
    copy = tmp_path / "iot"
    for path in bundle.project_files(source):
        dest = copy / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    proc = subprocess.run(["mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(copy / "pom.xml"),
                           "package"], capture_output=True, text=True, timeout=540, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    version = bundle.pipeline_version()
    for jar in (f"generator/target/iot-generator-{version}.jar",
                f"stream/target/iot-stream-{version}.jar"):
        assert (copy / jar).is_file(), jar
    reports = list(copy.glob("*/target/surefire-reports/TEST-*.xml"))
    assert len(reports) >= 5, reports
    assert all('failures="0"' in r.read_text() and 'errors="0"' in r.read_text()
               for r in reports)
