"""`smack scale`: the node group it picks, the refusals, and the settings it checks first."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import cli
from infra.config import SettingsError, load_stack_file
from infra.errors import SmackError
from infra.retire import DEAD_NODES_ENV, dead_nodes_from_env, leaving_nodes, removal_extravars
from infra.scale import group_index, removal, scaled_settings
from tests.support.settings import PARSE_ONLY_PACKAGES

pytestmark = pytest.mark.unit


def project(tmp_path: Path, nodes: str, layout: str = "converged") -> Path:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.t.yaml").write_text(
        "# a comment that must survive\n"
        "config:\n"
        "  smack:target: local\n"
        f"  smack:layout: {layout}\n"
        f"  smack:nodes:\n{nodes}"
        f"  smack:packages: {PARSE_ONLY_PACKAGES}\n")
    return tmp_path


TWO_GROUPS = ("    - {name: core, count: 3, services: [zookeeper, mesos_master, marathon, kafka]}\n"
              "    - {name: workers, count: 2, services: [mesos_agent, cassandra, spark]}\n")


def test_a_group_by_name_and_agents_by_what_runs_there(tmp_path: Path) -> None:
    settings = load_stack_file(project(tmp_path, TWO_GROUPS, "separate"), "t")
    assert group_index(settings, "core") == 0
    assert group_index(settings, "workers") == 1
    assert group_index(settings, "agents") == 1
    with pytest.raises(SmackError, match=r"no node group 'edge' in smack:nodes; "
                                         r"allowed: 'core', 'workers'"):
        group_index(settings, "edge")


def test_agents_in_the_converged_layout_is_the_only_group(tmp_path: Path) -> None:
    settings = load_stack_file(project(tmp_path, "    - {name: node, count: 3}\n"), "t")
    assert group_index(settings, "agents") == 0


def test_the_new_count_is_checked_like_any_setting(tmp_path: Path) -> None:
    directory = project(tmp_path, TWO_GROUPS, "separate")
    settings = load_stack_file(directory, "t")
    index, old, new = scaled_settings(settings, directory, "agents", 4)
    assert (index, old, new.nodes[1].count, new.nodes[0].count) == (1, 2, 4, 3)
    with pytest.raises(SettingsError) as caught:
        scaled_settings(settings, directory, "agents", 51)
    assert "smack:nodes[1].count" in str(caught.value)
    assert "51" in str(caught.value)


@pytest.mark.parametrize(("commands", "said"), [
    ([["scale", "edge", "4"], ["scale", "workers", "-1"]],
     ["no node group 'edge'", "smack:nodes[1].count"]),
    ([["remove-node", "core-3", "--dead"]], ["core-3 runs zookeeper"]),
])
def test_a_refused_scale_or_removal_changes_no_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        commands: list[list[str]], said: list[str]) -> None:
    directory = project(tmp_path, TWO_GROUPS, "separate")
    monkeypatch.setattr(cli, "PROJECT_DIR", directory)
    before = (directory / "stacks" / "Pulumi.t.yaml").read_bytes()
    for command in commands:
        assert cli.main([command[0], "-s", "t", *command[1:]]) == 2
    err = capsys.readouterr().err
    for text in said:
        assert text in err
    assert (directory / "stacks" / "Pulumi.t.yaml").read_bytes() == before


def test_leaving_nodes_are_the_inventory_hosts_no_longer_planned(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.yml"
    assert leaving_nodes(hosts, ["node-1"]) == []  # no inventory yet: nobody leaves
    hosts.write_text("all:\n  hosts:\n    node-1: {}\n    node-2: {}\n    node-3: {}\n")
    assert leaving_nodes(hosts, ["node-1", "node-2", "node-3"]) == []
    assert leaving_nodes(hosts, ["node-1"]) == ["node-2", "node-3"]
    hosts.write_text("all: [unclosed\n")
    with pytest.raises(SmackError, match="not readable as YAML"):
        leaving_nodes(hosts, [])


def test_remove_node_takes_the_last_node_of_a_group_that_holds_no_quorum(tmp_path: Path) -> None:
    directory = project(tmp_path, TWO_GROUPS, "separate")
    settings = load_stack_file(directory, "t")
    assert removal(settings, directory, "workers-2", dead=True) == (1, 2)
    with pytest.raises(SmackError, match=r"workers-1 is not the last node of group 'workers' "
                                         r"\(workers-2 is\)"):
        removal(settings, directory, "workers-1", dead=False)
    with pytest.raises(SmackError, match=r"core-3 runs zookeeper, mesos_master, marathon, whose "
                                         r"membership smack keeps fixed.*cannot be removed --dead"):
        removal(settings, directory, "core-3", dead=True)
    with pytest.raises(SmackError, match=r"has no node 'node-9'; nodes: core-1, core-2, core-3, "
                                         r"workers-1, workers-2"):
        removal(settings, directory, "node-9", dead=True)


def test_remove_node_refuses_a_count_the_settings_refuse(tmp_path: Path) -> None:
    directory = project(tmp_path, "    - {name: node, count: 4}\n")
    settings = load_stack_file(directory, "t")
    assert removal(settings, directory, "node-4", dead=False) == (0, 4)
    (tmp_path / "one").mkdir()
    one = project(tmp_path / "one", TWO_GROUPS.replace("count: 2", "count: 1"), "separate")
    # The last worker: its services would have no node left.
    with pytest.raises(SettingsError, match=r"smack:services.cassandra: enabled but no node "
                                            r"group lists it"):
        removal(load_stack_file(one, "t"), one, "workers-1", dead=True)


def test_dead_nodes_reach_remove_node_only_for_nodes_that_leave() -> None:
    assert dead_nodes_from_env({DEAD_NODES_ENV: " node-4, ,node-5"}) == ["node-4", "node-5"]
    assert dead_nodes_from_env({}) == []
    assert removal_extravars(["node-4"], []) == {"remove_nodes": "node-4"}
    assert removal_extravars(["node-4", "node-5"], ["node-5"]) == {
        "remove_nodes": "node-4,node-5", "remove_dead_nodes": "node-5"}
    with pytest.raises(SmackError, match=r"SMACK_DEAD_NODES=node-2: node-2 is not among the "
                                         r"nodes this run removes \(node-4\)"):
        removal_extravars(["node-4"], ["node-2"])
