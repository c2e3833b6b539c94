"""The Mesos masters' ACLs (--acls for --authorizers=local), from smack's principals.

`credentials | mesos_master_acls(framework_roles)` gives the ACL document:
  operator    (credentials.operator) may do everything below;
  agent       (credentials.agent) may register agents, nothing else;
  frameworks  (credentials.<name> for each name in framework_roles, e.g. marathon, spark) may
              register with their roles, run tasks, reserve resources and create volumes in
              those roles, and undo only their own reservations and volumes;
  anyone else may do none of these actions.
Each action's list ends with "any principal: NONE": the local authorizer takes the first entry
that matches a request, and NONE matches every principal and allows nothing. Reads (state,
flags, metrics) stay permissive - HTTP authentication already limits them to known principals.
"""

from __future__ import annotations

from typing import Any


def _principals(credentials: dict[str, Any], *names: str) -> list[str]:
    return [str(credentials[name]["principal"]) for name in names if name in credentials]


def _only(who: list[str], field: str) -> list[dict[str, Any]]:
    allowed = [{"principals": {"values": who}, field: {"type": "ANY"}}] if who else []
    return [*allowed, {"principals": {"type": "ANY"}, field: {"type": "NONE"}}]


def mesos_master_acls(credentials: dict[str, Any],
                      framework_roles: dict[str, list[str]]) -> dict[str, Any]:
    operator = _principals(credentials, "operator")
    frameworks = {str(credentials[name]["principal"]): [str(r) for r in roles]
                  for name, roles in sorted(framework_roles.items()) if name in credentials}
    everything = [{"principals": {"values": operator}}] if operator else []
    anyone_else = {"principals": {"type": "ANY"}}

    def by_role() -> list[dict[str, Any]]:
        return [*({**e, "roles": {"type": "ANY"}} for e in everything),
                *({"principals": {"values": [p]}, "roles": {"values": roles}}
                  for p, roles in frameworks.items()),
                {**anyone_else, "roles": {"type": "NONE"}}]

    def own(field: str) -> list[dict[str, Any]]:
        return [*({**e, field: {"type": "ANY"}} for e in everything),
                *({"principals": {"values": [p]}, field: {"values": [p]}} for p in frameworks),
                {**anyone_else, field: {"type": "NONE"}}]

    return {
        "permissive": True,
        "register_frameworks": by_role(),
        "run_tasks": _only(operator + list(frameworks), "users"),
        "register_agents": _only(_principals(credentials, "agent"), "agents"),
        "teardown_frameworks": _only(operator, "framework_principals"),
        "update_maintenance_schedules": _only(operator, "machines"),
        "get_maintenance_schedules": _only(operator, "machines"),
        "start_maintenances": _only(operator, "machines"),
        "stop_maintenances": _only(operator, "machines"),
        "get_maintenance_statuses": _only(operator, "machines"),
        "mark_agents_gone": _only(operator, "agents"),
        "reserve_resources": by_role(),
        "create_volumes": by_role(),
        "unreserve_resources": own("reserver_principals"),
        "destroy_volumes": own("creator_principals"),
        "update_quotas": _only(operator, "roles"),
        "update_weights": _only(operator, "roles"),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"mesos_master_acls": mesos_master_acls}
