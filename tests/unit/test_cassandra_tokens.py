"""The tokens of a brand-new Cassandra ring's members (roles/cassandra/filter_plugins)."""

from __future__ import annotations

import itertools

import pytest

from infra.paths import PROJECT_DIR
from tests.support.plugins import load_module

tokens = load_module(PROJECT_DIR / "roles" / "cassandra" / "filter_plugins" / "cassandra_tokens.py")
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


@pytest.mark.parametrize(("count", "num_tokens"), [(1, 16), (3, 16), (4, 8), (5, 16), (7, 1)])
def test_members_own_equal_shares_of_the_ring(count: int, num_tokens: int) -> None:
    by_node = {f"node-{i}": tokens.initial_tokens(i, count, num_tokens) for i in range(count)}
    every = [t for node in by_node.values() for t in node]
    assert all(len(node) == num_tokens for node in by_node.values())
    assert len(set(every)) == count * num_tokens
    assert all(LONG_MIN < t <= LONG_MAX for t in every)
    shares = tokens.cassandra_token_ownership(by_node)
    assert sum(shares.values()) == pytest.approx(1.0)
    for share in shares.values():
        assert share == pytest.approx(1 / count, rel=1e-9)


def test_members_interleave_so_neighbouring_tokens_belong_to_different_nodes() -> None:
    by_node = {i: tokens.initial_tokens(i, 3, 16) for i in range(3)}
    ring = sorted((t, node) for node, node_tokens in by_node.items() for t in node_tokens)
    owners = [node for _, node in ring]
    # With replication 3, each range's replicas are the next three distinct owners: here
    # always the three nodes, so every node holds every range once.
    assert all(len(set(owners[i:i + 3])) == 3 for i in range(len(owners) - 2))


def test_the_filter_gives_the_text_initial_token_takes_and_the_same_tokens_each_time() -> None:
    text = tokens.FilterModule().filters()["cassandra_initial_tokens"](["dc1"] * 3, ["r1"] * 3,
                                                                       "1", "16")
    assert text == tokens.cassandra_initial_tokens(["dc1"] * 3, ["r1"] * 3, 1, 16)
    assert [int(t) for t in text.split(",")] == tokens.initial_tokens(1, 3, 16)


def test_each_datacenter_is_balanced_on_its_own_and_no_token_is_shared() -> None:
    # NetworkTopologyStrategy walks each datacenter's members alone: interleaving across all
    # six would give the first member of each dc four times the others' share of its dc.
    dcs = ["east", "east", "west", "east", "west", "west", "west"]
    by_node = {i: tokens.member_tokens(dcs, ["r1"] * 7, i, 16) for i in range(len(dcs))}
    every = [t for node in by_node.values() for t in node]
    assert len(set(every)) == len(every)
    for dc, size in (("east", 3), ("west", 4)):
        shares = tokens.cassandra_token_ownership(
            {i: t for i, t in by_node.items() if dcs[i] == dc})
        assert all(share == pytest.approx(1 / size, rel=1e-9) for share in shares.values())
    # One datacenter: the plain interleaving, shifted by nothing.
    assert tokens.member_tokens(["dc1"] * 3, ["r1"] * 3, 2, 16) == tokens.initial_tokens(2, 3, 16)


def test_racks_take_turns_on_the_ring_so_neighbours_sit_on_different_racks() -> None:
    # Listed rack by rack; on the ring they alternate, so each rack-aware replica set of a
    # range finds its racks next to each other and every member owns the same share.
    racks = ["r1", "r1", "r2", "r2", "r3", "r3"]
    by_node = {i: tokens.member_tokens(["dc1"] * 6, racks, i, 16) for i in range(6)}
    ring = sorted((t, racks[node]) for node, node_tokens in by_node.items() for t in node_tokens)
    assert all(a[1] != b[1] for a, b in itertools.pairwise(ring))
    shares = tokens.cassandra_token_ownership(by_node)
    assert all(share == pytest.approx(1 / 6, rel=1e-9) for share in shares.values())
    # Racks of unequal size still give every member its own, evenly spaced places.
    uneven = ["r1", "r1", "r1", "r2"]
    every = [t for i in range(4) for t in tokens.member_tokens(["dc1"] * 4, uneven, i, 8)]
    assert len(set(every)) == 32


def test_a_lopsided_ring_shows_in_the_ownership() -> None:
    shares = tokens.cassandra_token_ownership({"a": [0], "b": [2**62]})
    assert shares == {"a": pytest.approx(0.75), "b": pytest.approx(0.25)}


@pytest.mark.parametrize(("index", "count", "num_tokens"), [(3, 3, 16), (-1, 3, 16), (0, 0, 16),
                                                           (0, 3, 0)])
def test_no_such_member_is_refused(index: int, count: int, num_tokens: int) -> None:
    with pytest.raises(ValueError, match="no such member"):
        tokens.initial_tokens(index, count, num_tokens)
    with pytest.raises(ValueError, match="no such member"):
        tokens.member_tokens(["dc1"] * 3, ["r1"] * 3, 3, 16)
    with pytest.raises(ValueError, match="no such member"):
        tokens.member_tokens(["dc1"] * 3, ["r1"] * 2, 0, 16)
