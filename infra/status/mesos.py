"""The Mesos masters' and agents' rows: one leading master, every agent registered with it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from infra.status.inventory import StackInventory, _endpoint
from infra.status.net import MesosMasterAnswer
from infra.status.results import (
    Outcome,
    ProbeError,
    ProbeKey,
    Row,
    ServiceStatus,
    _down,
    _viewed,
    marked,
)


def mesos_master_view(answer: MesosMasterAnswer) -> tuple[str, str, str, dict[str, Any] | None]:
    """(role, state, version, leader's /master/state or None) of one master's answers."""
    if answer.health.status != 200:
        raise ProbeError(f"/master/health answered {answer.health.status}")
    version = ""
    if answer.version is not None and answer.version.status == 200:
        build = answer.version.json() or {}
        version = marked(str(build.get("version", "")), build) if build.get("version") else ""
    state = answer.state
    if state is None:
        raise ProbeError("/master/state not asked")
    if state.status == 200:
        body = state.json() or {}
        # The leader serves its state itself; pid == leader says it is that leader.
        if body.get("leader") and body.get("leader") == body.get("pid"):
            return "leader", "up", version or str(body.get("version", "")), body
        return "standby", "up", version, None
    if state.status in (301, 302, 307):
        return "standby", "up", version, None
    if state.status == 401:
        raise ProbeError("operator credential refused (401)")
    if state.status == 503:
        raise ProbeError("no leader elected (503)")
    raise ProbeError(f"/master/state answered {state.status}")


def mesos_master_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]
                        ) -> tuple[ServiceStatus, dict[str, Any] | None]:
    rows: list[Row] = []
    leaders: list[tuple[str, dict[str, Any]]] = []
    for h in inv.members("mesos_masters"):
        endpoint = _endpoint(h, inv.port("mesos_master", "mesos_master_port", h), "http://")
        view, failed = _viewed(outcomes.get(("mesos_master", h.name)), mesos_master_view)
        if view is None:
            rows.append(Row(h.name, "-", failed, "-", endpoint, False))
            continue
        role, state, version, leader_state = view
        if leader_state is not None:
            leaders.append((h.name, leader_state))
        rows.append(Row(h.name, role, state, version or "-", endpoint, True))
    problems = []
    if rows and len(leaders) != 1:
        named = ", ".join(name for name, _ in leaders) or "none"
        problems.append(f"{len(leaders)} of {len(rows)} masters lead ({named}); "
                        "exactly one must")
    leader_state = leaders[0][1] if len(leaders) == 1 else None
    return ServiceStatus("mesos_master", "Mesos masters", rows, problems), leader_state


def find_agent(agents: Iterable[Mapping[str, Any]], address: str, port: int
               ) -> Mapping[str, Any] | None:
    """The leader's record of the agent at address:port (its pid names both)."""
    for agent in agents:
        pid = str(agent.get("pid", ""))
        if pid.endswith(f"@{address}:{port}"):
            return agent
    for agent in agents:
        if agent.get("hostname") == address and int(agent.get("port") or 0) == port:
            return agent
    return None


def mesos_agent_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome],
                       leader_state: Mapping[str, Any] | None) -> ServiceStatus:
    rows: list[Row] = []
    registered = list((leader_state or {}).get("slaves") or [])
    configured = inv.text("mesos_agent", "mesos_agent_version")
    for h in inv.members("mesos_agents"):
        port = inv.port("mesos_agent", "mesos_agent_port", h)
        endpoint = _endpoint(h, port, "http://")
        outcome = outcomes.get(("mesos_agent", h.name))
        if outcome is None or not outcome.ok:
            rows.append(Row(h.name, "agent", _down(outcome), configured, endpoint, False))
            continue
        answer = outcome.value
        if answer.health.status != 200:
            rows.append(Row(h.name, "agent", f"/health answered {answer.health.status}",
                            configured, endpoint, False))
            continue
        build: Mapping[str, Any] = {}
        if answer.version is not None and answer.version.status == 200:
            with contextlib.suppress(ProbeError):
                build = answer.version.json() or {}
        if leader_state is None:
            rows.append(Row(h.name, "agent", "unknown (no leading master to ask)", configured,
                            endpoint, False))
            continue
        agent = find_agent(registered, h.address, port)
        if agent is None:
            rows.append(Row(h.name, "agent", "not registered at the leader", configured,
                            endpoint, False))
            continue
        version = marked(str(agent.get("version") or configured), build)
        if not agent.get("active", False):
            rows.append(Row(h.name, "agent", "registered but inactive", version, endpoint,
                            False))
            continue
        rows.append(Row(h.name, "agent", "up", version, endpoint, True))
    return ServiceStatus("mesos_agent", "Mesos agents", rows)
