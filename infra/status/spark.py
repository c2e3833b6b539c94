"""Spark's rows: the standalone master, its workers as it lists them, the history server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.status.inventory import Host, StackInventory, _endpoint, _spark_master
from infra.status.results import Outcome, ProbeError, ProbeKey, Row, ServiceStatus, _down


def spark_workers(master_json: Mapping[str, Any], address: str) -> list[Mapping[str, Any]]:
    """The master's workers on `address`, ALIVE ones first (a restart leaves DEAD entries)."""
    on_host = [w for w in master_json.get("workers") or [] if w.get("host") == address]
    return sorted(on_host, key=lambda w: w.get("state") != "ALIVE")


def _spark_master_rows(inv: StackInventory, master: Host, outcome: Outcome | None
                       ) -> list[Row]:
    """The master's row and each worker's row as the master sees it."""
    version = inv.text("spark", "spark_version")
    endpoint = _endpoint(master, inv.port("spark", "spark_master_port", master), "spark://")
    master_json: Mapping[str, Any] | None = None
    if outcome is None or not outcome.ok:
        row = Row(master.name, "master", _down(outcome), version, endpoint, False)
    elif outcome.value.status != 200:
        row = Row(master.name, "master", f"/json/ answered {outcome.value.status}", version,
                  endpoint, False)
    else:
        try:
            master_json = outcome.value.json() or {}
        except ProbeError as err:
            row = Row(master.name, "master", str(err), version, endpoint, False)
        else:
            status = str(master_json.get("status", "?"))
            alive = status == "ALIVE"
            row = Row(master.name, "master", "up" if alive else status.lower(), version,
                      endpoint, alive)
    rows = [row]
    for h in inv.members("spark"):
        worker_ui = _endpoint(h, inv.port("spark", "spark_worker_ui_port", h), "http://")
        if master_json is None:
            rows.append(Row(h.name, "worker", "unknown (master not answering)", version,
                            worker_ui, False))
            continue
        found = spark_workers(master_json, h.address)
        if not found:
            rows.append(Row(h.name, "worker", "not registered at the master", version,
                            worker_ui, False))
            continue
        state = str(found[0].get("state", "?"))
        shown = str(found[0].get("webuiaddress") or worker_ui)
        rows.append(Row(h.name, "worker", "up" if state == "ALIVE" else state.lower(),
                        version, shown, state == "ALIVE"))
    return rows


def _spark_history_row(inv: StackInventory, master: Host, outcome: Outcome | None) -> Row:
    version = inv.text("spark", "spark_version")
    endpoint = _endpoint(master, inv.port("spark", "spark_history_ui_port", master), "http://")
    if outcome is None or not outcome.ok:
        return Row(master.name, "history", _down(outcome), version, endpoint, False)
    if outcome.value.status != 200:
        return Row(master.name, "history", f"/api/v1/version answered {outcome.value.status}",
                   version, endpoint, False)
    try:
        answered = str((outcome.value.json() or {}).get("spark") or version)
    except ProbeError as err:
        return Row(master.name, "history", str(err), version, endpoint, False)
    return Row(master.name, "history", "up", answered, endpoint, True)


def spark_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]) -> ServiceStatus:
    """Standalone: the master, every worker as the master lists it; the history server."""
    master = _spark_master(inv)
    if master is None:
        return ServiceStatus("spark", "Spark", [])
    rows: list[Row] = []
    if inv.text("spark", "spark_cluster_manager") != "mesos":
        rows += _spark_master_rows(inv, master, outcomes.get(("spark_master", master.name)))
    if inv.enabled("spark", "spark_history_enabled"):
        rows.append(_spark_history_row(inv, master, outcomes.get(("spark_history",
                                                                   master.name))))
    return ServiceStatus("spark", "Spark", rows)
