"""playbooks/scale_scope.yml's second play, as shipped, on local "hosts": which members of each
growing service a scale run converges (groups smack_scale_<group>). Joining nodes always; the
members that stay only when their own files could change with the count (fewer of them than
the service's settled size: Kafka's replication and voters, Cassandra's seeds) or a joiner sits
before one of them in a service whose files name members by position (Spark's master). The
first play (the converged marker) is replaced by a host variable here; the scale tests of
tests/integration run it on real nodes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.paths import PROJECT_DIR

pytestmark = pytest.mark.unit

GROUPS = ("kafka", "cassandra", "spark", "mesos_agents")


def scopes(tmp_path: Path, order: list[str], joining: set[str],
           group_vars: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """smack_scale_<group> of every growing group after the play, for nodes in `order` (every
    node in every growing group), `joining` without the converged marker."""
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "hosts": {name: {**host, "joining": name in joining} for name in order},
        "vars": group_vars or {},
        "children": {group: {"hosts": {name: None for name in order}} for group in GROUPS},
    }}, sort_keys=False))
    shipped = yaml.safe_load((PROJECT_DIR / "playbooks" / "scale_scope.yml").read_text())
    sort_play = next(p for p in shipped
                     if p["name"] == "Sort the nodes each growing service converges")
    report = ("{{ groups | dict2items | selectattr('key', 'match', '^smack_scale_') "
              "| items2dict | to_json }}")
    playbook = tmp_path / "scope.yml"
    playbook.write_text(yaml.safe_dump([
        {"name": "Stand in for the converged marker", "hosts": "all", "gather_facts": False,
         "tasks": [{"ansible.builtin.group_by": {"key": "smack_scale_joining"},
                    "when": "joining"}]},
        sort_play,
        {"name": "Report", "hosts": "all", "gather_facts": False, "run_once": True,
         "tasks": [{"ansible.builtin.debug": {"msg": report}}]},
    ], sort_keys=False))
    bin_dir = Path(sys.executable).parent
    proc = subprocess.run(
        [str(bin_dir / "ansible-playbook"), "-i", str(inventory), str(playbook)],
        capture_output=True, text=True, check=False, timeout=120,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path),
             "ANSIBLE_ROLES_PATH": str(PROJECT_DIR / "roles"),
             "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
             "ANSIBLE_LOCALHOST_WARNING": "0"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    tasks = json.loads(proc.stdout)["plays"][-1]["tasks"]
    msg = next(iter(tasks[0]["hosts"].values()))["msg"]
    found = json.loads(msg) if isinstance(msg, str) else msg
    # group_by adds hosts as their results come in: the order is not the inventory's.
    return {group: sorted(found.get(f"smack_scale_{group}", [])) for group in GROUPS}


NODES = ["node-1", "node-2", "node-3"]


def test_a_node_appended_to_a_settled_cluster_is_all_a_scale_converges(tmp_path: Path) -> None:
    assert scopes(tmp_path, [*NODES, "node-4"], {"node-4"}) == {g: ["node-4"] for g in GROUPS}


def test_two_joiners_are_converged_and_nothing_else(tmp_path: Path) -> None:
    assert scopes(tmp_path, [*NODES, "node-4", "node-5"], {"node-4", "node-5"}) == \
        {g: ["node-4", "node-5"] for g in GROUPS}


def test_a_scale_in_of_a_settled_cluster_converges_no_service(tmp_path: Path) -> None:
    assert scopes(tmp_path, [*NODES, "node-4"], set()) == {g: [] for g in GROUPS}


def test_below_three_brokers_and_the_seed_count_the_members_that_stay_are_converged_too(
        tmp_path: Path) -> None:
    # 2 → 3: Kafka's replication and voters change on the first two, and Cassandra's seed
    # list, short of its count, may (a joiner is not a seed before it holds data; a seed
    # removed is replaced); Spark workers and Mesos agents name no other member.
    assert scopes(tmp_path, ["node-1", "node-2", "node-3"], {"node-3"}) == {
        "kafka": ["node-1", "node-2", "node-3"], "cassandra": ["node-1", "node-2", "node-3"],
        "spark": ["node-3"], "mesos_agents": ["node-3"]}


def test_the_services_own_settled_sizes_decide(tmp_path: Path) -> None:
    # Five KRaft voters: a fifth broker changes the voter set on the four there; one seed: a
    # fourth Cassandra node changes nothing on the others.
    five = [*NODES, "node-4", "node-5"]
    assert scopes(tmp_path, five, {"node-5"},
                  {"kafka_controller_count": 5, "cassandra_seed_count": 1}) == {
        "kafka": five, "cassandra": ["node-5"], "spark": ["node-5"],
        "mesos_agents": ["node-5"]}
    # ...and a scale-in that leaves four brokers of five voters converges the four.
    assert scopes(tmp_path, five[:4], set(), {"kafka_controller_count": 5})["kafka"] == five[:4]


def test_a_joiner_placed_before_a_member_converges_the_whole_group_where_files_name_positions(
        tmp_path: Path) -> None:
    # Node groups sort by name: a node added to group "a" comes before group "b"'s nodes,
    # shifting every position-derived value (the Spark master) after it. Kafka's node ids and
    # voters stay with their brokers, Cassandra's seeds with the members that hold them, and no
    # agent file names another member: there only the joiner is converged.
    order = ["a-1", "a-2", "b-1", "b-2", "b-3"]  # sorted already
    assert scopes(tmp_path, order, {"a-2"}) == {
        "kafka": ["a-2"], "cassandra": ["a-2"], "spark": order, "mesos_agents": ["a-2"]}
