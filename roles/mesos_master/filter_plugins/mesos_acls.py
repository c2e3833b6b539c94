"""The Mesos masters' ACLs (--acls for --authorizers=local), from smack's principals.

`credentials | mesos_master_acls(framework_roles)` gives the ACL document:
  operator    (credentials.operator) may do everything below but register agents;
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


def _rules(allowed: list[str], field: str,
           granted: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """`allowed` on any object, each principal of `granted` on its object, anyone else on none."""
    rules = [{"principals": {"values": allowed}, field: {"type": "ANY"}}] if allowed else []
    rules += [{"principals": {"values": [p]}, field: obj} for p, obj in (granted or {}).items()]
    return [*rules, {"principals": {"type": "ANY"}, field: {"type": "NONE"}}]


def mesos_master_acls(credentials: dict[str, Any],
                      framework_roles: dict[str, list[str]]) -> dict[str, Any]:
    operator = _principals(credentials, "operator")
    frameworks = {str(credentials[name]["principal"]): [str(r) for r in roles]
                  for name, roles in sorted(framework_roles.items()) if name in credentials}
    their_roles = {p: {"values": roles} for p, roles in frameworks.items()}
    themselves = {p: {"values": [p]} for p in frameworks}
    return {
        "permissive": True,
        "register_frameworks": _rules(operator, "roles", their_roles),
        "run_tasks": _rules(operator + list(frameworks), "users"),
        "register_agents": _rules(_principals(credentials, "agent"), "agents"),
        "teardown_frameworks": _rules(operator, "framework_principals"),
        "update_maintenance_schedules": _rules(operator, "machines"),
        "get_maintenance_schedules": _rules(operator, "machines"),
        "start_maintenances": _rules(operator, "machines"),
        "stop_maintenances": _rules(operator, "machines"),
        "get_maintenance_statuses": _rules(operator, "machines"),
        "mark_agents_gone": _rules(operator, "agents"),
        "reserve_resources": _rules(operator, "roles", their_roles),
        "create_volumes": _rules(operator, "roles", their_roles),
        "unreserve_resources": _rules(operator, "reserver_principals", themselves),
        "destroy_volumes": _rules(operator, "creator_principals", themselves),
        "update_quotas": _rules(operator, "roles"),
        "update_weights": _rules(operator, "roles"),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"mesos_master_acls": mesos_master_acls}
