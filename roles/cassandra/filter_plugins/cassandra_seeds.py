"""Which members are Cassandra's seeds: the ones the members already name, kept.

A seed never bootstraps: Cassandra skips streaming for a node that finds its own address in its
seed list, so a node that joins a ring holding data as a seed takes over token ranges without
their rows. Seeds taken by position in the inventory did exactly that to a node whose name
sorts first (or any node that joined a ring smaller than `cassandra_seed_count`), and moved
the seed list of every member with it. So the seeds stay the ones in the members'
cassandra.yaml while they are members that hold data; a list short of `count` (a seed was
removed, the count was raised, a ring still growing) takes the next members that hold data in
inventory order. A brand-new ring (no member holds data) takes its first members, as before.
A node that joined in this run is a candidate from the next run on, once it holds data.

`results | cassandra_seeds(members, addresses, holds_data, count)`: `results` are the slurps
of the members' cassandra.yaml (common's member_files: `item` is [host, path]), `addresses`
and `holds_data` every member's address and whether it holds data, in member order. Returns
the seeds' addresses in the order the members' files list them, the ones added after.
"""

from __future__ import annotations

import base64
from typing import Any

import yaml
from ansible.errors import AnsibleFilterError


def _listed_seeds(host: str, content: str) -> list[str]:
    """The seed addresses a member's cassandra.yaml names (SimpleSeedProvider's parameter)."""
    try:
        config = yaml.safe_load(base64.b64decode(content).decode())
        providers = config.get("seed_provider") or []
        text = providers[0]["parameters"][0]["seeds"]
    except (yaml.YAMLError, AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(
            f"cassandra: cannot read the seeds from {host}'s cassandra.yaml ({exc}); fix or "
            "remove the file so the next run writes it again"
        ) from exc
    # Cassandra 4 and later accept address:port; smack writes the address alone.
    return [entry.strip().rsplit(":", 1)[0] if entry.count(":") == 1 else entry.strip()
            for entry in str(text).split(",") if entry.strip()]


def cassandra_seeds(results: list[dict[str, Any]], members: list[str], addresses: list[str],
                    holds_data: list[Any], count: Any) -> list[str]:
    wanted = min(int(count), len(members))
    with_data = [address for address, held in zip(addresses, holds_data, strict=True)
                 if str(held).lower() in ("true", "1", "yes")]
    candidates = with_data or list(addresses)  # none holds data: a brand-new ring
    seeds: list[str] = []
    by_host = {result["item"][0]: result for result in results if "content" in result}
    for host in members:  # each member's list in member order: all name the same seeds
        if host in by_host:
            for address in _listed_seeds(host, by_host[host]["content"]):
                if address in candidates and address not in seeds:
                    seeds.append(address)
    seeds = seeds[:wanted]
    seeds += [address for address in candidates if address not in seeds][: wanted - len(seeds)]
    return seeds


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cassandra_seeds": cassandra_seeds}
