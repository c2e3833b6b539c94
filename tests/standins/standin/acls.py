"""The local authorizer's ACLs, --acls (smack test stand-in, not Apache Mesos).

Semantics as Mesos documents them (docs/authorization.md, "local authorizer"): each action has an
ordered list of ACLs, each with a subject entity and an object entity, where an entity is
{"values": [...]} (SOME), {"type": "ANY"} or {"type": "NONE"}. A request's subject is its
authenticated principal (ANY when there is none), its object the role, framework principal,
machine or user it acts on (ANY when there is none). The first ACL whose subject and object
*match* the request decides: the request is allowed when both entities also *allow* it (an
object of NONE matches every principal and allows none). When no ACL matches, "permissive"
decides (default true).

Only the actions the stand-in master enforces are read; the others are accepted and ignored
(README: "Mesos ACLs").
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .common import read_text_or_file

# action -> (subject field, object field), as in mesos.proto's ACL messages.
ACTIONS = {
    "register_frameworks": ("principals", "roles"),
    "run_tasks": ("principals", "users"),
    "teardown_frameworks": ("principals", "framework_principals"),
    "register_agents": ("principals", "agents"),
    "get_maintenance_schedules": ("principals", "machines"),
    "update_maintenance_schedules": ("principals", "machines"),
    "start_maintenances": ("principals", "machines"),
    "stop_maintenances": ("principals", "machines"),
    "get_maintenance_statuses": ("principals", "machines"),
}


class AclError(ValueError):
    pass


@dataclass(frozen=True)
class Entity:
    kind: str  # SOME, ANY or NONE
    values: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, raw: object, where: str) -> Entity:
        if not isinstance(raw, dict):
            raise AclError(f"{where}: expected an object with 'values' or 'type'")
        kind = str(raw.get("type", "SOME")).upper()
        if kind not in ("SOME", "ANY", "NONE"):
            raise AclError(f"{where}: unknown type '{raw.get('type')}'")
        values = raw.get("values") or []
        if not isinstance(values, list):
            raise AclError(f"{where}: 'values' must be a list")
        return cls(kind, frozenset(str(v) for v in values))

    @classmethod
    def request(cls, value: str | None) -> Entity:
        return cls("ANY") if value is None else cls("SOME", frozenset([value]))

    def matched_by(self, acl: Entity) -> bool:
        """Whether an ACL entity applies to this request entity."""
        if self.kind == "NONE":
            return acl.kind == "NONE"
        if self.kind == "ANY":
            return acl.kind in ("ANY", "NONE")
        if acl.kind == "SOME":
            return self.values <= acl.values
        return True

    def allowed_by(self, acl: Entity) -> bool:
        if self.kind == "ANY":
            return acl.kind == "ANY"
        if self.kind == "NONE":
            return acl.kind == "NONE"
        if acl.kind == "SOME":
            return self.values <= acl.values
        return acl.kind == "ANY"


@dataclass(frozen=True)
class Acls:
    permissive: bool
    rules: dict[str, list[tuple[Entity, Entity]]]

    @classmethod
    def load(cls, value: str) -> Acls:
        text = value if value.lstrip().startswith("{") else read_text_or_file(value)
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise AclError(f"not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise AclError("expected a JSON object")
        rules: dict[str, list[tuple[Entity, Entity]]] = {}
        for action, (subject, obj) in ACTIONS.items():
            entries = data.get(action) or []
            if not isinstance(entries, list):
                raise AclError(f"{action}: expected a list")
            rules[action] = [
                (Entity.parse(e.get(subject), f"{action}[{i}].{subject}"),
                 Entity.parse(e.get(obj), f"{action}[{i}].{obj}"))
                for i, e in enumerate(entries)
            ]  # fmt: skip
        return cls(bool(data.get("permissive", True)), rules)

    def allows(self, action: str, principal: str | None, obj: str | None) -> bool:
        subject, target = Entity.request(principal), Entity.request(obj)
        for acl_subject, acl_object in self.rules.get(action, []):
            if subject.matched_by(acl_subject) and target.matched_by(acl_object):
                return subject.allowed_by(acl_subject) and target.allowed_by(acl_object)
        return self.permissive


def from_flags(flags: dict[str, str]) -> Acls | None:
    """The master's authorizer: None (everything allowed) without --acls or with another one."""
    if not flags.get("acls") or flags.get("authorizers", "local") != "local":
        return None
    return Acls.load(flags["acls"])
