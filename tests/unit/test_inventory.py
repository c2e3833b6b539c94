"""Inventory rendering: pure, complete, and readable by ansible itself."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra import ansible
from infra.ansible import AnsibleRunProvider, only_membership_changed
from infra.config import SettingsError, parse_settings
from infra.inventory import (
    inventory_digest,
    membership_shape,
    remove_inventory,
    render_inventory,
    role_variables,
    write_inventory,
)
from infra.nodes.model import Node
from infra.topology import local_address, plan_nodes
from tests.support.settings import parse_only

pytestmark = pytest.mark.unit


def nodes_for(settings_raw: dict[str, object]) -> tuple[object, list[Node]]:
    settings = parse_settings("inv", parse_only(settings_raw))
    nodes = [
        Node(name=p.name, address=local_address(settings, p), ssh_user="smack",
             ssh_key_file="/keys/id", group=p.group, services=p.services, labels=p.labels,
             host_key=f"ssh-ed25519 AAAA{p.name}", node_id=f"id-{p.name}")
        for p in plan_nodes(settings)
    ]
    return settings, nodes


def test_render_is_pure_and_stable(tmp_path: Path) -> None:
    settings, nodes = nodes_for({"smack:target": "local"})
    first = render_inventory(settings, nodes, tmp_path)  # type: ignore[arg-type]
    again = render_inventory(settings, list(reversed(nodes)), tmp_path)  # type: ignore[arg-type]
    assert first == again
    assert not any(tmp_path.iterdir())  # rendering writes nothing


def test_ansible_reads_the_rendered_inventory(tmp_path: Path) -> None:
    settings, nodes = nodes_for({"smack:target": "local",
                                 "smack:nodes": [{"name": "node", "count": 4}]})
    write_inventory(tmp_path, render_inventory(settings, nodes, tmp_path))  # type: ignore[arg-type]
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i",
         str(tmp_path / "hosts.yml"), "--list"],
        capture_output=True, text=True, check=True,
    )
    data = json.loads(proc.stdout)
    assert sorted(data["zookeeper"]["hosts"]) == ["node-1", "node-2", "node-3"]
    assert sorted(data["spark"]["hosts"]) == ["node-1", "node-2", "node-3", "node-4"]
    host = data["_meta"]["hostvars"]["node-4"]
    assert host["ansible_host"] == "198.18.0.13"
    assert host["ansible_user"] == "smack"
    assert host["smack_stack"] == "inv"
    assert host["kafka_heap_mb"] == 512
    assert host["common_swappiness"] == 1
    assert host["smack_nofile_limit"] == 20000
    assert f"UserKnownHostsFile=\"{tmp_path}/known_hosts" in host["ansible_ssh_common_args"]
    assert "ansible_become" not in host  # plays decide; a host var would override them


def test_every_design_group_exists_even_when_empty(tmp_path: Path) -> None:
    settings, nodes = nodes_for({
        "smack:target": "local", "smack:layout": "separate",
        "smack:nodes": [{"name": "n", "count": 1, "services": ["zookeeper"]}],
        "smack:services": {s: {"enabled": False} for s in
                           ["mesos_master", "mesos_agent", "marathon", "kafka", "cassandra",
                            "spark"]},
    })
    doc = yaml.safe_load(render_inventory(settings, nodes, tmp_path)["hosts.yml"])  # type: ignore[arg-type]
    children = doc["all"]["children"]
    assert set(children) == {"zookeeper", "mesos_masters", "mesos_agents", "marathon", "kafka",
                             "cassandra", "spark", "prometheus"}
    # Prometheus runs on the first node of the first group (smack:metrics.group to move it).
    assert children["prometheus"]["hosts"] == {"n-1": None}
    assert children["kafka"]["hosts"] == {}


def test_known_hosts_pin_each_node_key(tmp_path: Path) -> None:
    settings, nodes = nodes_for({"smack:target": "local"})
    files = render_inventory(settings, nodes, tmp_path)  # type: ignore[arg-type]
    assert files["known_hosts"].splitlines() == [
        "198.18.0.10 ssh-ed25519 AAAAnode-1",
        "198.18.0.11 ssh-ed25519 AAAAnode-2",
        "198.18.0.12 ssh-ed25519 AAAAnode-3",
    ]


def test_service_vars_pass_through_with_their_prefix() -> None:
    settings = parse_settings("inv", parse_only({"smack:target": "local", "smack:services": {
        "kafka": {"heap_mb": 768, "vars": {"kafka_extra_properties": {"a": "b"}}}}}))
    variables = role_variables(settings)
    assert variables["kafka_heap_mb"] == 768
    assert variables["kafka_extra_properties"] == {"a": "b"}
    assert "kafka_vars" not in variables


BAREMETAL_ONE_HOST = {"smack:target": "baremetal", "smack:baremetal": {"hosts": [
    {"name": "node-1", "address": "192.0.2.11", "user": "admin", "key_file": "/keys/id"}]}}


@pytest.mark.parametrize(("key", "local", "given", "too_low", "allowed"), [
    ("cassandra_ring_delay_ms", 5000, 15000, 500, "at least 1000"),
    ("cassandra_gossip_settle_max_polls", 0, -1, -2, "at least -1"),
])
def test_cassandra_s_waits_are_short_on_local_nodes_only_and_a_stack_var_wins(
        key: str, local: int, given: int, too_low: int, allowed: str) -> None:
    """The ring delay, and the wait for gossip to settle at each start (skipped)."""
    def value(raw: dict[str, object]) -> object:
        return role_variables(parse_settings("inv", parse_only(raw))).get(
            key, "the role's default")

    assert value({"smack:target": "local"}) == local
    assert value(BAREMETAL_ONE_HOST) == "the role's default"
    assert value({"smack:target": "local", "smack:services": {
        "cassandra": {"vars": {key: given}}}}) == given
    with pytest.raises(SettingsError) as refused:
        value({"smack:target": "local", "smack:services": {
            "cassandra": {"vars": {key: too_low}}}})
    assert (f"smack:services.cassandra.vars.{key}: {too_low} is not allowed; "
            f"allowed: {allowed}") in str(refused.value)


def test_pipelines_and_connector_versions_reach_the_roles() -> None:
    settings = parse_settings("inv", parse_only({
        "smack:target": "local", "smack:pipelines": ["iot"],
        "smack:services": {"spark": {"worker_memory_mb": 1024,
                                     "cassandra_connector_version": "3.5.0"}}}))
    variables = role_variables(settings)
    assert variables["pipelines_enabled"] == ["iot"]
    assert variables["spark_cassandra_connector_version"] == "3.5.0"
    assert variables["spark_kafka_connector_version"] == "3.5.7"
    assert role_variables(parse_settings("inv", parse_only(
        {"smack:target": "local"})))["pipelines_enabled"] == []


def test_write_only_changes_what_differs_and_remove_cleans_up(tmp_path: Path) -> None:
    settings, nodes = nodes_for({"smack:target": "local"})
    files = render_inventory(settings, nodes, tmp_path)  # type: ignore[arg-type]
    digest = write_inventory(tmp_path, files)
    assert digest == inventory_digest(files)
    stamp = (tmp_path / "hosts.yml").stat().st_mtime_ns
    write_inventory(tmp_path, files)
    assert (tmp_path / "hosts.yml").stat().st_mtime_ns == stamp
    (tmp_path / "notes.txt").write_text("mine")
    remove_inventory(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_metrics_follow_their_settings(tmp_path: Path) -> None:
    """Prometheus on the first node of smack:metrics.group; every JVM daemon's JMX agent with
    its own port and file, the node's address filled in by Ansible; nothing with metrics off."""
    settings, nodes = nodes_for({
        "smack:target": "local", "smack:layout": "separate",
        "smack:nodes": [{"name": "core", "count": 1, "services": ["zookeeper", "kafka"]},
                        {"name": "data", "count": 2, "services": ["cassandra", "spark"]}],
        "smack:services": {s: {"enabled": False}
                           for s in ["mesos_master", "mesos_agent", "marathon"]},
        "smack:metrics": {"group": "data"},
    })
    files = render_inventory(settings, nodes, tmp_path)  # type: ignore[arg-type]
    hosts = yaml.safe_load(files["hosts.yml"])["all"]["children"]
    assert hosts["prometheus"]["hosts"] == {"data-1": None}
    variables = yaml.safe_load(files["group_vars/all.yml"])
    agents = variables["smack_java_agents"]
    assert sorted(agents) == ["cassandra", "kafka", "spark_master", "spark_worker", "zookeeper"]
    assert agents["kafka"] == [
        "-javaagent:/opt/smack/jmx_exporter/current/lib/jmx_prometheus_javaagent-1.0.1.jar="
        "{{ smack_node_address }}:7072:/etc/smack/metrics/jmx-kafka.yml"]
    ports = [a[0].split("=", 1)[1].split(":")[1] for a in agents.values()]
    assert len(set(ports)) == len(ports)
    assert variables["metrics_jmx_ports"]["kafka"] == 7072

    off, off_nodes = nodes_for({"smack:target": "local", "smack:metrics": {"enabled": False}})
    files = render_inventory(off, off_nodes, tmp_path)  # type: ignore[arg-type]
    assert yaml.safe_load(files["hosts.yml"])["all"]["children"]["prometheus"]["hosts"] == {}
    assert yaml.safe_load(files["group_vars/all.yml"])["smack_java_agents"] == {}


