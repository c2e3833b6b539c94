"""How a playbook run is reported: failures name host, task and message; reruns are keyed."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra import ansible
from infra.ansible import CONTENT_DIRS, AnsibleRunProvider, _Events, _message, content_digest
from infra.errors import AnsibleRunError
from infra.paths import PROJECT_DIR
from infra.progress import LineProgress

pytestmark = pytest.mark.unit


def failed_event(res: dict[str, object], ignore: bool = False) -> dict[str, object]:
    return {"event": "runner_on_failed", "event_data": {
        "host": "node-2", "task": "Install Java", "ignore_errors": ignore, "res": res,
        "task_path": "/x/roles/common/tasks/install.yml:10"}}


def test_failure_names_host_task_and_module_message() -> None:
    out = io.StringIO()
    events = _Events(LineProgress(out))
    events({"event": "playbook_on_task_start", "event_data": {"task": "Install Java"}})
    events(failed_event({"msg": "No package matching 'jdk' is available"}))
    assert events.failures["node-2"].startswith(
        "node-2: task 'Install Java' (/x/roles/common/tasks/install.yml:10): "
        "No package matching 'jdk' is available")
    assert "failed on node-2: Install Java" in out.getvalue()


def test_ignored_failures_are_not_failures() -> None:
    events = _Events(LineProgress(io.StringIO()))
    events(failed_event({"msg": "expected"}, ignore=True))
    assert events.failures == {}


@pytest.mark.parametrize(("res", "expected"), [
    ({"msg": "non-zero return code", "stderr": "a\nb\nc\nd"}, "non-zero return code: b | c | d"),
    ({"stdout": "only stdout"}, "only stdout"),
    ({"results": [{"failed": False, "msg": "ok"}, {"failed": True, "msg": "item broke"}]},
     "item broke"),
    ({}, "failed without a message"),
])
def test_message_uses_the_modules_own_words(res: dict[str, object], expected: str) -> None:
    assert _message(res) == expected


def test_unreachable_host_is_reported() -> None:
    events = _Events(LineProgress(io.StringIO()))
    events({"event": "runner_on_unreachable", "event_data": {
        "host": "node-1", "task": "Gathering Facts", "res": {"msg": "ssh: connect timed out"}}})
    assert "ssh: connect timed out" in events.failures["node-1"]


def test_changed_tasks_name_the_file_never_its_content() -> None:
    """What `smack preview` lists: host, task and the file on the node."""
    events = _Events(LineProgress(io.StringIO()))
    template = {"changed": True, "diff": [{"before_header": "/etc/kafka/server.properties",
                                           "after_header": "/root/.ansible/tmp/x/s.j2",
                                           "before": "sasl.password=old", "after": "new"}]}
    for task, res in (("Write the broker settings", template),
                      ("Create the data directory", {"changed": True, "path": "/var/lib/kafka"}),
                      ("Start kafka", {"changed": True, "name": "kafka"}),
                      ("Read the release", {"changed": False, "path": "/opt"})):
        events({"event": "runner_on_ok", "event_data": {"host": "node-1", "task": task,
                                                        "res": res}})
    assert events.changed_tasks == [
        "node-1: Write the broker settings (/etc/kafka/server.properties)",
        "node-1: Create the data directory (/var/lib/kafka)", "node-1: Start kafka"]
    assert "password" not in " ".join(events.changed_tasks)


def test_run_repeats_only_when_a_trigger_changes() -> None:
    provider = AnsibleRunProvider()
    props = {"stack": "s", "playbook": "site.yml", "inventory": "/i/hosts.yml",
             "inventory_digest": "a", "content_digest": "b", "extravars": {}, "forks": 20}
    assert not provider.diff("id", props, dict(props)).changes
    assert not provider.diff("id", props, {**props, "forks": 5}).changes
    for key in ("inventory_digest", "content_digest", "playbook"):
        diff = provider.diff("id", props, {**props, key: "other"})
        assert diff.changes and not diff.replaces
    # `smack up --converge`: a new token runs it; the next plain `up` (no token) does not.
    assert provider.diff("id", props, {**props, "converge": "t1"}).changes
    assert provider.diff("id", {**props, "converge": "t1"}, {**props, "converge": "t2"}).changes
    assert not provider.diff("id", {**props, "converge": "t1"}, {**props, "converge": ""}).changes


def test_content_digest_follows_role_content(tmp_path: Path) -> None:
    for name in CONTENT_DIRS:
        shutil.copytree(PROJECT_DIR / name, tmp_path / name)
    shutil.copy(PROJECT_DIR / "ansible.cfg", tmp_path)
    before = content_digest(tmp_path)
    assert content_digest(tmp_path) == before
    defaults = tmp_path / "roles" / "common" / "defaults" / "main.yml"
    text = defaults.read_text()
    defaults.write_text(text + "\n")
    assert content_digest(tmp_path) == before  # layout only
    defaults.write_text(text + "common_new_knob: 1\n")
    assert content_digest(tmp_path) != before
    defaults.write_text(text)
    assert content_digest(tmp_path) == before


@pytest.mark.parametrize(("path", "edit", "reruns"), [
    # Comments and layout of what Ansible parses do not change what runs.
    ("roles/kafka/tasks/main.yml", lambda s: "# why, not what\n" + s + "\n\n", False),
    ("roles/kafka/defaults/main.yml", lambda s: s.replace("\n", "  # note\n", 3), False),
    ("playbooks/filter_plugins/extravar_lists.py", lambda s: s + "\n# a remark\n", False),
    ("roles/kafka/templates/server.properties.j2", lambda s: "{# a remark #}\n" + s, False),
    ("ansible.cfg", lambda s: "# a remark\n" + s, False),
    # What renders or runs does.
    ("roles/kafka/templates/server.properties.j2", lambda s: "# lands in the file\n" + s, True),
    ("roles/kafka/tasks/main.yml", lambda s: s.replace("name:", "name: x", 1), True),
    ("roles/common/files/mesos-check", lambda s: s + "\n# copied to the nodes as it is\n", True),
    ("playbooks/filter_plugins/extravar_lists.py", lambda s: s + "\nX = 1\n", True),
])
def test_content_digest_ignores_comments_but_not_what_they_render(
        content_copy: tuple[Path, str], path: str, edit: Callable[[str], str],
        reruns: bool) -> None:
    project, before = content_copy
    target = project / path
    text = target.read_text()
    try:
        target.write_text(edit(text))
        assert (content_digest(project) != before) is reruns
    finally:
        target.write_text(text)


@pytest.fixture(scope="module")
def content_copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One copy of the project's Ansible content for every case, and its digest."""
    project = tmp_path_factory.mktemp("content")
    for name in CONTENT_DIRS:
        shutil.copytree(PROJECT_DIR / name, project / name)
    shutil.copy(PROJECT_DIR / "ansible.cfg", project)
    return project, content_digest(project)


