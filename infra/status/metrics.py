"""Prometheus' row (does it answer, how many of its targets are up) and the alerts it fires.

Firing alerts are shown beside the tables and listed by `--json`; they do not change the
exit code by themselves: the probes already judge every service, and an alert such as a disk
filling up is a warning about a cluster that still works.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.status.inventory import StackInventory, _endpoint, _login
from infra.status.results import Outcome, ProbeError, ProbeKey, Row, ServiceStatus, _viewed

TARGETS_PATH = "/api/v1/targets?state=active"
ALERTS_PATH = "/api/v1/alerts"


@dataclass(frozen=True)
class Alert:
    name: str
    node: str
    severity: str
    summary: str
    since: str

    def line(self) -> str:
        where = f" on {self.node}" if self.node else ""
        return f"{self.name}{where}: {self.summary}" if self.summary else f"{self.name}{where}"


def prometheus_login(inv: StackInventory) -> tuple[str, str] | None:
    return _login(inv, "prometheus")


def _data(answer: Any) -> Any:
    if answer.status == 401:
        raise ProbeError("refused the stack's Prometheus login (401)")
    if answer.status != 200:
        raise ProbeError(f"answered {answer.status}")
    doc = answer.json() or {}
    if doc.get("status") != "success":
        raise ProbeError(f"answered {doc.get('error') or 'an error'}")
    return doc.get("data") or {}


def targets_view(answer: Any) -> tuple[int, list[str]]:
    """(targets up, "job on node" of each target that is not)."""
    targets = _data(answer).get("activeTargets") or []
    down = sorted(f"{t.get('labels', {}).get('job', '?')} on {t.get('labels', {}).get('node', '?')}"
                  for t in targets if t.get("health") != "up")
    return len(targets) - len(down), down


def firing_alerts(answer: Any) -> list[Alert]:
    alerts = _data(answer).get("alerts") or []
    out = [Alert(name=str(a.get("labels", {}).get("alertname", "?")),
                 node=str(a.get("labels", {}).get("node", "")),
                 severity=str(a.get("labels", {}).get("severity", "")),
                 summary=str(a.get("annotations", {}).get("summary", "")),
                 since=str(a.get("activeAt", "")))
           for a in alerts if a.get("state") == "firing"]
    return sorted(out, key=lambda a: (a.name, a.node))


def metrics_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]) -> ServiceStatus:
    rows: list[Row] = []
    for h in inv.members("prometheus"):
        endpoint = _endpoint(h, inv.port("metrics", "metrics_prometheus_port", h), "http://")
        version = "Debian prometheus"
        counted, state = _viewed(outcomes.get(("prometheus", h.name)), targets_view)
        if counted is None:
            rows.append(Row(h.name, "prometheus", state, version, endpoint, False))
            continue
        up, down = counted
        shown = f"up, {up}/{up + len(down)} targets up"
        if down:
            shown += f" (down: {', '.join(down[:4])}{', ...' if len(down) > 4 else ''})"
        rows.append(Row(h.name, "prometheus", shown, version, f"{endpoint}/user/", True))
        found, state = _viewed(outcomes.get(("prometheus_alerts", h.name)), firing_alerts)
        if found is None:
            rows.append(Row(h.name, "alerts", state, version, endpoint, False))
    return ServiceStatus("metrics", "Metrics", rows)


def alerts_of(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]) -> list[Alert]:
    """The alerts Prometheus fires now (none when it could not be asked: its row says why)."""
    out: list[Alert] = []
    for h in inv.members("prometheus"):
        found, _ = _viewed(outcomes.get(("prometheus_alerts", h.name)), firing_alerts)
        out += found or []
    return out