@pytest.mark.parametrize(("metrics", "message"), [
    ({"group": "nope"}, "smack:metrics.group: 'nope' is not a node group of this stack; "
                        "allowed: one of ['node'], or empty for the first group"),
    ({"vars": {"prometheus_port": 1}},
     "smack:metrics.vars.prometheus_port: variables here must start with 'metrics_'"),
    ({"vars": {"metrics_prometheus_prot": 1}}, "did you mean 'metrics_prometheus_port'?"),
    ({"scrape_interval_seconds": 1}, "smack:metrics.scrape_interval_seconds"),
])
def test_wrong_metrics_settings_name_the_key(metrics: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError) as err:
        parse_settings("inv", parse_only({"smack:target": "local", "smack:metrics": metrics}))
    assert message in str(err.value)


def run_props(settings_raw: dict[str, object], tmp_path: Path,
              replace: str = "") -> dict[str, object]:
    """AnsibleRun's inputs for the inventory these settings render (`replace`: that node came
    back as a new machine, with a new id)."""
    settings, nodes = nodes_for(settings_raw)
    nodes = [dataclasses.replace(n, node_id="new") if n.name == replace else n
             for n in nodes]
    files = render_inventory(settings, nodes, tmp_path)  # type: ignore[arg-type]
    return {"stack": "inv", "playbook": "site.yml", "inventory": str(tmp_path / "hosts.yml"),
            "inventory_digest": inventory_digest(files), "content_digest": "c",
            "extravars": {}, "membership": membership_shape(files)}


