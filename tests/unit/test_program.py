"""The Pulumi program under mocks: which resources each stack registers, and in what shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.runtime import MockResourceArgs

from tests.unit.pulumi_mocks import Recorder, run_program

pytestmark = pytest.mark.unit


def test_local_stack_registers_key_network_nodes_inventory_and_run() -> None:
    rec = run_program({"smack:target": "local"})
    assert sorted(rec.names()) == sorted(["local", "ssh-key", "network", "node-1", "node-2",
                                          "node-3", "node-1-disks", "node-2-disks",
                                          "node-3-disks", "inventory", "credentials", "site"])
    assert rec.named("local").typ == "smack:local:Cluster"
    node = rec.named("node-2").inputs
    assert node["address"] == "198.18.0.11"
    assert node["container"] == "smack-unit-node-2"
    assert node["network"] == "smack-unit"
    assert node["cgroupns"] == "host"
    assert node["init_args"] == ["systemd.unified_cgroup_hierarchy=0",
                                 "systemd.legacy_systemd_cgroup_controller=1"]
    assert node["public_key"] == "ssh-ed25519 AAAAmock smack-unit"
    engine = node["engine"]
    assert (engine["name"], engine["runtime"], engine["nofile"]) == ("podman", "runc", 20000)
    assert rec.named("network").inputs["subnet"] == "198.18.0.0/24"


def test_each_local_node_mounts_the_volumes_of_its_own_disks() -> None:
    rec = run_program({"smack:target": "local"})
    disks = rec.named("node-2-disks").inputs
    assert rec.named("node-2").inputs["volumes"] == disks["volumes"]
    assert all(v.startswith("smack-unit-node-2-var-lib-") for v, _ in disks["volumes"])


def test_nodes_a_replacing_change_has_not_reached_are_an_output(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A node whose container (its outputs) lacks a change waits for its turn."""

    class OneBehind(Recorder):
        def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
            rid, outs = super().new_resource(args)
            if args.name == "node-2":
                outs["cpus"] = 7  # the running container still has the old limit
            return rid, outs

    from infra import program

    said: list[list[str]] = []
    monkeypatch.setattr(program, "_say_waiting", lambda names: said.append(names) or names)
    run_program({"smack:target": "local"}, recorder=OneBehind())
    run_program({"smack:target": "local"})
    assert said == [["node-2"], []]


def test_inventory_is_rendered_from_the_nodes() -> None:
    rec = run_program({"smack:target": "local"})
    files = rec.named("inventory").inputs["files"]
    hosts = yaml.safe_load(files["hosts.yml"])["all"]
    assert hosts["hosts"]["node-3"]["ansible_host"] == "198.18.0.12"
    assert hosts["hosts"]["node-3"]["smack_node_id"] == "cid-node-3"
    assert "198.18.0.12 ssh-ed25519 AAAAhostnode-3" in files["known_hosts"]
    run = rec.named("site").inputs
    assert run["playbook"] == "site.yml"
    assert run["inventory_digest"] == "mock-digest"
    assert len(run["content_digest"]) == 64


def test_raising_the_count_adds_only_new_names() -> None:
    three = run_program({"smack:target": "local"})
    four = run_program({"smack:target": "local", "smack:nodes": [{"name": "node", "count": 4}]})
    before = {r.name: r.inputs["address"] for r in three.resources if "address" in r.inputs}
    after = {r.name: r.inputs["address"] for r in four.resources if "address" in r.inputs}
    assert set(after) - set(before) == {"node-4"}
    assert all(after[n] == before[n] for n in before)  # nothing renumbered
    groups = yaml.safe_load(four.named("inventory").inputs["files"]["hosts.yml"])
    children = groups["all"]["children"]
    assert sorted(children["zookeeper"]["hosts"]) == ["node-1", "node-2", "node-3"]
    assert sorted(children["kafka"]["hosts"]) == ["node-1", "node-2", "node-3", "node-4"]


def test_lowering_the_count_drops_the_highest_numbered_nodes() -> None:
    rec = run_program({"smack:target": "local", "smack:nodes": [{"name": "node", "count": 1}]})
    assert [n for n in rec.names() if n.startswith("node-")] == ["node-1-disks", "node-1"]


def test_separate_layout_places_services_per_group() -> None:
    rec = run_program({
        "smack:target": "local",
        "smack:layout": "separate",
        "smack:nodes": [
            {"name": "master", "count": 3, "services": ["zookeeper", "mesos_master", "marathon"]},
            {"name": "data", "count": 2, "services": ["kafka", "cassandra"],
             "labels": {"rack": "r1"}},
            {"name": "agent", "count": 2, "services": ["mesos_agent", "spark"]},
        ],
    })
    assert rec.named("data-1").inputs["address"] == "198.18.0.60"
    assert rec.named("agent-2").inputs["address"] == "198.18.0.111"
    doc = yaml.safe_load(rec.named("inventory").inputs["files"]["hosts.yml"])["all"]
    assert sorted(doc["children"]["cassandra"]["hosts"]) == ["data-1", "data-2"]
    assert sorted(doc["children"]["mesos_masters"]["hosts"]) == ["master-1", "master-2",
                                                                "master-3"]
    assert doc["hosts"]["data-2"]["smack_node_labels"] == {"rack": "r1"}


