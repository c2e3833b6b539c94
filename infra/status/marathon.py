"""Marathon's rows: one leader that every instance names, registered with Mesos."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.status.inventory import StackInventory, _endpoint
from infra.status.net import MarathonAnswer
from infra.status.results import Outcome, ProbeError, ProbeKey, Row, ServiceStatus, _viewed, marked


def marathon_view(answer: MarathonAnswer) -> dict[str, Any]:
    """/v2/info of one instance. A standby forwards the request to the leader (every instance
    then says `elected: true`); `answered_by_leader` tells whether this one answered itself."""
    if answer.ping.status == 401:
        raise ProbeError("credential refused (401)")
    if answer.ping.status != 200:
        raise ProbeError(f"/ping answered {answer.ping.status}")
    if answer.info is None or answer.info.status != 200:
        status = answer.info.status if answer.info is not None else "nothing"
        raise ProbeError(f"/v2/info answered {status}")
    info = answer.info.json()
    if not isinstance(info, dict):
        raise ProbeError("/v2/info is not an object")
    return {**info, "answered_by_leader": bool(info.get("elected")) and not answer.info.via}


def marathon_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]) -> ServiceStatus:
    rows: list[Row] = []
    infos: dict[str, dict[str, Any]] = {}
    for h in inv.members("marathon"):
        endpoint = _endpoint(h, inv.port("marathon", "marathon_http_port", h), "http://")
        info, failed = _viewed(outcomes.get(("marathon", h.name)), marathon_view)
        if info is None:
            rows.append(Row(h.name, "-", failed, "-", endpoint, False))
            continue
        infos[h.name] = info
        role = "leader" if info.get("answered_by_leader") else "standby"
        has_leader = bool(info.get("leader"))
        rows.append(Row(h.name, role, "up" if has_leader else "up, no leader known",
                        marked(str(info.get("version") or "-"), info), endpoint, has_leader))
    return ServiceStatus("marathon", "Marathon", rows, marathon_problems(infos))


def marathon_problems(infos: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One leader that every instance names, and that leader registered with Mesos."""
    if not infos:
        return []
    problems: list[str] = []
    named = sorted({str(i.get("leader")) for i in infos.values() if i.get("leader")})
    if len(named) > 1:
        problems.append(f"instances disagree on the leader ({', '.join(named)})")
    elected = [name for name, i in infos.items() if i.get("answered_by_leader")]
    if len(elected) != 1:
        problems.append(f"{len(elected)} answering instances lead "
                        f"({', '.join(elected) or 'none'}); exactly one must")
    for name in elected:
        if not infos[name].get("frameworkId"):
            problems.append(f"the leader {name} is not registered with Mesos (no frameworkId)")
    return problems
