"""The engine glue: CLI version pin, passphrase file, failure messages, stack files."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from infra import engine
from infra.paths import PROJECT_DIR

pytestmark = pytest.mark.unit


def test_cli_build_is_pinned_to_the_sdk_version() -> None:
    pinned = re.search(r'"pulumi==([0-9.]+)"', (PROJECT_DIR / "pyproject.toml").read_text())
    assert pinned is not None
    assert engine.sdk_version() == pinned.group(1)
    for module in ("cli", "language-host"):
        go_mod = (PROJECT_DIR / "tools" / "pulumi" / module / "go.mod").read_text()
        assert f"github.com/pulumi/pulumi/sdk/v3 v{pinned.group(1)}" in go_mod


def test_passphrase_is_made_once_and_private(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMACK_PASSPHRASE_FILE", str(tmp_path / "conf" / "pass"))
    path = engine.ensure_passphrase()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert len(first) >= 32
    assert engine.ensure_passphrase().read_text() == first


def test_engine_env_keeps_everything_on_this_machine(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SMACK_PASSPHRASE_FILE", str(tmp_path / "pass"))
    for var in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE",
                "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_HOME"):
        monkeypatch.delenv(var, raising=False)
    env = engine.engine_env()
    assert env["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'state' / 'pulumi'}"
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert env["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(tmp_path / "pass")
    assert "PULUMI_CONFIG_PASSPHRASE" not in env  # the secret itself is never passed around


ENGINE_FAILURE = """\
Updating (local):
 +  site **creating failed** error: Traceback (most recent call last):
Diagnostics:
  pulumi-python:dynamic:Resource (site):
    error: Traceback (most recent call last):
      File "/x/pulumi/dynamic/__main__.py", line 84, in wrapper
        return fn(self, request, context)
    infra.errors.AnsibleRunError: ansible playbook site.yml failed:
      - node-1: task 'Install Java' (roles/common/tasks/install.yml:18): No package matching 'x'

  pulumi:pulumi:Stack (smack-local):
    error: update failed

Outputs:
  - ssh      : "ssh smack@198.18.0.10"
Resources:
    2 errored
"""


def test_engine_failure_is_cut_down_to_what_went_wrong() -> None:
    err = engine._failure("up", "local", ENGINE_FAILURE)
    lines = str(err).splitlines()
    assert lines == [
        "`smack up` failed for stack 'local':",
        "ansible playbook site.yml failed:",
        "- node-1: task 'Install Java' (roles/common/tasks/install.yml:18): "
        "No package matching 'x'",
    ]


def test_streamed_output_folds_tracebacks() -> None:
    seen: list[str] = []
    stream = engine.TracebackFilter(seen.append)
    for line in ENGINE_FAILURE.splitlines():
        stream(line)
    text = "\n".join(seen)
    assert "Traceback" not in text and "__main__.py" not in text
    assert "infra.errors.AnsibleRunError: ansible playbook site.yml failed:" in text
    assert "No package matching 'x'" in text


def test_passphrase_mismatch_says_what_to_do() -> None:
    err = engine._failure("up", "local", "error: incorrect passphrase")
    assert "encryptionsalt" in str(err) and "PULUMI_CONFIG_PASSPHRASE" in str(err)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True,
                          check=True).stdout


def test_committed_stack_files_carry_no_machine_salt() -> None:
    # The salt belongs to one machine's passphrase; committed, it breaks everyone else's.
    # (`smack up` adds it to the working copy; the index is what would be committed.)
    tracked = _git("ls-files", "stacks").split()
    assert "stacks/Pulumi.local.yaml" in tracked
    for path in tracked:
        assert "encryptionsalt" not in (yaml.safe_load(_git("show", f":{path}")) or {}), path


def test_preview_names_the_nodes_a_change_replaces() -> None:
    """issue 16, item 5: a change that replaces nodes is said before `up` does it."""
    from pulumi.automation import events as ev

    from infra.cli import ReplacedNodes

    def pre(op: ev.OpType, name: str, keys: list[str] | None = None) -> ev.EngineEvent:
        urn = f"urn:pulumi:t::smack::smack:local:Cluster$pulumi-python:dynamic:Resource::{name}"
        meta = ev.StepEventMetadata(op=op, urn=urn, type="pulumi-python:dynamic:Resource",
                                    provider="", keys=keys)
        return ev.EngineEvent(sequence=1, timestamp=0,
                              resource_pre_event=ev.ResourcePreEvent(metadata=meta))

    watch = ReplacedNodes(["node-1", "node-2", "node-3"])
    for event in (pre(ev.OpType.SAME, "node-1"), pre(ev.OpType.UPDATE, "inventory"),
                  pre(ev.OpType.REPLACE, "node-2", ["cpus"]),
                  pre(ev.OpType.CREATE_REPLACEMENT, "node-2", ["cpus"]),
                  # node-3 waits for its turn: the provider made its replacement an update
                  pre(ev.OpType.UPDATE, "node-3"),
                  pre(ev.OpType.REPLACE, "network", ["subnet"]),  # not a node
                  ev.EngineEvent(sequence=2, timestamp=0)):
        watch(event)
    assert watch.nodes == {"node-2": ["cpus"]} and watch.waiting == {"node-3"}
    said = watch.warning("local")
    assert said.startswith("this change REPLACES node(s) node-2 (because of: cpus), then node-3 "
                           "in later runs, one per run: each comes back from the base image "
                           "with its data volumes")
    assert "`smack up` runs until every node is replaced" in said
    assert "the data volumes stay" in watch.warning("aws")
    # Only local nodes wait for turns; an update of an aws instance is not one.
    aws = ReplacedNodes(["node-1"], "aws")
    aws(pre(ev.OpType.UPDATE, "node-1"))
    assert aws.waiting == set()