def test_invalid_settings_stop_the_program_before_any_resource() -> None:
    import pulumi

    with pytest.raises(pulumi.RunError, match=r"smack:local\.engine: 'lxc' is not allowed"):
        run_program({"smack:target": "local", "smack:local": {"engine": "lxc"}})


def test_aws_stack_hands_its_nodes_to_the_inventory(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.unit.aws_mocks import AwsRecorder

    monkeypatch.setenv("SMACK_STATE_DIR", str(tmp_path))
    rec = run_program({"smack:target": "aws", "smack:aws": {"bastion": True,
                                                           "admin_cidrs": ["203.0.113.0/24"]}},
                      recorder=AwsRecorder())
    assert rec.named("aws").typ == "smack:aws:Cluster"
    hosts = yaml.safe_load(rec.named("inventory").inputs["files"]["hosts.yml"])["all"]["hosts"]
    assert sorted(hosts) == ["node-1", "node-2", "node-3"]
    assert all("ProxyCommand=" in h["ansible_ssh_extra_args"] for h in hosts.values())
    assert all("StrictHostKeyChecking=accept-new" in h["ansible_ssh_extra_args"]
               for h in hosts.values())


def _inventory(*hosts: str) -> dict[str, str]:
    return {"hosts.yml": "all:\n  hosts:\n" + "".join(f"    {h}: {{}}\n" for h in hosts),
            "group_vars/all.yml": "x: 1\n", "known_hosts": ""}


RETIRE = {"playbook": "remove-node.yml", "stack": "unit", "forks": 5, "verbosity": 0}


def test_hosts_the_kept_inventory_has_and_the_new_one_drops_leave_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scale-in is decided from the inventory the state kept, not from this machine's disk:
    the directory is gone, the leaving nodes are still retired on the inventory that lists
    them, and only then is the new inventory written."""
    from infra import ansible

    monkeypatch.setenv("SMACK_STATE_DIR", str(tmp_path / "state"))
    seen: list[tuple[dict[str, Any], str]] = []
    monkeypatch.setattr(ansible, "run_in_worker", lambda args, _stream: seen.append(
        (args, Path(args["inventory"]).read_text())) or {})
    directory = tmp_path / "inventories" / "unit"  # lost: never written on this machine
    olds = {"dir": str(directory), "files": _inventory(*(f"node-{n}" for n in range(1, 6))),
            "retire": RETIRE}
    news = {**olds, "files": _inventory("node-1", "node-2", "node-3")}
    outs = ansible.InventoryFilesProvider().update("", olds, news).outs
    [(args, inventory_then)] = seen
    assert args["playbook"] == "remove-node.yml"
    assert args["extravars"] == {"remove_nodes": "node-4,node-5"}
    assert args["inventory"] == str(directory / "hosts.yml") and args["forks"] == 5
    assert "node-5" in inventory_then  # run on the inventory that still had them
    assert (directory / "hosts.yml").read_text() == news["files"]["hosts.yml"]
    assert outs["digest"]


def test_nothing_is_retired_when_no_host_is_dropped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from infra import ansible

    monkeypatch.setenv("SMACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(ansible, "run_in_worker", lambda *_a: pytest.fail("ran a playbook"))
    olds = {"dir": str(tmp_path / "inv"), "files": _inventory("node-1"), "retire": RETIRE}
    grown = {**olds, "files": _inventory("node-1", "node-2")}
    ansible.InventoryFilesProvider().update("", olds, grown)
    # The program hands the inventory its retire step; no separate retire resource.
    rec = run_program({"smack:target": "local"})
    assert rec.named("inventory").inputs["retire"]["playbook"] == "remove-node.yml"
    assert "retire" not in rec.names()




def test_nodes_named_dead_for_the_run_leave_without_being_connected_to(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`smack remove-node node-5 --dead` sets SMACK_DEAD_NODES for its `up`: the program hands
    it to the inventory's retire step, which tells remove-node.yml not to touch node-5."""
    from infra import ansible

    monkeypatch.setenv("SMACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SMACK_DEAD_NODES", "node-5")
    monkeypatch.setenv("SMACK_CONVERGE", "token-1")
    rec = run_program({"smack:target": "local"})
    assert rec.named("inventory").inputs["retire"]["dead"] == ["node-5"]
    assert rec.named("site").inputs["converge"] == "token-1"  # `smack up --converge`
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(ansible, "run_in_worker", lambda args, _stream: seen.append(args) or {})
    olds = {"dir": str(tmp_path / "inv"), "files": _inventory(*(f"node-{n}" for n in range(1, 6))),
            "retire": {**RETIRE, "dead": ["node-5"]}}
    ansible.InventoryFilesProvider().update("", olds, {**olds, "files": _inventory(
        "node-1", "node-2", "node-3")})
    assert [args["extravars"] for args in seen] == [
        {"remove_nodes": "node-4,node-5", "remove_dead_nodes": "node-5"}]
