"""Kafka ACLs of smack's principals: what they should be, what `kafka-acls --list` says they
are, and the kafka-acls calls that take one to the other.

A binding is a dict: principal (User:name), resource_type (TOPIC, GROUP), name, pattern
(LITERAL, PREFIXED), operation (READ, WRITE, DESCRIBE), host, permission (ALLOW).
"""

from __future__ import annotations

import re
from typing import Any

Binding = dict[str, str]
# What each declared right grants, as Kafka's console clients need it.
GRANTS = {
    "produce": ("TOPIC", ("WRITE", "DESCRIBE")),
    "consume": ("TOPIC", ("READ", "DESCRIBE")),
    "groups": ("GROUP", ("READ",)),
}
_RESOURCE = re.compile(r"^Current ACLs for resource `ResourcePattern\(resourceType=(\w+), "
                       r"name=(.*), patternType=(\w+)\)`:")
_ENTRY = re.compile(r"^\s*\(principal=(.*), host=(.*), operation=(\w+), permissionType=(\w+)\)")


def _pattern(name: str) -> tuple[str, str]:
    """'iot.*' is the prefix 'iot.'; '*' alone is Kafka's own wildcard, a literal."""
    if name.endswith("*") and name != "*":
        return name[:-1], "PREFIXED"
    return name, "LITERAL"


def kafka_acl_bindings(principals: dict[str, dict[str, list[str]]]) -> list[Binding]:
    """Every binding the declared principals should have."""
    out = []
    for user, rights in principals.items():
        for right, (resource_type, operations) in GRANTS.items():
            for declared in rights.get(right) or []:
                name, pattern = _pattern(declared)
                out += [{"principal": f"User:{user}", "resource_type": resource_type, "name": name,
                         "pattern": pattern, "operation": op, "host": "*", "permission": "ALLOW"}
                        for op in operations]
    return _unique(out)


def kafka_acl_listing(text: str) -> list[Binding]:
    """The bindings in the output of `kafka-acls --list`."""
    out = []
    resource: tuple[str, str, str] | None = None
    for line in text.splitlines():
        head = _RESOURCE.match(line)
        if head:
            resource = (head.group(1), head.group(2), head.group(3))
            continue
        entry = _ENTRY.match(line)
        if entry and resource:
            out.append({"principal": entry.group(1), "resource_type": resource[0],
                        "name": resource[1], "pattern": resource[2],
                        "operation": entry.group(3), "host": entry.group(2),
                        "permission": entry.group(4)})
    return _unique(out)


def kafka_acl_changes(current: list[Binding], desired: list[Binding],
                      managed: list[str]) -> dict[str, list[dict[str, Any]]]:
    """kafka-acls calls (grouped by principal and resource) adding what is missing and removing
    what a managed principal has beyond its declaration. Other principals are left alone."""
    users = {f"User:{name}" for name in managed}
    have = {_key(b) for b in current if b["principal"] in users}
    want = {_key(b) for b in desired}
    return {"add": _grouped(want - have), "remove": _grouped(have - want)}


def kafka_acl_argv(change: dict[str, Any], action: str) -> list[str]:
    """Arguments of one kafka-acls call for a group from kafka_acl_changes."""
    argv = [f"--{action}"] + (["--force"] if action == "remove" else [])
    flag = "--topic" if change["resource_type"] == "TOPIC" else "--group"
    argv += [f"--{'allow' if change['permission'] == 'ALLOW' else 'deny'}-principal",
             change["principal"], f"--{'allow' if change['permission'] == 'ALLOW' else 'deny'}-host",
             change["host"], flag, change["name"],
             "--resource-pattern-type", change["pattern"].lower()]
    for operation in change["operations"]:
        argv += ["--operation", operation]
    return argv


def _key(b: Binding) -> tuple[str, ...]:
    return (b["principal"], b["resource_type"], b["name"], b["pattern"], b["host"],
            b["permission"], b["operation"])


def _grouped(keys: set[tuple[str, ...]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, ...], list[str]] = {}
    for key in sorted(keys):
        groups.setdefault(key[:6], []).append(key[6])
    return [{"principal": k[0], "resource_type": k[1], "name": k[2], "pattern": k[3],
             "host": k[4], "permission": k[5], "operations": ops} for k, ops in groups.items()]


def _unique(bindings: list[Binding]) -> list[Binding]:
    seen: dict[tuple[str, ...], Binding] = {}
    for b in bindings:
        seen.setdefault(_key(b), b)
    return [seen[k] for k in sorted(seen)]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"kafka_acl_bindings": kafka_acl_bindings, "kafka_acl_listing": kafka_acl_listing,
                "kafka_acl_changes": kafka_acl_changes, "kafka_acl_argv": kafka_acl_argv}