def local_inventory(directory: Path) -> Path:
    """An inventory of one host, node-1, that is this machine."""
    inventory = directory / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    node-1:\n      ansible_connection: local\n")
    return inventory


def test_a_playbook_ansible_refuses_to_load_fails_with_its_message(tmp_path: Path) -> None:
    # No play starts at all; the run must still end in a clear error, not a traceback.
    playbook = tmp_path / "broken.yml"
    playbook.write_text("- name: A play with a keyword plays do not have\n  hosts: all\n"
                        "  not_a_play_keyword: true\n  tasks: []\n")
    inventory = local_inventory(tmp_path)
    with pytest.raises(AnsibleRunError) as refused:
        ansible.run_playbook(str(playbook), inventory, stack="unit",
                             progress=LineProgress(io.StringIO()))
    assert "not_a_play_keyword" in str(refused.value)


def test_plays_run_through_the_mitogen_strategy() -> None:
    # ansible.cfg names the strategy; plugins/strategy/ must hand Ansible Mitogen's class.
    code = ("from ansible import constants as C\n"
            "from ansible.plugins.loader import strategy_loader\n"
            "from ansible_mitogen.strategy import StrategyMixin\n"
            "cls = strategy_loader.get(C.DEFAULT_STRATEGY, class_only=True)\n"
            "print(C.DEFAULT_STRATEGY, cls is not None and issubclass(cls, StrategyMixin))\n")
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_STRATEGY"}
    env["ANSIBLE_CONFIG"] = str(PROJECT_DIR / "ansible.cfg")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd="/", capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == ["mitogen_linear", "True"]


