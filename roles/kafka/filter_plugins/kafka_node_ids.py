"""Which node id each broker has, and which brokers are the KRaft voters.

A broker's node.id goes into its storage when the storage is formatted (meta.properties), and
the broker refuses to start under another id. Its place in the inventory is not stable: a host
whose name sorts first, or a node group listed first that grows, moves every later broker one
place, and the voters (the first brokers) would change with it. So an id, once given, stays
with its broker: the one its storage holds, else the one the brokers recorded for it (a broker
whose disk was lost comes back as the same member), else its `kafka_node_id`, else the lowest
id no member has. Every broker keeps the record (tasks/node_ids.yml), so a dead broker's id is
still known to the others when it is removed. The voters stay the recorded ones while they
are members; a cluster below its voter count takes the next members in inventory order.
Nothing recorded and nothing formatted (a new cluster): ids 1, 2, ... and the first members
as voters, in inventory order.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from ansible.errors import AnsibleFilterError

_NODE_ID = re.compile(r"(?m)^node\.id=(\d+)\s*$")


class _Sources:
    """What the brokers hold: the id each one's storage was formatted with, and the records."""

    def __init__(self, results: list[dict[str, Any]]) -> None:
        self.stored: dict[str, int] = {}
        self.records: list[tuple[str, dict[str, Any]]] = []
        for result in results:
            if "content" not in result:  # not there yet, or the host is unreachable (dead)
                continue
            host, path = result["item"]
            text = base64.b64decode(result["content"]).decode()
            if path.endswith("meta.properties"):
                found = _NODE_ID.search(text)
                if found:
                    self.stored[host] = int(found.group(1))
            else:
                try:
                    record = json.loads(text)
                except ValueError:
                    raise AnsibleFilterError(
                        f"kafka: {host}:{path} is not JSON; remove it and rerun (the other "
                        f"brokers keep the same record)") from None
                self.records.append((host, record))

    def recorded_ids(self) -> dict[str, int]:
        ids: dict[str, int] = {}
        for holder, record in self.records:
            for host, node_id in (record.get("ids") or {}).items():
                if ids.setdefault(host, int(node_id)) != int(node_id):
                    raise AnsibleFilterError(
                        f"kafka: the brokers' records disagree about {host}: node id "
                        f"{ids[host]} in one, {node_id} in {holder}'s")
        return ids

    def recorded_voters(self) -> list[str]:
        return list(self.records[0][1].get("voters") or []) if self.records else []


def kafka_node_ids(results: list[dict[str, Any]], members: list[str],
                   explicit: dict[str, Any], voter_count: Any) -> dict[str, Any]:
    """{"ids": {member: node id}, "voters": [members]} from the slurp results of each member's
    meta.properties and record (item = [host, path]) and the members' `kafka_node_id`s."""
    sources = _Sources(results)
    recorded = sources.recorded_ids()
    wanted = {host: int(value) for host, value in explicit.items() if str(value).strip()}
    ids: dict[str, int] = {}
    for host in members:
        if host in sources.stored:
            if host in wanted and wanted[host] != sources.stored[host]:
                raise AnsibleFilterError(
                    f"kafka: {host} has kafka_node_id {wanted[host]}, but its storage was "
                    f"formatted as node {sources.stored[host]}; a broker keeps its id: set "
                    f"kafka_node_id: {sources.stored[host]} or remove the setting")
            ids[host] = sources.stored[host]
        elif host in wanted:
            ids[host] = wanted[host]
        elif host in recorded:
            ids[host] = recorded[host]
    holders: dict[int, str] = {}
    for host, node_id in ids.items():
        if node_id in holders:
            raise AnsibleFilterError(
                f"kafka: {holders[node_id]} and {host} would both be node {node_id}; give one "
                f"of them another kafka_node_id")
        holders[node_id] = host
    free = (n for n in range(1, len(members) + len(holders) + 1) if n not in holders)
    for host in members:
        if host not in ids:
            ids[host] = next(free)
    count = min(int(voter_count), len(members))
    voters = [host for host in sources.recorded_voters() if host in ids][:count]
    voters += [host for host in members if host not in voters][:count - len(voters)]
    return {"ids": {host: ids[host] for host in members}, "voters": voters}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"kafka_node_ids": kafka_node_ids}
