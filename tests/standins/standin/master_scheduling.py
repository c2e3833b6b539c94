"""Offers, task launches and status updates of the stand-in Mesos master (smack test stand-in).

The real master's allocator offers each agent's unused resources to one framework at a time,
frameworks accept offers with tasks or decline them with a refuse filter, agents report task
states, and the master forwards them to the framework. The stand-ins do the same over the
private protocol of tests/standins/PROTOCOL.md. Status texts the Marathon samples show are
used as they are; the others (marked "not sample-backed" in the README) follow Mesos' sources.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from typing import TYPE_CHECKING

from . import glog
from .client import Unreachable, post_json
from .common import PRIVATE
from .httpd import Response, json_response
from .master_model import Agent, Framework, Offer, Task
from .resources import ResourceSet

if TYPE_CHECKING:
    from .maintenance import Maintenance
    from .master_registry import Registry

DEFAULT_REFUSE_SECONDS = 5.0  # Filters.refuse_seconds default in mesos.proto
ALLOCATION_INTERVAL = 0.25
COMPLETED_TASKS_KEPT = 1000  # --max_completed_tasks_per_framework


def status_update(task_id: str, state: str, agent_id: str, source: str, *,
                  reason: str | None = None, message: str | None = None) -> dict:
    """A TaskStatus as the master generates it (mesos.proto field names)."""
    out: dict[str, object] = {"task_id": {"value": task_id}, "state": state, "source": source}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    out.update({"slave_id": {"value": agent_id}, "timestamp": time.time(),
                "uuid": base64.b64encode(uuid.uuid4().bytes).decode()})
    return out


class Scheduling:
    """Mixed into the Master: the task and offer bookkeeping and the private endpoints."""

    # Provided by the Master.
    lock: threading.RLock
    agents: dict[str, Agent]
    frameworks: dict[str, Framework]
    completed_frameworks: list[Framework]
    maintenance: Maintenance
    registry: Registry
    id: str
    pid: str
    recovered: bool

    def is_leader(self) -> bool:  # pragma: no cover - the Master's
        raise NotImplementedError

    def init_scheduling(self) -> None:
        self.offer_count = 0
        self.round_robin = 0

    # ----- allocation -------------------------------------------------------------------

    def allocator(self) -> None:
        while True:
            time.sleep(ALLOCATION_INTERVAL)
            self.allocate_once()

    def allocate_once(self) -> None:
        now = time.monotonic()
        batches: dict[str, list[dict]] = {}
        with self.lock:
            if not (self.is_leader() and self.recovered):
                return
            frameworks = [f for f in self.frameworks.values() if f.active and not f.suppressed]
            if not frameworks:
                return
            for agent in self.agents.values():
                if not agent.active or self.maintenance.is_down(agent.machine):
                    continue
                free = agent.free()
                if not free.offerable():
                    continue
                eligible = [f for f in frameworks if f.filters.get(agent.id, 0.0) <= now]
                if not eligible:
                    continue
                framework = eligible[self.round_robin % len(eligible)]
                self.round_robin += 1
                offer = Offer(f"{self.id}-O{self.offer_count}", framework.id, agent.id, free)
                self.offer_count += 1
                framework.offers[offer.id] = offer
                agent.offered = agent.offered.plus(free)
                body = offer.json(agent)
                unavailability = self.maintenance.unavailability(agent.machine)
                if unavailability is not None:
                    body["unavailability"] = unavailability
                batches.setdefault(framework.id, []).append(body)
            for framework_id, offers in batches.items():
                self.frameworks[framework_id].events.put({"type": "offers", "offers": offers})

    def _release_offer(self, framework: Framework, offer: Offer) -> None:
        framework.offers.pop(offer.id, None)
        agent = self.agents.get(offer.agent_id)
        if agent is not None:
            agent.offered = agent.offered.minus(offer.resources)

    def rescind_offers(self, framework: Framework, agent_id: str | None = None) -> None:
        """Take back a framework's offers (all, or those of one agent)."""
        for offer in list(framework.offers.values()):
            if agent_id is None or offer.agent_id == agent_id:
                self._release_offer(framework, offer)
                framework.events.put({"type": "rescind", "offer_id": {"value": offer.id}})

    # ----- task states --------------------------------------------------------------------

    def apply_update(self, framework: Framework | None, status: dict) -> None:
        """Record a status update and forward it to the framework (caller holds the lock)."""
        task_id = str(status["task_id"]["value"])
        task = framework.tasks.get(task_id) if framework is not None else None
        if task is not None:
            task.state = str(status["state"])
            kept = {k: status[k] for k in ("state", "timestamp", "healthy", "container_status")
                    if k in status}
            task.statuses.append(kept)
            if task.terminal:
                del framework.tasks[task_id]  # type: ignore[union-attr]
                framework.completed_tasks.append(task)  # type: ignore[union-attr]
                del framework.completed_tasks[:-COMPLETED_TASKS_KEPT]  # type: ignore[union-attr]
                agent = self.agents.get(task.agent_id)
                if agent is not None:
                    agent.used = agent.used.minus(task.resources)
        if framework is not None:
            framework.events.put({"type": "update", "status": status})

    def master_update(self, framework: Framework, task: Task, state: str, reason: str,
                      message: str) -> None:
        self.apply_update(framework, status_update(task.id, state, task.agent_id,
                                                   "SOURCE_MASTER", reason=reason,
                                                   message=message))

    def lose_tasks_of(self, agent: Agent, message: str, unreachable: bool = False) -> None:
        """The agent is gone: its tasks are lost (caller holds the lock)."""
        for framework in self.frameworks.values():
            self.rescind_offers(framework, agent.id)
            for task in [t for t in framework.tasks.values() if t.agent_id == agent.id]:
                if framework.partition_aware:
                    state = "TASK_UNREACHABLE" if unreachable else "TASK_GONE"
                else:
                    state = "TASK_LOST"
                self.master_update(framework, task, state, "REASON_SLAVE_REMOVED",
                                   f"Slave {agent.hostname} removed: {message}")

    def learn_tasks(self, agent: Agent, reported: list[dict]) -> None:
        """Tasks a (re-)registering agent runs: a new leader learns them this way."""
        for entry in reported:
            framework_id = str(entry["framework_id"])
            framework = self.frameworks.get(framework_id)
            if framework is None:
                info = entry.get("framework") or {}
                framework = Framework(
                    id=framework_id, name=str(info.get("name", "")),
                    hostname=str(info.get("hostname", "")), webui_url="",
                    user=str(info.get("user", "")), role="*", failover_timeout=0.0,
                    checkpoint=bool(info.get("checkpoint", False)), principal=None,
                    registered_time=time.time(), active=False,
                    capabilities=list(info.get("capabilities") or []), recovered=True,
                )
                self.frameworks[framework_id] = framework
            task = Task(dict(entry["task"]), framework_id, agent.id, str(entry["state"]),
                        list(entry.get("statuses") or []))
            if task.id in framework.tasks or task.terminal:
                continue
            framework.tasks[task.id] = task
            agent.used = agent.used.plus(task.resources)

    # ----- the framework side of the private protocol -------------------------------------

    def framework_of(self, body: dict) -> Framework | Response:
        framework_id = str(body.get("id", ""))
        if any(f.id == framework_id for f in self.completed_frameworks):
            return json_response({"action": "exit", "message": "Framework has been removed"}, 403)
        framework = self.frameworks.get(framework_id)
        if framework is None or not self.is_leader() or framework.recovered:
            return json_response({"action": "reregister"}, 404)
        return framework

    def framework_poll(self, body: dict) -> Response:
        with self.lock:
            framework = self.framework_of(body)
            if isinstance(framework, Response):
                return framework
            framework.last_ping = time.monotonic()
            framework.active = True
        events = framework.events.take(min(float(body.get("wait", 1.0)), 2.0))
        framework.last_ping = time.monotonic()
        return json_response({"events": events})

    def framework_accept(self, body: dict) -> Response:
        launches: list[tuple[Agent, Framework, Task]] = []
        with self.lock:
            framework = self.framework_of(body)
            if isinstance(framework, Response):
                return framework
            ids = [str(o["value"]) for o in body.get("offer_ids") or []]
            offers = [framework.offers.get(i) for i in ids]
            tasks = list(body.get("tasks") or [])
            for offer in offers:
                if offer is not None:
                    self._release_offer(framework, offer)
            agents = {o.agent_id for o in offers if o is not None}
            lost = "TASK_DROPPED" if framework.partition_aware else "TASK_LOST"
            if not ids or None in offers or len(agents) != 1:
                bad = next((i for i, o in zip(ids, offers, strict=True) if o is None), "")
                message = (f"Task launched with invalid offers: Offer {bad} is no longer valid"
                           if bad else "Task launched with invalid offers: offers of several "
                                       "agents or none")
                for info in tasks:
                    self.apply_update(framework, status_update(
                        str(info["task_id"]["value"]), lost, str(info.get("slave_id", {})
                                                                  .get("value", "")),
                        "SOURCE_MASTER", reason="REASON_INVALID_OFFERS", message=message))
                return json_response({})
            agent = self.agents[agents.pop()]
            pool = ResourceSet()
            for offer in offers:
                pool = pool.plus(offer.resources)  # type: ignore[union-attr]
            for info in tasks:
                task_id = str(info["task_id"]["value"])
                need = ResourceSet.from_json(info.get("resources"))
                problem = None
                if task_id in framework.tasks:
                    problem = f"Task has duplicate ID: {task_id}"
                elif not pool.contains(need):
                    problem = (f"Task uses more resources {need.summary()} than available "
                               f"{pool.summary()}")
                if problem is not None:
                    self.apply_update(framework, status_update(
                        task_id, "TASK_ERROR", agent.id, "SOURCE_MASTER",
                        reason="REASON_TASK_INVALID", message=problem))
                    continue
                pool = pool.minus(need)
                task = Task({**info, "slave_id": {"value": agent.id}}, framework.id, agent.id)
                framework.tasks[task_id] = task
                agent.used = agent.used.plus(need)
                launches.append((agent, framework, task))
            refuse = float((body.get("filters") or {}).get("refuse_seconds",
                                                           DEFAULT_REFUSE_SECONDS))
            if refuse > 0:
                framework.filters[agent.id] = time.monotonic() + refuse
        for agent, framework, task in launches:
            glog.info("master.cpp:4225", f"Launching task {task.id} of framework {framework.id} "
                                         f"with resources {task.resources.summary()} on agent "
                                         f"{agent.id} at {agent.pid} ({agent.hostname})")
            threading.Thread(target=self._send_run, args=(agent, framework, task),
                             daemon=True).start()
        return json_response({})

    def _send_run(self, agent: Agent, framework: Framework, task: Task) -> None:
        body = {"framework": {"id": framework.id, "name": framework.name, "user": framework.user,
                              "hostname": framework.hostname,
                              "capabilities": framework.capabilities,
                              "checkpoint": framework.checkpoint},
                "task": task.info}
        try:
            status, _ = post_json(agent.ip, agent.port, f"{PRIVATE}/run", body, timeout=10)
        except Unreachable:
            status = 0
        if status != 200:
            with self.lock:
                lost = "TASK_DROPPED" if framework.partition_aware else "TASK_LOST"
                self.master_update(framework, task, lost, "REASON_SLAVE_REMOVED",
                                   f"Agent {agent.hostname} did not take the task")

    def framework_decline(self, body: dict) -> Response:
        with self.lock:
            framework = self.framework_of(body)
            if isinstance(framework, Response):
                return framework
            refuse = float((body.get("filters") or {}).get("refuse_seconds",
                                                           DEFAULT_REFUSE_SECONDS))
            for offer_id in body.get("offer_ids") or []:
                offer = framework.offers.get(str(offer_id["value"]))
                if offer is None:
                    continue
                self._release_offer(framework, offer)
                if refuse > 0:
                    framework.filters[offer.agent_id] = time.monotonic() + refuse
        return json_response({})

    def framework_revive(self, body: dict) -> Response:
        with self.lock:
            framework = self.framework_of(body)
            if isinstance(framework, Response):
                return framework
            framework.filters.clear()
            framework.suppressed = False
        return json_response({})

    def framework_suppress(self, body: dict) -> Response:
        with self.lock:
            framework = self.framework_of(body)
            if isinstance(framework, Response):
                return framework
            framework.suppressed = True
            self.rescind_offers(framework)
        return json_response({})

    def framework_kill(self, body: dict) -> Response:
        task_id = str((body.get("task_id") or {}).get("value", ""))
        with self.lock:
            framework = self.framework_of(body)
            if isinstance(framework, Response):
                return framework
            task = framework.tasks.get(task_id)
            agent = self.agents.get(task.agent_id) if task is not None else None
            if task is None or agent is None:
                state = "TASK_UNKNOWN" if framework.partition_aware else "TASK_LOST"
                agent_id = task.agent_id if task is not None else str(
                    (body.get("slave_id") or {}).get("value", ""))
                self.apply_update(framework, status_update(
                    task_id, state, agent_id, "SOURCE_MASTER",
                    reason="REASON_RECONCILIATION", message="Reconciliation: Task is unknown"))
                return json_response({})
        glog.info("master.cpp:5806", f"Telling agent {agent.id} at {agent.pid} ({agent.hostname}) "
                                     f"to kill task {task_id} of framework {framework.id}")
        threading.Thread(target=self._send, args=(agent, "/kill", {
            "framework_id": framework.id, "task_id": task_id}), daemon=True).start()
        return json_response({})

    def _send(self, agent: Agent, path: str, body: dict) -> None:
        try:
            post_json(agent.ip, agent.port, f"{PRIVATE}{path}", body, timeout=10)
        except Unreachable:
            glog.warning("master.cpp:1", f"Agent {agent.id} at {agent.pid} did not answer {path}")

    def framework_reconcile(self, body: dict) -> Response:
        with self.lock:
            framework = self.framework_of(body)
            if isinstance(framework, Response):
                return framework
            asked = {str(s["task_id"]["value"]): str((s.get("slave_id") or {}).get("value", ""))
                     for s in body.get("statuses") or []}
            for task_id in asked or list(framework.tasks):
                task = framework.tasks.get(task_id)
                if task is not None:
                    framework.events.put({"type": "update", "status": status_update(
                        task.id, task.state, task.agent_id, "SOURCE_MASTER",
                        reason="REASON_RECONCILIATION",
                        message="Reconciliation: Latest task state")})
                    continue
                answer = self.unknown_task_state(framework, asked.get(task_id, ""))
                if answer is not None:
                    framework.events.put({"type": "update", "status": status_update(
                        task_id, answer[0], asked.get(task_id, ""), "SOURCE_MASTER",
                        reason="REASON_RECONCILIATION", message=answer[1])})
        return json_response({})

    def unknown_task_state(self, framework: Framework, agent_id: str) -> tuple[str, str] | None:
        """What explicit reconciliation answers for a task the master does not know, by what
        it knows of the agent (Mesos' reconciliation docs): nothing while the agent is
        transitional (recovered from the registry, not re-registered yet, or any agent is
        when the framework named none); unreachable; known: the task is gone; unknown."""
        registry = self.registry
        aware = framework.partition_aware
        if agent_id in registry.transitional or (not agent_id and registry.transitional):
            return None
        if agent_id in registry.unreachable:
            return ("TASK_UNREACHABLE" if aware else "TASK_LOST",
                    "Reconciliation: Task is unreachable")
        if agent_id in self.agents:
            return ("TASK_GONE" if aware else "TASK_LOST",
                    "Reconciliation: Task is unknown to the agent")
        return ("TASK_UNKNOWN" if aware else "TASK_LOST", "Reconciliation: Task is unknown")

    def framework_teardown(self, body: dict) -> Response:
        with self.lock:
            framework = self.framework_of(body)
            if isinstance(framework, Response):
                return framework
        self.remove_framework(framework, notify=False)
        return json_response({})

    def remove_framework(self, framework: Framework, notify: bool) -> None:
        """Teardown: offers back, every task killed on its agent, the framework completed."""
        with self.lock:
            self.frameworks.pop(framework.id, None)
            framework.active = False
            self.rescind_offers(framework)
            agents = {t.agent_id for t in framework.tasks.values()}
            for task in list(framework.tasks.values()):
                agent = self.agents.get(task.agent_id)
                if agent is not None:
                    agent.used = agent.used.minus(task.resources)
                task.state = "TASK_KILLED"
                framework.completed_tasks.append(task)
            framework.tasks.clear()
            self.completed_frameworks.append(framework)
            if notify:
                framework.events.put({"type": "error", "message": "Framework has been removed"})
            targets = [self.agents[a] for a in agents if a in self.agents]
        glog.info("master.cpp:10627", f"Removing framework {framework.id} ({framework.name})")
        for agent in targets:
            threading.Thread(target=self._send, args=(
                agent, "/shutdown_framework", {"framework_id": framework.id}), daemon=True).start()

    # ----- the agent side -----------------------------------------------------------------

    def agent_update(self, body: dict) -> Response:
        status = dict(body.get("status") or {})
        with self.lock:
            if str(body.get("id", "")) not in self.agents or not self.is_leader():
                return json_response({"action": "reregister"}, 404)
            framework = self.frameworks.get(str(body.get("framework_id", "")))
            self.apply_update(framework, status)
        glog.info("master.cpp:8703", f"Status update {status.get('state')} for task "
                                     f"{status.get('task_id', {}).get('value')} of framework "
                                     f"{body.get('framework_id')} from agent {body.get('id')}")
        return json_response({})