def test_task_workers_may_use_every_cpu_of_the_control_machine(tmp_path: Path) -> None:
    # Mitogen pins every task worker to one CPU on a machine with fewer than four; smack's
    # strategy switches that off (plugins/strategy/mitogen_linear.py). A pipe lookup runs in
    # the worker, so its command inherits the worker's CPU set.
    playbook = tmp_path / "cpus.yml"
    playbook.write_text(
        "- name: Report the CPUs of a task worker\n  hosts: all\n  gather_facts: false\n"
        "  tasks:\n    - name: Report them\n      ansible.builtin.set_stats:\n"
        "        data:\n          smack_checks:\n"
        "            cpus: \"{{ lookup('ansible.builtin.pipe', 'nproc') }}\"\n")
    inventory = local_inventory(tmp_path)
    result = ansible.run_playbook(str(playbook), inventory, stack="unit",
                                  progress=LineProgress(io.StringIO()))
    assert result.checks == {"cpus": str(len(os.sched_getaffinity(0)))}


def test_figures_reported_with_set_stats_become_checks() -> None:
    events = _Events(LineProgress(io.StringIO()))
    events({"event": "playbook_on_stats", "event_data": {"artifact_data": {
        "smack_checks": {"data path": "10 events\n  p50 5 ms"}, "other": {"x": 1}}}})
    assert events.checks == {"data path": "10 events p50 5 ms"}
    nothing = _Events(LineProgress(io.StringIO()))
    nothing({"event": "playbook_on_stats", "event_data": {}})
    assert nothing.checks == {}


def test_verify_prints_the_figures_table() -> None:
    from rich.console import Console

    from infra.ansible import PlaybookResult
    from infra.cli import _verify_tables

    result = PlaybookResult("verify.yml", {}, 1.0, checks={"data path": "p50 5 ms"})
    tables = _verify_tables(result)
    console = Console(file=io.StringIO(), width=120)
    for table in tables:
        console.print(table)
    assert isinstance(console.file, io.StringIO)
    text = console.file.getvalue()
    assert "verify.yml: figures" in text and "data path" in text and "p50 5 ms" in text
    assert len(_verify_tables(PlaybookResult("verify.yml", {}, 1.0))) == 2


SITE = {"stack": "s", "playbook": "site.yml", "inventory_digest": "a", "content_digest": "b",
        "extravars": {}, "forks": 20, "hosts": {"node-1": {"ok": 9}}, "drift": []}


def test_a_refresh_keeps_what_the_check_would_change_and_the_next_update_runs_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n")
    seen: list[dict[str, Any]] = []

    def checked(args: dict[str, Any]) -> dict[str, Any]:
        seen.append(args)
        return {"playbook": "site.yml", "hosts": {}, "duration_seconds": 1.0,
                "would_change": ["node-3: Enable and start the unit - mesos-agent",
                                 "node-2: Write limits (/etc/security/limits.d/60-smack.conf)"]}

    monkeypatch.setattr(ansible, "_run_logged", checked)
    provider = AnsibleRunProvider()
    props = {**SITE, "inventory": str(inventory)}
    read = provider.read("id", props)
    assert seen and seen[0]["check"] is True and seen[0]["inventory"] == str(inventory)
    assert read.outs["drift"] == ["node-2: Write limits (/etc/security/limits.d/60-smack.conf)",
                                  "node-3: Enable and start the unit - mesos-agent"]
    assert read.outs["hosts"] == props["hosts"]  # the last real run's figures stay
    news = {**props, "drift": None, "hosts": None}
    assert provider.diff("id", read.outs, news).changes
    assert not provider.diff("id", props, news).changes  # no drift, no run

    def ran(args: dict[str, Any]) -> dict[str, Any]:
        return {"playbook": "site.yml", "hosts": {"node-1": {"ok": 9}}, "duration_seconds": 2.0}

    monkeypatch.setattr(ansible, "_run_logged", ran)
    after = provider.update("id", read.outs, news).outs
    assert after["drift"] == []
    assert not provider.diff("id", after, news).changes


def test_a_refresh_that_cannot_check_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    provider = AnsibleRunProvider()
    lost = {**SITE, "inventory": str(tmp_path / "gone" / "hosts.yml")}
    assert provider.read("id", lost).outs == lost  # no inventory here: nothing to check with
    assert "no drift check" in capsys.readouterr().err

    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n")

    def unreachable(args: dict[str, Any]) -> dict[str, Any]:
        raise AnsibleRunError("site.yml", ["node-2: task 'Gathering Facts': unreachable"])

    monkeypatch.setattr(ansible, "_run_logged", unreachable)
    read = provider.read("id", {**SITE, "inventory": str(inventory)})
    assert read.outs["drift"] == ["check failed: node-2: task 'Gathering Facts': unreachable"]
    assert provider.diff("id", read.outs, {**SITE, "inventory": str(inventory)}).changes
    assert "drift: check failed: node-2" in capsys.readouterr().err
