"""What a stand-in Mesos master knows about agents and frameworks, and its JSON views.

smack test stand-in, not Apache Mesos. Shapes follow real-mesos-samples: master-state.json,
master-slaves.json, master-state-summary.json, res-*.json, fo-master2-*-after.json (a
re-registered agent carries `reregistered_time`). There is no framework in any sample, so the
framework object follows Mesos' documented /master/state fields (see README: deviations), and
tasks follow real-marathon-samples/hello-mesos-master-frameworks.json.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .common import AGENT_CAPABILITIES, VERSION
from .resources import Resources, ResourceSet

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
TERMINAL_STATES = frozenset(
    {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED",
     "TASK_GONE", "TASK_GONE_BY_OPERATOR"}
)  # fmt: skip


@dataclass
class Task:
    """A task the master launched (or learned from a re-registering agent)."""

    info: dict  # TaskInfo, mesos.proto field names
    framework_id: str
    agent_id: str
    state: str = "TASK_STAGING"
    statuses: list[dict] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.info["task_id"]["value"])

    @property
    def resources(self) -> ResourceSet:
        return ResourceSet.from_json(self.info.get("resources"))

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def json(self) -> dict[str, object]:
        """An entry of a framework's `tasks` / `completed_tasks` in /master/state."""
        out: dict[str, object] = {
            "id": self.id,
            "name": self.info.get("name", ""),
            "framework_id": self.framework_id,
            "executor_id": "",
            "slave_id": self.agent_id,
            "state": self.state,
            "resources": self.resources.summary(),
            "role": "*",
            "statuses": [
                {k: v for k, v in s.items() if k in ("state", "timestamp", "healthy",
                                                      "container_status")}
                for s in self.statuses
            ],
        }
        for key in ("labels", "discovery", "container", "health_check"):
            if key in self.info:
                out[key] = self.info[key]
        return out


@dataclass
class Offer:
    id: str
    framework_id: str
    agent_id: str
    resources: ResourceSet

    def json(self, agent: Agent) -> dict[str, object]:
        attributes = []
        for name, value in agent.attributes.items():
            if isinstance(value, float | int):
                attributes.append({"name": name, "type": "SCALAR", "scalar": {"value": value}})
            else:
                attributes.append({"name": name, "type": "TEXT", "text": {"value": str(value)}})
        return {
            "id": {"value": self.id},
            "framework_id": {"value": self.framework_id},
            "slave_id": {"value": self.agent_id},
            "hostname": agent.hostname,
            "url": {"scheme": "http", "address": {"hostname": agent.hostname, "ip": agent.ip,
                                                  "port": agent.port},
                    "path": "/slave(1)"},
            "resources": self.resources.to_json(),
            "attributes": attributes,
        }


class EventQueue:
    """What a framework has not fetched yet; /framework/poll waits on it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: list[dict] = []

    def put(self, event: dict) -> None:
        with self._cond:
            self._items.append(event)
            self._cond.notify_all()

    def take(self, wait: float) -> list[dict]:
        with self._cond:
            if not self._items:
                self._cond.wait(wait)
            items, self._items = self._items, []
            return items


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
    used: ResourceSet = field(default_factory=ResourceSet)
    offered: ResourceSet = field(default_factory=ResourceSet)

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
                "used_resources": self.used.summary(),
                "offered_resources": self.offered.summary(),
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
                "used_resources_full": self.used.to_json(),
                "offered_resources_full": self.offered.to_json(),
            }
        )
        return out

    def free(self) -> ResourceSet:
        return ResourceSet.of_agent(self.resources).minus(self.used).minus(self.offered)

    def summary_json(self, tasks: list[Task]) -> dict[str, object]:
        """An entry of /master/state-summary `slaves`: counts of this agent's tasks by state."""
        out = self._common()
        counts = dict.fromkeys(_TASK_STATES, 0)
        for task in tasks:
            if task.state in counts:
                counts[task.state] += 1
        out.update(counts)
        out["framework_ids"] = sorted({t.framework_id for t in tasks if not t.terminal})
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
    capabilities: list[str] = field(default_factory=list)
    events: EventQueue = field(default_factory=EventQueue)
    suppressed: bool = False
    # agent id -> monotonic time until which this framework gets no offer from that agent
    filters: dict[str, float] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    completed_tasks: list[Task] = field(default_factory=list)
    offers: dict[str, Offer] = field(default_factory=dict)
    recovered: bool = False

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    def used(self) -> ResourceSet:
        total = ResourceSet()
        for task in self.tasks.values():
            total = total.plus(task.resources)
        return total

    def offered(self) -> ResourceSet:
        total = ResourceSet()
        for offer in self.offers.values():
            total = total.plus(offer.resources)
        return total

    def json(self, agents: dict[str, Agent] | None = None) -> dict[str, object]:
        """A framework as /master/frameworks and /master/state list it (keys in the real order,
        real-marathon-samples/*mesos-master-frameworks*.json)."""
        used = self.used().summary()
        known = agents or {}
        out: dict[str, object] = {
            "id": self.id,
            "name": self.name,
            "pid": self.pid,
            "used_resources": used,
            "offered_resources": self.offered().summary(),
            "capabilities": list(self.capabilities),
            "hostname": self.hostname,
            "webui_url": self.webui_url,
            "active": self.active,
            "connected": self.active,
            "recovered": self.recovered,
            "user": self.user,
            "failover_timeout": self.failover_timeout,
            "checkpoint": self.checkpoint,
            "registered_time": self.registered_time,
            "unregistered_time": 0.0,
        }
        if self.principal:
            out["principal"] = self.principal
        out["resources"] = used
        if self.reregistered_time is not None:
            out["reregistered_time"] = self.reregistered_time
        out.update(
            {
                "roles": [self.role],
                "tasks": [t.json() for t in self.tasks.values()],
                "unreachable_tasks": [],
                "completed_tasks": [t.json() for t in self.completed_tasks],
                "offers": [o.json(known[o.agent_id]) for o in self.offers.values()
                           if o.agent_id in known],
                "executors": [],
                "offer_constraints": {},
            }
        )
        return out
