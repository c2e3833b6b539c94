"""Cassandra's rows: each node's own system.local row over CQL."""

from __future__ import annotations

from collections.abc import Mapping

from infra.status.inventory import StackInventory, _endpoint
from infra.status.results import Outcome, ProbeKey, Row, ServiceStatus, _down


def cassandra_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]
                     ) -> ServiceStatus:
    rows: list[Row] = []
    for h in inv.members("cassandra"):
        endpoint = _endpoint(h, inv.port("cassandra", "cassandra_native_port", h))
        outcome = outcomes.get(("cassandra", h.name))
        configured = inv.text("cassandra", "cassandra_version")
        if outcome is None or not outcome.ok:
            rows.append(Row(h.name, "-", _down(outcome), configured, endpoint, False))
            continue
        local = outcome.value
        role = f"{local.get('data_center') or '?'}/{local.get('rack') or '?'}"
        rows.append(Row(h.name, role, "up", str(local.get("release_version") or configured),
                        endpoint, True))
    return ServiceStatus("cassandra", "Cassandra", rows)
