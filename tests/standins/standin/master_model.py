"""What a stand-in Mesos master knows about agents and frameworks, and its JSON views.

smack test stand-in, not Apache Mesos. Shapes follow real-mesos-samples: master-state.json,
master-slaves.json, master-state-summary.json, res-*.json, fo-master2-*-after.json (a
re-registered agent carries `reregistered_time`). There is no framework in any sample, so the
framework object follows Mesos' documented /master/state fields (see README: deviations).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .common import AGENT_CAPABILITIES, VERSION
from .resources import Resources

_ZERO = {"disk": 0.0, "mem": 0.0, "gpus": 0.0, "cpus": 0.0}
_TASK_STATES = (
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_FINISHED",
    "TASK_KILLED",
    "TASK_FAILED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_UNREACHABLE",
)


@dataclass
class Agent:
    id: str
    hostname: str
    ip: str
    port: int
    resources: Resources
    attributes: dict[str, object]
    registered_time: float
    reregistered_time: float | None = None
    active: bool = True
    last_ping: float = field(default_factory=time.monotonic)
    principal: str | None = None

    @property
    def pid(self) -> str:
        return f"slave(1)@{self.ip}:{self.port}"

    @property
    def machine(self) -> tuple[str, str]:
        return (self.hostname.lower(), self.ip)

    def describe(self) -> str:
        """'cpus:2; mem:1024; disk:2048; ports:[31000-31100]' as the real master logs it."""
        totals = self.resources.totals()
        parts = [f"{k}:{totals[k]:g}" for k in ("cpus", "mem", "disk", "gpus") if totals.get(k)]
        if self.resources.ports:
            parts.append(f"ports:{self.resources.ports_text()}")
        return "; ".join(parts)

    def _common(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "hostname": self.hostname,
            "port": self.port,
            "attributes": self.attributes,
            "pid": self.pid,
            "registered_time": self.registered_time,
        }
        if self.reregistered_time is not None:
            out["reregistered_time"] = self.reregistered_time
        out.update(
            {
                "resources": self.resources.summary(),
                "used_resources": dict(_ZERO),
                "offered_resources": dict(_ZERO),
                "reserved_resources": self.resources.reserved_summary(),
                "unreserved_resources": self.resources.unreserved_summary(),
                "active": self.active,
                "deactivated": False,
                "version": VERSION,
                "capabilities": list(AGENT_CAPABILITIES),
            }
        )
        return out

    def state_json(self) -> dict[str, object]:
        """An entry of /master/state `slaves`."""
        return self._common()

    def slaves_json(self) -> dict[str, object]:
        """An entry of /master/slaves `slaves` (adds the *_full protobuf-shaped lists)."""
        out = self._common()
        out.update(
            {
                "reserved_resources_full": {},
                "unreserved_resources_full": self.resources.full(),
                "used_resources_full": [],
                "offered_resources_full": [],
            }
        )
        return out

    def summary_json(self) -> dict[str, object]:
        """An entry of /master/state-summary `slaves`."""
        out = self._common()
        out.update(dict.fromkeys(_TASK_STATES, 0))
        out["framework_ids"] = []
        return out


@dataclass
class Framework:
    id: str
    name: str
    hostname: str
    webui_url: str
    user: str
    role: str
    failover_timeout: float
    checkpoint: bool
    principal: str | None
    registered_time: float
    reregistered_time: float | None = None
    active: bool = True
    last_ping: float = field(default_factory=time.monotonic)
    pid: str = ""

    def json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "name": self.name,
            "pid": self.pid,
            "used_resources": dict(_ZERO),
            "offered_resources": dict(_ZERO),
            "capabilities": [],
            "hostname": self.hostname,
            "webui_url": self.webui_url,
            "active": self.active,
            "connected": self.active,
            "recovered": False,
            "user": self.user,
            "failover_timeout": self.failover_timeout,
            "checkpoint": self.checkpoint,
            "registered_time": self.registered_time,
            "unregistered_time": 0.0,
        }
        if self.reregistered_time is not None:
            out["reregistered_time"] = self.reregistered_time
        if self.principal:
            out["principal"] = self.principal
        out.update(
            {
                "role": self.role,
                "roles": [self.role],
                "resources": dict(_ZERO),
                "allocated_resources": dict(_ZERO),
                "tasks": [],
                "unreachable_tasks": [],
                "completed_tasks": [],
                "offers": [],
                "executors": [],
            }
        )
        return out
