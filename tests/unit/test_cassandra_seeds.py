"""Cassandra seeds that stay with the nodes holding them (roles/cassandra/filter_plugins)."""

from __future__ import annotations

import base64
import json
from typing import Any

import jinja2
import pytest
from ansible.errors import AnsibleFilterError

from infra.paths import PROJECT_DIR
from tests.support.plugins import load_module

seeds_plugin = load_module(
    PROJECT_DIR / "roles" / "cassandra" / "filter_plugins" / "cassandra_seeds.py")
TEMPLATE = PROJECT_DIR / "roles" / "cassandra" / "templates" / "cassandra.yaml.j2"
CONF = "/etc/cassandra/cassandra.yaml"


def address(host: str) -> str:
    return f"198.18.0.{int(host.rsplit('-', 1)[1]) + 10}"


def rendered(seeds: list[str]) -> str:
    """The seed_provider block of the role's own template, rendered with `seeds`."""
    lines = TEMPLATE.read_text().splitlines()
    start = lines.index("seed_provider:")
    block = "\n".join(lines[start:start + 4])
    # YAML, not HTML: Ansible renders its templates without escaping too.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    env.filters["to_json"] = json.dumps
    return "cluster_name: smack\n" + env.from_string(block).render(_cassandra_seeds=seeds) + "\n"


def conf(host: str, seeds: list[str], text: str | None = None) -> dict[str, Any]:
    body = text if text is not None else rendered(seeds)
    return {"item": [host, CONF], "content": base64.b64encode(body.encode()).decode()}


def missing(host: str) -> dict[str, Any]:
    return {"item": [host, CONF], "failed": True, "msg": "file not found"}


def decide(results: list[dict[str, Any]], members: list[str], holding: set[str],
           count: int = 3) -> list[str]:
    filt = seeds_plugin.FilterModule().filters()["cassandra_seeds"]
    return list(filt(results, members, [address(h) for h in members],
                     [h in holding for h in members], str(count)))


def ring(members: list[str], seeds: list[str]) -> list[dict[str, Any]]:
    """What a converged ring holds: every member's cassandra.yaml naming the same seeds."""
    return [conf(h, [address(s) for s in seeds]) for h in members]


def test_a_brand_new_ring_takes_its_first_members() -> None:
    members = ["node-1", "node-2", "node-3", "node-4"]
    assert decide([missing(h) for h in members], members, set()) == \
        [address("node-1"), address("node-2"), address("node-3")]


def test_a_joiner_that_sorts_first_is_not_a_seed_and_moves_none() -> None:
    settled = ["node-2", "node-3", "node-4"]
    members = ["node-1", *settled]
    got = decide([missing("node-1"), *ring(settled, settled)], members, set(settled))
    assert got == [address(h) for h in settled]


def test_a_joiner_of_a_ring_below_the_seed_count_is_not_its_own_seed() -> None:
    # 2 → 3 with three seeds wanted: the old positional rule made node-3 a seed, so it never
    # bootstrapped and took over ranges without their rows.
    members = ["node-1", "node-2", "node-3"]
    results = [*ring(members[:2], members[:2]), missing("node-3")]
    assert decide(results, members, {"node-1", "node-2"}) == [address("node-1"), address("node-2")]
    # The run after, node-3 holds data and completes the list (after the seeds there were).
    results = ring(members, members[:2])
    assert decide(results, members, set(members)) == [address(h) for h in members]


def test_the_seeds_keep_their_order_when_the_group_is_reordered() -> None:
    members = ["node-1", "node-2", "node-3", "node-4", "node-5"]
    reordered = ["node-1", "node-5", "node-4", "node-2", "node-3"]
    seeds = ["node-1", "node-2", "node-3"]
    assert decide(ring(members, seeds), reordered, set(members)) == [address(h) for h in seeds]


def test_a_removed_seed_is_replaced_by_the_next_member_holding_data() -> None:
    members = ["node-1", "node-3", "node-4", "node-5"]  # node-2, a seed, was removed
    results = ring(members, ["node-1", "node-2", "node-3"])
    assert decide(results, members, {"node-1", "node-3", "node-5"}) == \
        [address("node-1"), address("node-3"), address("node-5")]


def test_a_seed_whose_data_is_gone_is_not_kept() -> None:
    members = ["node-1", "node-2", "node-3", "node-4"]
    results = ring(members, ["node-1", "node-2", "node-3"])
    assert decide(results, members, {"node-1", "node-3", "node-4"}) == \
        [address("node-1"), address("node-3"), address("node-4")]


def test_the_count_lowered_or_raised() -> None:
    members = ["node-1", "node-2", "node-3", "node-4"]
    results = ring(members, ["node-2", "node-3", "node-4"])
    assert decide(results, members, set(members), count=1) == [address("node-2")]
    assert decide(results, members, set(members), count=5) == \
        [address(h) for h in ["node-2", "node-3", "node-4", "node-1"]]


def test_a_seed_with_its_port_is_recognised() -> None:
    members = ["node-1", "node-2"]
    text = rendered([f"{address('node-2')}:7000"])
    results = [conf("node-1", [], text), conf("node-2", [], text)]
    assert decide(results, members, set(members), count=1) == [address("node-2")]


@pytest.mark.parametrize("text", ["seed_provider: [", "cluster_name: smack\n", "- just a list\n"])
def test_an_unreadable_file_names_its_host(text: str) -> None:
    members = ["node-1", "node-2"]
    with pytest.raises(AnsibleFilterError, match=r"node-2's cassandra\.yaml"):
        decide([*ring(["node-1"], ["node-1"]), conf("node-2", [], text)], members, set(members))
