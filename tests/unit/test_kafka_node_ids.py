"""Kafka node ids and voters that stay with their brokers (roles/kafka/filter_plugins)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from infra.paths import PROJECT_DIR
from tests.support.plugins import load_module

ids_plugin = load_module(PROJECT_DIR / "roles" / "kafka" / "filter_plugins" / "kafka_node_ids.py")
META = "/var/lib/kafka/data/meta.properties"
RECORD = "/var/lib/smack/kafka-node-ids.json"


def meta(host: str, node_id: int) -> dict[str, Any]:
    text = f"#\ncluster.id=abc\nnode.id={node_id}\ndirectory.id=xyz\nversion=1\n"
    return {"item": [host, META], "content": base64.b64encode(text.encode()).decode()}


def record(host: str, ids: dict[str, int], voters: list[str]) -> dict[str, Any]:
    text = json.dumps({"ids": ids, "voters": voters})
    return {"item": [host, RECORD], "content": base64.b64encode(text.encode()).decode()}


def missing(host: str, path: str = META) -> dict[str, Any]:
    return {"item": [host, path], "failed": True, "msg": "file not found"}


def decide(results: list[dict[str, Any]], members: list[str],
           explicit: dict[str, Any] | None = None,
           voters: int = 3) -> dict[str, Any]:
    filt = ids_plugin.FilterModule().filters()["kafka_node_ids"]
    return dict(filt(results, members, explicit or {}, str(voters)))


def formatted(ids: dict[str, int], voters: list[str]) -> list[dict[str, Any]]:
    """What a converged cluster holds: each broker its storage and the same record."""
    return [r for host, node_id in ids.items()
            for r in (meta(host, node_id), record(host, ids, voters))]


def test_a_new_cluster_numbers_its_brokers_in_order_and_the_first_ones_vote() -> None:
    members = ["node-1", "node-2", "node-3", "node-4"]
    got = decide([missing(h) for h in members], members)
    assert got == {"ids": {"node-1": 1, "node-2": 2, "node-3": 3, "node-4": 4},
                   "voters": ["node-1", "node-2", "node-3"]}


def test_hosts_that_sort_first_take_free_ids_and_move_no_broker_or_voter() -> None:
    # "alpha" sorts before node-1 (a baremetal host, or a node group listed first that grew).
    held = formatted({"node-1": 1, "node-2": 2, "node-3": 3, "node-4": 4},
                     ["node-1", "node-2", "node-3"])
    members = ["alpha-1", "alpha-2", "node-1", "node-2", "node-3", "node-4"]
    got = decide([*held, missing("alpha-1"), missing("alpha-2")], members)
    assert got["ids"] == {"alpha-1": 5, "alpha-2": 6, "node-1": 1, "node-2": 2, "node-3": 3,
                          "node-4": 4}
    assert got["voters"] == ["node-1", "node-2", "node-3"]


def test_a_broker_removed_from_the_middle_moves_none_and_its_id_is_given_again() -> None:
    held = formatted({"a": 1, "b": 2, "c": 3, "d": 4}, ["a", "b", "c"])
    after = [r for r in held if r["item"][0] != "c"]
    assert decide(after, ["a", "b", "d"])["ids"] == {"a": 1, "b": 2, "d": 4}
    assert decide([*after, missing("e")], ["a", "b", "d", "e"])["ids"]["e"] == 3


def test_a_dead_broker_keeps_the_id_the_others_recorded() -> None:
    held = formatted({"node-1": 1, "node-2": 2, "node-3": 3, "node-5": 7},
                     ["node-1", "node-2", "node-3"])
    # node-5 does not answer: nothing of its own is read.
    alive = [r for r in held if r["item"][0] != "node-5"]
    got = decide(alive, ["node-1", "node-2", "node-3", "node-5"])
    assert got["ids"]["node-5"] == 7


def test_a_broker_whose_disk_was_lost_comes_back_as_the_same_member() -> None:
    held = formatted({"node-1": 1, "node-2": 2, "node-3": 3}, ["node-1", "node-2", "node-3"])
    wiped = [r for r in held if r["item"][0] != "node-2"] + [missing("node-2"),
                                                             missing("node-2", RECORD)]
    got = decide(wiped, ["node-1", "node-2", "node-3"])
    assert got == {"ids": {"node-1": 1, "node-2": 2, "node-3": 3},
                   "voters": ["node-1", "node-2", "node-3"]}


def test_a_cluster_formatted_before_the_records_keeps_its_stored_ids() -> None:
    # No record anywhere (brokers formatted by an older smack): storage decides.
    members = ["a", "b", "c"]
    got = decide([meta("a", 1), meta("b", 2), meta("c", 3)], ["x", *members])
    assert got["ids"] == {"x": 4, "a": 1, "b": 2, "c": 3}


def test_the_voters_grow_with_a_small_cluster_keeping_the_ones_it_has() -> None:
    held = formatted({"node-2": 1}, ["node-2"])
    members = ["node-1", "node-2", "node-3"]
    got = decide([*held, missing("node-1"), missing("node-3")], members)
    assert got["ids"] == {"node-1": 2, "node-2": 1, "node-3": 3}
    assert got["voters"] == ["node-2", "node-1", "node-3"]
    assert decide([], ["a", "b"], voters=3)["voters"] == ["a", "b"]


def test_kafka_node_id_names_the_id_of_a_broker_not_formatted_yet() -> None:
    members = ["a", "b", "c"]
    got = decide([missing(h) for h in members], members, {"a": "", "b": 10, "c": "2"})
    assert got["ids"] == {"a": 1, "b": 10, "c": 2}


@pytest.mark.parametrize(("results", "explicit", "message"), [
    ([meta("a", 1)], {"a": 5},
     "a has kafka_node_id 5, but its storage was formatted as node 1"),
    ([meta("a", 1), meta("b", 1)], {}, "a and b would both be node 1"),
    ([meta("a", 1)], {"b": 1}, "a and b would both be node 1"),
    ([record("a", {"c": 3}, []), record("b", {"c": 4}, [])], {},
     "the brokers' records disagree about c: node id 3 in one, 4 in b's"),
    ([{"item": ["a", RECORD], "content": base64.b64encode(b"{not json").decode()}], {},
     f"a:{RECORD} is not JSON"),
])
def test_contradictions_are_refused_by_name(results: list[dict[str, Any]],
                                            explicit: dict[str, Any], message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(")):
        decide(results, ["a", "b", "c"], explicit)