def counted(count: int, **extra: object) -> dict[str, object]:
    return {"smack:target": "local", "smack:nodes": [{"name": "node", "count": count}], **extra}


def test_only_nodes_of_the_growing_services_coming_or_going_runs_scale_yml(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """issue 18, item 2: `smack up` after a count change runs scale.yml (no fixed quorum
    touched); every other change, or one together with it, runs site.yml."""
    three, four, five = (run_props(counted(n), tmp_path) for n in (3, 4, 5))
    assert only_membership_changed(three, four) and only_membership_changed(four, three)
    assert only_membership_changed(three, five)
    assert not only_membership_changed(three, dict(three))  # nothing came or went
    # Anything else that changed as well: site.yml.
    heap = run_props(counted(4, **{"smack:services": {"kafka": {"heap_mb": 300}}}), tmp_path)
    assert not only_membership_changed(three, heap)
    assert not only_membership_changed(three, run_props(counted(4), tmp_path, replace="node-2"))
    assert not only_membership_changed(three, {**four, "content_digest": "other"})
    assert not only_membership_changed(three, {**four, "converge": "token"})
    assert not only_membership_changed({**three, "drift": ["node-1: x"]}, four)
    assert not only_membership_changed({**three, "membership": None}, four)  # an older state
    # Below the quorum size the fixed quorums grow with the nodes (the largest odd count that
    # fits): 2 -> 3 changes them, site.yml; 1 -> 2 does not (one member either way).
    one, two = (run_props(counted(n), tmp_path) for n in (1, 2))
    assert only_membership_changed(one, two)
    assert not only_membership_changed(two, three) and not only_membership_changed(three, two)
    # The provider runs the playbook it chose and keeps site.yml as the resource's playbook.
    ran: list[str] = []

    def run(args: dict[str, object]) -> dict[str, object]:
        ran.append(str(args["playbook"]))
        return {"playbook": args["playbook"], "hosts": {}, "duration_seconds": 1.0}

    monkeypatch.setattr(ansible, "_run_logged", run)
    provider = AnsibleRunProvider()
    after = provider.update("id", three, four).outs
    assert (after["playbook"], after["ran"]) == ("site.yml", "scale.yml")
    assert not provider.diff("id", after, four).changes  # the next `up` runs nothing
    assert provider.update("id", three, heap).outs["ran"] == "site.yml"
    assert ran == ["scale.yml", "site.yml"]
