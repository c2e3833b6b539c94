"""issue 17, items 4-5: `--json` documents match their schemas and are all stdout holds;
`smack ssh`/`smack logs` connect the way the inventory tells Ansible to; version and
completion."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from infra import cli
from infra.ansible import HostStats, PlaybookResult
from infra.config import parse_settings
from infra.errors import AnsibleRunError, SmackError
from infra.inventory import render_inventory, write_inventory
from infra.json_output import schema_path
from infra.node_shell import (
    log_command,
    log_source,
    secret_values,
    ssh_argv,
    stream_logs,
)
from infra.nodes.model import Node
from infra.status import load_inventory
from infra.status.results import Row, ServiceStatus, StackStatus
from tests.support.settings import parse_only

pytestmark = pytest.mark.unit


def valid(text: str, command: str) -> dict[str, Any]:
    data = json.loads(text)  # the whole of stdout is the document
    jsonschema.validate(data, json.loads(schema_path(command).read_text()))
    return dict(data)


def report(healthy: bool) -> StackStatus:
    rows = [Row("node-1", "broker", "up", "4.1.1", "198.18.0.11:9092", True),
            Row("node-2", "broker", "up" if healthy else "down (connection refused)", "4.1.1",
                "198.18.0.12:9092", healthy)]
    mesos = [Row("node-1", "leader", "elected", "1.11.0 (stand-in)", "198.18.0.11:5050", True)]
    return StackStatus("s", [ServiceStatus("kafka", "Kafka", rows),
                             ServiceStatus("mesos_master", "Mesos masters", mesos)], 1.25)


@pytest.mark.parametrize("healthy", [True, False])
def test_status_json_is_the_schema_document_and_the_exit_says_healthy(
        healthy: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("infra.status.collect_status", lambda stack: report(healthy))
    assert cli.main(["status", "--json", "-s", "s"]) == (0 if healthy else 1)
    data = valid(capsys.readouterr().out, "status")
    assert data["healthy"] is healthy and data["standins"] == ["mesos_master"]
    assert data["services"]["kafka"]["rows"][1]["healthy"] is healthy


def test_verify_json_for_a_passing_and_a_failing_run(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("infra.status.require_inventory", lambda stack: Path("/i/hosts.yml"))

    def passing(playbook: str, inventory: Path, **_: Any) -> PlaybookResult:
        return PlaybookResult(playbook, {"node-1": HostStats(ok=12)}, 30.04,
                              plays=[("Verify Kafka", 4.26)],
                              checks={"kafka": "200 messages produced and consumed"})

    monkeypatch.setattr("infra.ansible.run_playbook", passing)
    assert cli.main(["verify", "--json", "-s", "s"]) == 0
    data = valid(capsys.readouterr().out, "verify")
    assert data["ok"] and data["seconds"] == 30.0 and data["failures"] == []
    assert data["plays"] == [{"name": "Verify Kafka", "seconds": 4.3}]
    assert data["hosts"]["node-1"]["ok"] == 12

    def failing(playbook: str, inventory: Path, **_: Any) -> PlaybookResult:
        raise AnsibleRunError(playbook, ["node-2: task 'Check Kafka': timed out"])

    monkeypatch.setattr("infra.ansible.run_playbook", failing)
    assert cli.main(["verify", "--json", "-s", "s"]) == 1
    data = valid(capsys.readouterr().out, "verify")
    assert not data["ok"] and data["failures"] == ["node-2: task 'Check Kafka': timed out"]


def test_outputs_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = {"nodes": {"node-1": {"address": "198.18.0.11", "services": ["kafka"]}},
               "endpoints": {"kafka": {"bootstrap": "198.18.0.11:9092"}},
               "inventory": "/p/inventories/s/hosts.yml", "ssh": "ssh -i k smack@198.18.0.11",
               "ansible": {"node-1": "ok=3 changed=0 failed=0 unreachable=0"},
               "ca_certificate": "-----BEGIN CERTIFICATE-----", "replacements_waiting": []}
    monkeypatch.setattr("infra.engine.outputs", lambda stack: outputs)
    assert cli.main(["outputs", "--json", "-s", "s"]) == 0
    assert valid(capsys.readouterr().out, "outputs")["outputs"] == outputs


def test_a_document_missing_a_field_fails_its_schema() -> None:
    with pytest.raises(jsonschema.ValidationError):
        valid(json.dumps({"schema": "smack.status/v1", "stack": "s", "healthy": True}), "status")


def test_version_and_completion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"smack {cli.smack_version()}"
    for shell in ("bash", "zsh"):
        assert cli.main(["completion", shell]) == 0
        script = capsys.readouterr().out
        assert all(word in script for word in ("logs", "ssh", "remove-node", "--json"))
    assert cli.main(["completion", "bash"]) == 0
    bash = subprocess.run(["bash", "-n"], input=capsys.readouterr().out, capture_output=True,
                          text=True, check=False)
    assert bash.returncode == 0, bash.stderr  # the bash script parses


# ------------------------------------------------------------------------ ssh and logs


def inventory_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, made: list[Node],
                   **raw: Any) -> Any:
    monkeypatch.setattr("infra.status.inventory.inventory_dir", lambda stack: tmp_path / stack)
    settings = parse_settings("s", parse_only({"smack:target": "local", **raw}))
    directory = tmp_path / "s"
    write_inventory(directory, render_inventory(settings, made, directory))
    return load_inventory("s")


def nodes(key: str = "/keys/id") -> list[Node]:
    return [
        Node("node-1", "198.18.0.11", "smack", key, "node", ("kafka", "marathon"),
             host_key="ssh-ed25519 AAAA1", node_id="node-1"),
        Node("node-2", "10.0.1.12", "admin", key, "node", ("kafka",), ssh_port=2222,
             node_id="node-2", proxy_jump="admin@203.0.113.5"),
        Node("node-3", "198.18.0.13", "root", "", "node", ("kafka",), become=False,
             host_key="ssh-ed25519 AAAA3", node_id="node-3"),
    ]


def resolved(argv: list[str]) -> dict[str, str]:
    """What ssh itself makes of the options (`ssh -G` resolves them without connecting);
    an option given several times (identityfile) as its values joined by newlines."""
    options = argv[1:argv.index("--")] if "--" in argv else argv[1:]
    proc = subprocess.run(["ssh", "-G", *options], capture_output=True, text=True, check=True,
                          env={**os.environ, "HOME": "/nonexistent"})
    seen: dict[str, list[str]] = {}
    for key, _, value in (line.partition(" ") for line in proc.stdout.splitlines()):
        seen.setdefault(key, []).append(value)
    return {key: "\n".join(values) for key, values in seen.items()}


def test_ssh_connects_the_way_ansible_does(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "id"  # ssh -G leaves out identity files that do not exist
    key.write_text("")
    inv = inventory_with(tmp_path, monkeypatch, nodes(str(key)))
    known = str(tmp_path / "s" / "known_hosts")

    one = ssh_argv(inv, inv.hosts["node-1"], ["journalctl"], sudo=True)
    seen = resolved(one)
    assert (seen["hostname"], seen["port"], seen["user"]) == ("198.18.0.11", "22", "smack")
    assert str(key) in seen["identityfile"].splitlines() and seen["identitiesonly"] == "yes"
    assert seen["userknownhostsfile"].split()[0] == known
    assert seen["batchmode"] == "yes"
    assert one[one.index("--") + 1:] == ["sudo", "-n", "journalctl"]

    seen = resolved(ssh_argv(inv, inv.hosts["node-2"], ["true"]))
    assert seen["port"] == "2222" and seen["user"] == "admin"
    # The jump host gets the stack's key too (ProxyCommand, as in the inventory).
    assert "-W %h:%p admin@203.0.113.5" in seen["proxycommand"]
    assert f"-i {key}" in seen["proxycommand"]

    three = ssh_argv(inv, inv.hosts["node-3"], ["journalctl"], sudo=True)
    assert three[three.index("--") + 1:] == ["journalctl"]  # root, Ansible does not become
    assert "-i" not in three

    shell = ssh_argv(inv, inv.hosts["node-1"], interactive=True)
    assert "-t" in shell and "BatchMode=yes" not in shell and "--" not in shell
    # A command given to `smack ssh` runs as given: no sudo added.
    given = ssh_argv(inv, inv.hosts["node-1"], ["id", "-u"], interactive=True)
    assert given[given.index("--") + 1:] == ["id", "-u"]


def test_log_commands_read_the_journal_or_the_role_s_log_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory_with(tmp_path, monkeypatch, nodes())
    host = inv.hosts["node-1"]
    assert log_command(inv, log_source("kafka"), host, 20, follow=False) == [
        "journalctl", "-u", "kafka", "--no-pager", "-o", "short-iso", "-n", "20"]
    spark = log_command(inv, log_source("spark"), host, 5, follow=True)
    assert spark.count("-u") == 4 and spark[-1] == "-f"
    assert log_command(inv, log_source("mesos_agent"), host, 5, follow=False)[2] == "mesos-agent"
    assert log_command(inv, log_source("marathon"), host, 7, follow=True) == [
        "tail", "-n", "7", "-F", "/var/log/marathon/marathon.log"]
    quiet = inventory_with(tmp_path, monkeypatch, nodes(), **{
        "smack:services": {"marathon": {"vars": {"marathon_log_file": ""}}}})
    assert log_command(quiet, log_source("marathon"), quiet.hosts["node-1"], 7,
                       follow=False)[:3] == ["journalctl", "-u", "marathon"]
    with pytest.raises(SmackError, match="no service 'kafak'; allowed: zookeeper"):
        log_source("kafak")


def test_logs_come_prefixed_from_every_node_and_failures_are_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory_with(tmp_path, monkeypatch, nodes())
    # A stand-in for the ssh client on PATH: answers as the host it was asked for; the jump
    # host's node does not answer.
    fake = tmp_path / "bin" / "ssh"
    fake.parent.mkdir()
    secret = "Zq3" * 11  # a generated password as long as smack's (32+ characters)
    inv = replace(inv, credentials={"marathon": {"http": {"user": "marathon",
                                                          "password": secret}}})
    fake.write_text("#!/bin/sh\n"
                    "for a; do case $a in --) break;; esac; host=$a; done\n"
                    "case $host in 10.0.1.12) echo 'Connection timed out' >&2; exit 255;; esac\n"
                    "echo \"first line of $host\"; echo \"second line of $host\"\n"
                    f"echo ' - http_credentials (*) = marathon:{secret}'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    lines: list[str] = []
    failures = stream_logs(inv, "kafka", node=None, lines=2, follow=False, out=lines.append)
    assert sorted(lines) == ["node-1 |  - http_credentials (*) = marathon:[redacted]",
                             "node-1 | first line of 198.18.0.11",
                             "node-1 | second line of 198.18.0.11",
                             "node-3 |  - http_credentials (*) = marathon:[redacted]",
                             "node-3 | first line of 198.18.0.13",
                             "node-3 | second line of 198.18.0.13"]
    assert failures == ["node-2: exit 255: Connection timed out"]
    lines.clear()
    assert stream_logs(inv, "marathon", node=None, lines=2, follow=False, out=lines.append) == []
    assert {line.split(" | ")[0] for line in lines} == {"node-1"}  # only Marathon's node
    with pytest.raises(SmackError, match="node-2 does not run marathon; it runs on node-1"):
        stream_logs(inv, "marathon", node="node-2", lines=2, follow=False, out=lines.append)
    with pytest.raises(SmackError, match="has no node 'node-9'"):
        stream_logs(inv, "kafka", node="node-9", lines=2, follow=False, out=lines.append)


def test_ssh_takes_everything_after_the_node_as_the_command(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str, list[str]]] = []
    monkeypatch.setattr("infra.status.load_inventory", lambda stack: stack)
    monkeypatch.setattr("infra.node_shell.open_shell",
                        lambda inv, node, command: calls.append((inv, node, list(command))) or 7)
    assert cli.main(["ssh", "-s", "s", "node-2", "--", "ls", "-l", "/etc"]) == 7
    assert cli.main(["ssh", "node-1"]) == 7
    assert calls == [("s", "node-2", ["ls", "-l", "/etc"]), ("local", "node-1", [])]


def test_secrets_are_the_long_values_of_the_credentials_file() -> None:
    token = "A" * 32
    pem = "-----BEGIN PRIVATE KEY-----\n" + "B" * 64 + "\nCCCC\n-----END PRIVATE KEY-----\n"
    found = secret_values({"kafka": {"users": {"smack": token}}, "ca": {"key": pem},
                           "mesos": [{"principal": "agent", "secret": "D" * 40}]})
    # Longest first, so a secret that contains another is masked whole.
    assert found == ["B" * 64, "D" * 40, token, "-----BEGIN PRIVATE KEY-----",
                     "-----END PRIVATE KEY-----"]
    assert "agent" not in found and "smack" not in found
