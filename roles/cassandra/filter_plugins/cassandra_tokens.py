"""Tokens for the members of a brand-new Cassandra ring, decided before any of them starts.

Nodes of an empty ring that start together cannot let Cassandra pick their tokens: each would
pick as if it were alone, and the ring would be lopsided or collide. Cassandra's documented way
for a new cluster is `initial_token`: here the Murmur3 range is cut into `count * num_tokens`
equal steps and member `index` takes every `count`-th of them, starting at its own index, so
the members' tokens interleave and each owns the same share of the ring (1 / count of the
primary ranges, whatever the replication factor).

Replicas are placed per datacenter (NetworkTopologyStrategy walks the ring once per dc), so
each datacenter gets such a ring of its own among its members, shifted by the datacenter's
position (a few tokens, far less than one step) so that no two nodes share a token. Inside a
datacenter replicas go to distinct racks, so its members take their places on the ring rack
by rack in turn (r1, r2, r3, r1, ...), and neighbouring tokens sit on different racks wherever
the racks' sizes allow.

`dcs | cassandra_initial_tokens(racks, index, num_tokens)` is member `index`'s list, `dcs` and
`racks` being every member's datacenter and rack in member order, as the comma-separated text
`initial_token` takes;
`cassandra_token_ownership(tokens_by_node)` is each node's share of the primary ranges, for
checks.
"""

from __future__ import annotations

import itertools
from typing import Any

# Murmur3Partitioner's tokens are signed 64-bit integers; its minimum is never a node's token.
MIN_TOKEN = -(2**63)
RING = 2**64


def initial_tokens(index: int, count: int, num_tokens: int, offset: int = 0) -> list[int]:
    if count < 1 or num_tokens < 1 or not 0 <= index < count:
        raise ValueError(f"member {index} of {count} with {num_tokens} tokens each: no such member")
    step = RING // (count * num_tokens)
    # +1 keeps the first token off the partitioner's minimum, which Cassandra reserves.
    return [MIN_TOKEN + 1 + offset + (index + count * slot) * step for slot in range(num_tokens)]


def member_tokens(dcs: list[str], racks: list[str], index: int, num_tokens: int) -> list[int]:
    """Member `index`'s tokens: evenly interleaved among the members of its datacenter,
    whose places on the ring go to its racks in turn."""
    if len(racks) != len(dcs) or not 0 <= index < len(dcs):
        raise ValueError(f"member {index} of {len(dcs)} ({len(racks)} racks): no such member")
    by_rack: dict[str, list[int]] = {}
    for i, dc in enumerate(dcs):
        if dc == dcs[index]:
            by_rack.setdefault(racks[i], []).append(i)
    # Round robin over the racks: the first member of each rack, then the second, ...
    order = [i for turn in itertools.zip_longest(*by_rack.values()) for i in turn if i is not None]
    return initial_tokens(order.index(index), len(order), num_tokens,
                          offset=list(dict.fromkeys(dcs)).index(dcs[index]))


def cassandra_initial_tokens(dcs: Any, racks: Any, index: Any, num_tokens: Any) -> str:
    return ",".join(str(t) for t in member_tokens([str(dc) for dc in dcs],
                                                    [str(rack) for rack in racks], int(index),
                                                    int(num_tokens)))


def cassandra_token_ownership(tokens_by_node: dict[str, list[int]]) -> dict[str, float]:
    """Each node's share of the ring: a token owns the range from the token before it."""
    ring = sorted((int(token), node) for node, tokens in tokens_by_node.items() for token in tokens)
    owned = dict.fromkeys(tokens_by_node, 0)
    for position, (token, node) in enumerate(ring):
        before = ring[position - 1][0]
        owned[node] += (token - before) % RING or RING
    return {node: share / RING for node, share in owned.items()}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cassandra_initial_tokens": cassandra_initial_tokens}
