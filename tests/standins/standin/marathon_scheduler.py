"""What the leading Marathon does with Mesos: instances, offers, deployments, health checks
(smack test stand-in, not Marathon).

- The framework registers with the leading Mesos master (capabilities PARTITION_AWARE,
  REGION_AWARE, MULTI_ROLE, user --mesos_user or the process' user), fails over with the id it
  stored, and reconciles the tasks it knows after every (re-)registration.
- Each app wants `instances` instances of its current configuration. Missing ones are launched
  on offers that fit (cpus, mem, disk, free ports picked at random from the offer, the app's
  constraints); an offer with a maintenance window, or with nothing to launch, is declined for
  --decline_offer_duration. Offers are revived when work appears and suppressed when none is
  left. Task ids are `<app path with _>.instance-<uuid1>._app.<incarnation>`; a failed instance
  is relaunched with the next incarnation after the app's backoff (backoffSeconds x
  backoffFactor^n, at most maxLaunchDelaySeconds), and its end is the app's lastTaskFailure.
- Deployments: a new app is StartApplication then ScaleApplication; a count change
  ScaleApplication; a configuration change RestartApplication (new instances first, old ones
  killed once the new ones are healthy); a deletion StopApplication. A deployment ends when its
  app has exactly the wanted instances of its current configuration, all running and, with
  health checks, healthy. Surplus instances are killed youngest first.
- Marathon health checks (HTTP, HTTPS, TCP) are probed by the leader at the task's host and
  port after delaySeconds, every intervalSeconds; failures count only after gracePeriodSeconds
  or a first success; maxConsecutiveFailures of them kill the task (lastTaskFailure "Task was
  killed since health check failed. Reason: <cause>", issue 13). MESOS_* checks are passed to
  the agent in the TaskInfo and their verdict arrives with the status updates.
"""

from __future__ import annotations

import contextlib
import getpass
import random
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .client import Unreachable, post_json, request
from .common import PRIVATE
from .marathon_apps import host_port_count, now_version, task_name, task_prefix
from .marathon_launcher import log

if TYPE_CHECKING:
    from .marathon import Marathon

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
            "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"}
FAILED = TERMINAL - {"TASK_FINISHED"}
SCHEDULER = "mesosphere.marathon.MarathonScheduler:Thread-11"
HEALTH = ("mesosphere.marathon.core.health.impl.HealthCheckActor:"
          "marathon-akka.actor.default-dispatcher-5")
DEPLOY = ("mesosphere.marathon.core.deployment.impl.DeploymentManagerActor:"
          "marathon-akka.actor.default-dispatcher-7")
MAX_PER_OFFER = 5  # --max_instances_per_offer
KILL_RETRY = 30.0  # --kill_retry_timeout


@dataclass
class Instance:
    id: str
    app_id: str
    config_version: str
    app_version: str
    incarnation: int = 1
    agent_id: str = ""
    host: str = ""
    ip: str = ""
    ports: list[int] = field(default_factory=list)
    state: str = "TASK_STAGING"
    staged_at: str = ""
    started_at: str | None = None
    started_clock: float = 0.0
    kill_reason: str | None = None
    killed_at: float = 0.0
    health: list[dict] = field(default_factory=list)
    mesos_healthy: bool | None = None
    next_check: list[float] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    health_message: str = ""

    @property
    def task_id(self) -> str:
        return f"{self.id}._app.{self.incarnation}"

    @property
    def active(self) -> bool:
        return self.state not in TERMINAL

    def healthy(self, checks: list[dict]) -> bool:
        if self.state != "TASK_RUNNING":
            return False
        if not checks:
            return True
        marathon = [h for c, h in zip(checks, self.health, strict=False)
                    if not c["protocol"].startswith("MESOS_") and c["protocol"] != "COMMAND"]
        mesos_ok = self.mesos_healthy is not False and (
            self.mesos_healthy is True or all(not c["protocol"].startswith("MESOS_")
                                              and c["protocol"] != "COMMAND" for c in checks))
        return all(h.get("alive") for h in marathon) and mesos_ok

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Deployment:
    id: str
    version: str
    app_id: str
    steps: list[str]
    current_step: int = 1

    def json(self) -> dict[str, object]:
        action = self.steps[self.current_step - 1]
        return {
            "id": self.id,
            "steps": [{"actions": [{"action": s, "app": self.app_id}]} for s in self.steps],
            "version": self.version,
            "affectedApps": [self.app_id],
            "affectedPods": [],
            "currentActions": [{"action": action, "app": self.app_id,
                                "readinessCheckResults": []}],
            "currentStep": self.current_step,
            "totalSteps": len(self.steps),
        }


class Scheduler:
    def __init__(self, marathon: Marathon) -> None:
        self.m = marathon
        self.lock = threading.RLock()
        self.apps: dict[str, dict] = {}
        self.instances: dict[str, Instance] = {}
        self.deployments: list[Deployment] = []
        self.failures: dict[str, dict] = {}
        self.delays: dict[str, tuple[float, float]] = {}  # app -> (delay seconds, launch after)
        self.since: dict[str, str] = {}  # app -> when its launch queue entry appeared
        self.framework_id: str | None = None
        self.master: tuple[str, int, str] | None = None
        self.suppressed = False
        self.last_revive = 0.0
        self.counters: dict[str, int] = {}

    # ----- state -----------------------------------------------------------------------

    def load(self) -> None:
        """On election: what the store holds becomes what this leader manages."""
        store = self.m.store
        assert store is not None
        with self.lock:
            self.apps = store.load("apps")
            self.instances = {}
            for key, data in store.load("instances").items():
                with contextlib.suppress(TypeError):
                    self.instances[key] = Instance(**data)
            self.framework_id = store.framework_id()
            self.deployments = []

    def save(self, instance: Instance) -> None:
        store = self.m.store
        if store is None:
            return
        if instance.active or instance.id in self.instances:
            store.put("instances", instance.to_json())
        else:
            store.delete("instances", instance.id)

    def of_app(self, app_id: str) -> list[Instance]:
        return [i for i in self.instances.values() if i.app_id == app_id]

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    # ----- Mesos: registration and events ---------------------------------------------

    def mesos_loop(self) -> None:
        while True:
            if not self.m.elected:
                self.master = None
                time.sleep(0.5)
                continue
            try:
                master = self.m.mesos_master()
            except Exception:
                master = None
            if master is None:
                time.sleep(0.5)
                continue
            if not self.register(master):
                time.sleep(1.0)
                continue
            self.poll_until_lost(master)

    def framework_body(self) -> dict[str, object]:
        conf = self.m.conf
        body: dict[str, object] = {
            "id": self.framework_id,
            "name": conf.get("framework_name", "marathon"),
            "hostname": self.m.hostname,
            "webui_url": conf.get("webui_url") or f"http://{self.m.me}",
            "user": conf.get("mesos_user") or getpass.getuser(),
            "role": conf.get("mesos_role") or "*",
            "failover_timeout": float(str(conf.get("failover_timeout", 604800))),
            "checkpoint": bool(conf.get("checkpoint", True)),
            "capabilities": ["PARTITION_AWARE", "REGION_AWARE", "MULTI_ROLE"],
            "pid": f"scheduler-{uuid.uuid4()}@{self.m.hostname}",
        }
        if conf.get("mesos_authentication"):
            body["credential"] = self.m.credential()
        return body

    def register(self, master: tuple[str, int, str]) -> bool:
        try:
            status, answer = post_json(master[0], master[1], f"{PRIVATE}/framework/register",
                                       self.framework_body())
        except Unreachable:
            return False
        if status == 403 and (answer or {}).get("action") == "exit":
            message = str(answer.get("message"))
            if "refused authentication" in message:
                log("ERROR", "Master refused authentication", SCHEDULER)
                self.m.abdicate_and_exit(106)
            log("ERROR", f"Mesos error: {message}", SCHEDULER)
            self.m.abdicate_and_exit(1)
        if status != 200:
            return False
        with self.lock:
            self.framework_id = str(answer["id"])
            self.master = master
            if self.m.store is not None:
                self.m.store.set_framework_id(self.framework_id)
        master_id = str((answer.get("master_info") or {}).get("id", master[2]))
        log("INFO", f"Registered as {self.framework_id} to master '{master_id}'", SCHEDULER)
        self.m.mesos_leader = master[2]
        # Each task's last status, with the agent it is on (Marathon's TaskStatusCollector).
        self.call("reconcile", {"statuses": [
            {"task_id": {"value": i.task_id}, "state": i.state,
             **({"slave_id": {"value": i.agent_id}} if i.agent_id else {})}
            for i in list(self.instances.values()) if i.active]})
        self.suppressed = False
        return True

    def poll_until_lost(self, master: tuple[str, int, str]) -> None:
        while self.m.elected and self.master == master:
            try:
                status, answer = post_json(master[0], master[1], f"{PRIVATE}/framework/poll",
                                           {"id": self.framework_id, "wait": 1.0}, timeout=8)
            except Unreachable:
                log("WARN", "Disconnected from Mesos master", SCHEDULER)
                self.master = None
                return
            if status == 403:
                log("ERROR", f"Mesos error: {(answer or {}).get('message')}; removing framework id",
                    SCHEDULER)
                if self.m.store is not None:
                    self.m.store.set_framework_id(None)
                self.m.abdicate_and_exit(1)
            if status != 200:
                self.master = None
                return
            for event in (answer or {}).get("events") or []:
                self.dispatch(event)

    def dispatch(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "offers":
            self.offers(list(event.get("offers") or []))
        elif kind == "update":
            self.status_update(dict(event["status"]))
        elif kind == "error":
            log("ERROR", f"Mesos error: {event.get('message')}", SCHEDULER)
            self.m.abdicate_and_exit(1)

    def call(self, name: str, body: dict) -> bool:
        master = self.master
        if master is None or self.framework_id is None:
            return False
        try:
            status, _ = post_json(master[0], master[1], f"{PRIVATE}/framework/{name}",
                                  {"id": self.framework_id, **body}, timeout=8)
        except Unreachable:
            return False
        self.count(f"marathon.mesos.calls.{name}.counter")
        return status == 200

    # ----- the launch queue and offers ----------------------------------------------------

    def wanted(self) -> dict[str, int]:
        """App id -> instances to launch now (backoff permitting)."""
        now = time.monotonic()
        out = {}
        with self.lock:
            for app_id, app in self.apps.items():
                current = [i for i in self.of_app(app_id)
                           if i.active and i.config_version == config_version(app)]
                missing = int(app.get("instances", 1)) - len(current)
                if missing > 0:
                    self.since.setdefault(app_id, now_version())
                    if self.delays.get(app_id, (0.0, 0.0))[1] <= now:
                        out[app_id] = missing
                else:
                    self.since.pop(app_id, None)
        return out

    def offers(self, offers: list[dict]) -> None:
        declined: list[dict] = []
        for offer in offers:
            self.count("marathon.mesos.offers.incoming.counter")
            tasks = [] if "unavailability" in offer else self.match(offer)
            if tasks:
                self.count("marathon.mesos.offers.used.counter")
                self.call("accept", {"offer_ids": [offer["id"]], "tasks": tasks,
                                     "filters": {"refuse_seconds": 5.0}})
            else:
                declined.append(offer["id"])
        if declined:
            refuse = int(str(self.m.conf.get("decline_offer_duration", 120000))) / 1000
            self.call("decline", {"offer_ids": declined, "filters": {"refuse_seconds": refuse}})

    def match(self, offer: dict) -> list[dict]:
        wanted = self.wanted()
        if not wanted:
            return []
        free = {r["name"]: r for r in offer.get("resources") or []}
        scalars = {n: float(r["scalar"]["value"]) for n, r in free.items() if "scalar" in r}
        ports = [p for r in (free.get("ports") or {}).get("ranges", {}).get("range", [])
                 for p in range(int(r["begin"]), int(r["end"]) + 1)]
        random.shuffle(ports)
        tasks: list[dict] = []
        with self.lock:
            for app_id, missing in wanted.items():
                app = self.apps.get(app_id)
                if app is None:
                    continue
                for _ in range(missing):
                    if len(tasks) >= MAX_PER_OFFER:
                        return tasks
                    need = {"cpus": app["cpus"], "mem": app["mem"], "disk": app.get("disk", 0.0)}
                    count = host_port_count(app)
                    if any(scalars.get(k, 0.0) + 1e-9 < v for k, v in need.items() if v > 0):
                        break
                    if len(ports) < count or not self.fits_constraints(app, offer):
                        break
                    chosen, ports = ports[:count], ports[count:]
                    for key, value in need.items():
                        scalars[key] = scalars.get(key, 0.0) - value
                    instance = self.new_instance(app, offer, chosen)
                    tasks.append(self.task_info(app, instance, offer))
        return tasks

    def fits_constraints(self, app: dict, offer: dict) -> bool:
        others = [i for i in self.of_app(app["id"]) if i.active]
        attributes = _attributes(offer)

        def value_of(field_name: str, host: str, attrs: dict[str, str]) -> str | None:
            return host if field_name == "hostname" else attrs.get(field_name)

        for constraint in app.get("constraints") or []:
            name, operator = constraint[0], constraint[1]
            argument = constraint[2] if len(constraint) > 2 else None
            here = value_of(name, offer["hostname"], attributes)
            there = [value_of(name, i.host, i.attributes) for i in others]
            if not _constraint_holds(operator, argument, here, there):
                return False
        return True

    def new_instance(self, app: dict, offer: dict, ports: list[int]) -> Instance:
        previous = [i for i in self.of_app(app["id"]) if not i.active and i.kill_reason is None
                    and i.config_version == config_version(app)]
        if previous:  # the failed instance comes back with its next incarnation
            instance = previous[0]
            instance.incarnation += 1
        else:
            instance = Instance(f"{task_prefix(app['id'])}.instance-{uuid.uuid1()}", app["id"],
                                config_version(app), str(app["version"]))
            self.instances[instance.id] = instance
        address = (offer.get("url") or {}).get("address") or {}
        instance.agent_id = str(offer["slave_id"]["value"])
        instance.host = str(offer["hostname"])
        instance.ip = str(address.get("ip") or offer["hostname"])
        instance.ports = ports
        instance.state = "TASK_STAGING"
        instance.staged_at = now_version()
        instance.started_at = None
        instance.app_version = str(app["version"])
        instance.health = [{} for _ in app.get("healthChecks") or []]
        instance.next_check = []
        instance.mesos_healthy = None
        instance.attributes = _attributes(offer)
        self.save(instance)
        log("INFO", f"Launching instance {instance.id} of {app['id']} on {instance.host}",
            "mesosphere.marathon.core.launcher.impl.OfferProcessorImpl:marathon-akka.actor."
            "default-dispatcher-5")
        return instance

    def task_info(self, app: dict, instance: Instance, offer: dict) -> dict:
        variables = _task_environment(app, instance)
        definitions = app.get("portDefinitions") or []
        command: dict[str, Any] = {
            "environment": {"variables": [{"name": k, "value": v} for k, v in variables.items()]},
            "uris": [{"value": f["uri"], "extract": f.get("extract", True),
                      "executable": f.get("executable", False), "cache": f.get("cache", False),
                      **({"output_file": f["destPath"]} if f.get("destPath") else {})}
                     for f in app.get("fetch") or []],
        }
        if app.get("cmd"):
            command.update({"value": app["cmd"], "shell": True})
        elif app.get("args"):
            command.update({"value": app["args"][0], "arguments": app["args"], "shell": False})
        if app.get("user"):
            command["user"] = app["user"]
        resources = [{"name": n, "type": "SCALAR", "scalar": {"value": float(app[k])}, "role": "*"}
                     for n, k in (("cpus", "cpus"), ("mem", "mem"), ("disk", "disk"))
                     if float(app.get(k, 0.0)) > 0]
        if instance.ports:
            resources.append({"name": "ports", "type": "RANGES", "role": "*", "ranges": {
                "range": [{"begin": p, "end": p} for p in instance.ports]}})
        name = task_name(app["id"])
        info: dict[str, Any] = {
            "name": name,
            "task_id": {"value": instance.task_id},
            "slave_id": {"value": instance.agent_id},
            "resources": resources,
            "command": command,
            "discovery": {"visibility": "FRAMEWORK", "name": name, "ports": {"ports": [
                {"number": p, "name": (definitions[i].get("name") if i < len(definitions)
                                       else None) or "default", "protocol": "tcp"}
                for i, p in enumerate(instance.ports)]}},
        }
        if app.get("labels"):
            info["labels"] = {"labels": [{"key": k, "value": str(v)}
                                         for k, v in app["labels"].items()]}
        mesos_check = next((c for c in app.get("healthChecks") or []
                            if c["protocol"].startswith("MESOS_") or c["protocol"] == "COMMAND"),
                           None)
        if mesos_check is not None:
            info["health_check"] = mesos_health_check(mesos_check, instance.ports)
        if app.get("taskKillGracePeriodSeconds"):
            info["kill_policy"] = {"grace_period": {
                "nanoseconds": int(float(app["taskKillGracePeriodSeconds"]) * 1e9)}}
        limits = app.get("resourceLimits") or {}
        if limits:
            info["limits"] = {k: {"value": -1.0 if v == "unlimited" else float(v)}
                              for k, v in limits.items()}
        container = app.get("container") or {}
        if container.get("type") == "DOCKER":
            info["container"] = {"type": "DOCKER", "docker": {
                "image": (container.get("docker") or {}).get("image", ""),
                "network": "BRIDGE" if any(n.get("mode") == "container/bridge"
                                           for n in app.get("networks") or []) else "HOST"}}
        return info

    # ----- status updates -----------------------------------------------------------------

    def status_update(self, status: dict) -> None:
        task_id = str(status["task_id"]["value"])
        state = str(status["state"])
        with self.lock:
            instance = next((i for i in self.instances.values() if i.task_id == task_id), None)
            if instance is None:
                if state not in TERMINAL:
                    log("WARN", f"Killing unknown task {task_id}", SCHEDULER)
                    threading.Thread(target=self.call, args=("kill", {"task_id": {
                        "value": task_id}}), daemon=True).start()
                return
            previous = instance.state
            instance.state = state
            if "healthy" in status:
                instance.mesos_healthy = bool(status["healthy"])
            if state == "TASK_RUNNING" and instance.started_at is None:
                instance.started_at = now_version()
                instance.started_clock = time.monotonic()
            if state in TERMINAL and previous not in TERMINAL:
                self.ended(instance, status)
            self.save(instance)

    def ended(self, instance: Instance, status: dict) -> None:
        state = str(status["state"])
        app = self.apps.get(instance.app_id)
        expected = instance.kill_reason is not None and instance.kill_reason != "health"
        if state in FAILED and not expected:
            message = status.get("message") or ""
            if instance.kill_reason == "health":
                message = instance.health_message
            self.failures[instance.app_id] = {
                "appId": instance.app_id, "host": instance.host, "message": message,
                "state": state, "taskId": instance.task_id, "timestamp": now_version(),
                "version": instance.app_version, "slaveId": instance.agent_id,
            }
            if app is not None:
                delay, _ = self.delays.get(instance.app_id, (0.0, 0.0))
                delay = float(app.get("backoffSeconds", 1)) if not delay else min(
                    delay * float(app.get("backoffFactor", 1.15)),
                    float(app.get("maxLaunchDelaySeconds", 300)))
                self.delays[instance.app_id] = (delay, time.monotonic() + delay)
            self.revive()
        if expected or app is None or instance.config_version != config_version(app):
            # Gone for good: killed on purpose, or of an app or configuration no longer wanted.
            self.instances.pop(instance.id, None)
            if self.m.store is not None:
                self.m.store.delete("instances", instance.id)
        else:
            instance.kill_reason = None

    # ----- the periodic work of the leader ------------------------------------------------

    def tick_loop(self) -> None:
        while True:
            time.sleep(0.5)
            if not self.m.elected:
                continue
            try:
                self.tick()
            except Exception as exc:
                log("ERROR", f"Scheduling round failed: {exc!r}", SCHEDULER)

    def tick(self) -> None:
        kills: list[Instance] = []
        with self.lock:
            for app_id, app in list(self.apps.items()):
                kills += self.surplus(app_id, app)
            for instance in self.instances.values():
                if instance.app_id not in self.apps and instance.active:
                    kills.append(self.mark(instance, "app removed"))
            for instance in self.instances.values():
                if (instance.kill_reason and instance.active
                        and time.monotonic() - instance.killed_at > KILL_RETRY):
                    kills.append(self.mark(instance, instance.kill_reason))
            self.finish_deployments()
            need = bool(self.wanted())
        for instance in kills:
            self.call("kill", {"task_id": {"value": instance.task_id},
                               "slave_id": {"value": instance.agent_id}})
        if need:
            self.revive()
        elif not self.suppressed and not any(i.state == "TASK_STAGING"
                                             for i in self.instances.values()):
            self.suppressed = self.call("suppress", {})
        self.health_round()

    def mark(self, instance: Instance, reason: str) -> Instance:
        instance.kill_reason = reason
        instance.killed_at = time.monotonic()
        self.save(instance)
        return instance

    def surplus(self, app_id: str, app: dict) -> list[Instance]:
        """Instances to kill: more than wanted (youngest first), or of an old configuration
        once the current one is fully up."""
        active = [i for i in self.of_app(app_id) if i.active and i.kill_reason is None]
        current = [i for i in active if i.config_version == config_version(app)]
        old = [i for i in active if i.config_version != config_version(app)]
        wanted = int(app.get("instances", 1))
        out = []
        if len(current) > wanted:
            youngest = sorted(current, key=lambda i: i.staged_at,
                              reverse=app.get("killSelection") != "OLDEST_FIRST")
            out += [self.mark(i, "scale") for i in youngest[: len(current) - wanted]]
        checks = app.get("healthChecks") or []
        ready = len([i for i in current if i.healthy(checks)]) >= wanted
        if old and ready:
            out += [self.mark(i, "upgrade") for i in old]
        return out

    def finish_deployments(self) -> None:
        for deployment in list(self.deployments):
            app = self.apps.get(deployment.app_id)
            if deployment.steps[-1] == "StopApplication":
                done = not any(i.active for i in self.of_app(deployment.app_id))
            elif app is None:
                done = True
            else:
                checks = app.get("healthChecks") or []
                active = [i for i in self.of_app(deployment.app_id) if i.active]
                current = [i for i in active if i.config_version == config_version(app)]
                done = (len(active) == len(current) == int(app.get("instances", 1))
                        and all(i.healthy(checks) for i in current))
            if done:
                self.deployments.remove(deployment)
                log("INFO", f"Deployment {deployment.id}:{deployment.version} of "
                            f"{deployment.app_id} finished",
                    "mesosphere.marathon.MarathonSchedulerActor:marathon-akka.actor."
                    "default-dispatcher-9")
            elif deployment.steps[deployment.current_step - 1] == "StartApplication":
                deployment.current_step += 1

    def revive(self) -> None:
        now = time.monotonic()
        min_interval = int(str(self.m.conf.get("min_revive_offers_interval", 5000))) / 1000
        due = self.suppressed or now - self.last_revive >= min_interval
        if due and self.call("revive", {}):
            self.suppressed = False
            self.last_revive = now

    # ----- Marathon health checks -----------------------------------------------------------

    def health_round(self) -> None:
        now = time.monotonic()
        due: list[tuple[Instance, int, dict]] = []
        with self.lock:
            for instance in self.instances.values():
                app = self.apps.get(instance.app_id)
                if app is None or instance.state != "TASK_RUNNING" or instance.kill_reason:
                    continue
                checks = app.get("healthChecks") or []
                if len(instance.next_check) != len(checks):
                    instance.next_check = [instance.started_clock + float(c.get("delaySeconds", 15))
                                           for c in checks]
                    instance.health = [{} for _ in checks]
                for index, check in enumerate(checks):
                    if check["protocol"] not in ("HTTP", "HTTPS", "TCP"):
                        continue
                    if instance.next_check[index] <= now:
                        instance.next_check[index] = now + float(check.get("intervalSeconds", 60))
                        due.append((instance, index, check))
        for instance, index, check in due:
            threading.Thread(target=self.probe, args=(instance, index, check),
                             daemon=True).start()

    def probe(self, instance: Instance, index: int, check: dict) -> None:
        cause = probe_once(check, instance)
        stamp = now_version()
        kill = False
        with self.lock:
            if instance.state != "TASK_RUNNING" or instance.kill_reason:
                return
            result = instance.health[index] if index < len(instance.health) else {}
            if cause is None:
                result.update({"alive": True, "consecutiveFailures": 0,
                               "firstSuccess": result.get("firstSuccess") or stamp,
                               "lastSuccess": stamp})
                self.delays.pop(instance.app_id, None)
            else:
                grace = float(check.get("gracePeriodSeconds", 300))
                in_grace = (not result.get("firstSuccess")
                            and time.monotonic() - instance.started_clock < grace)
                if in_grace:
                    return
                failures = int(result.get("consecutiveFailures", 0)) + 1
                result.update({"alive": False, "consecutiveFailures": failures,
                               "lastFailure": stamp, "lastFailureCause": cause})
                limit = int(check.get("maxConsecutiveFailures", 3))
                kill = limit > 0 and failures >= limit
            if kill:
                message = f"Task was killed since health check failed. Reason: {cause}"
                instance.health_message = message
                log("INFO", f"Detected unhealthy {instance.id} of app [{instance.app_id}] "
                            f"version [{instance.app_version}] on host {instance.host}", HEALTH)
                log("INFO", message, HEALTH)
                self.mark(instance, "health")
        if kill:
            self.call("kill", {"task_id": {"value": instance.task_id},
                               "slave_id": {"value": instance.agent_id}})


def config_version(app: dict) -> str:
    return str((app.get("versionInfo") or {}).get("lastConfigChangeAt") or app.get("version"))


def _matches(operator: str, argument: str | None, value: str) -> bool:
    if operator == "IS":
        return value == argument
    return re.fullmatch(str(argument), value) is not None


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def mesos_health_check(check: dict, ports: list[int]) -> dict:
    """A Marathon MESOS_*/COMMAND health check as a Mesos HealthCheck (mesos.proto)."""
    port = check.get("port") or (ports[check.get("portIndex", 0)]
                                 if check.get("portIndex", 0) < len(ports) else 0)
    out: dict[str, Any] = {
        "delay_seconds": float(check.get("delaySeconds", 15)),
        "interval_seconds": float(check.get("intervalSeconds", 60)),
        "timeout_seconds": float(check.get("timeoutSeconds", 20)),
        "consecutive_failures": int(check.get("maxConsecutiveFailures", 3)),
        "grace_period_seconds": float(check.get("gracePeriodSeconds", 300)),
    }
    protocol = check["protocol"]
    if protocol == "COMMAND":
        out.update({"type": "COMMAND", "command": {"value": (check.get("command") or {})
                                                   .get("value", ""), "shell": True}})
    elif protocol == "MESOS_TCP":
        out.update({"type": "TCP", "tcp": {"port": port}})
    else:
        out.update({"type": "HTTP", "http": {"scheme": "https" if protocol == "MESOS_HTTPS"
                                             else "http", "port": port,
                                             "path": check.get("path", "/")}})
    return out


def probe_once(check: dict, instance: Instance) -> str | None:
    """None when healthy, else the cause Marathon records (e.g. '404 Not Found')."""
    port = check.get("port") or (instance.ports[check.get("portIndex", 0)]
                                 if check.get("portIndex", 0) < len(instance.ports) else None)
    if port is None:
        return "No port to probe"
    timeout = float(check.get("timeoutSeconds", 20))
    host = instance.host
    try:
        if check["protocol"] == "TCP":
            with socket.create_connection((host, int(port)), timeout=timeout):
                return None
        if check["protocol"] == "HTTPS":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            with socket.create_connection((host, int(port)), timeout=timeout) as raw, \
                    context.wrap_socket(raw) as tls:
                path = check.get("path", "/")
                tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                            .encode())
                line = tls.recv(256).decode("latin-1").split("\r\n", 1)[0]
            code = int(line.split()[1])
            phrase = " ".join(line.split()[2:])
        else:
            code, _, _ = request(host, int(port), "GET", str(check.get("path", "/")),
                                 timeout=timeout)
            phrase = _phrase(code)
    except (Unreachable, OSError, ValueError, IndexError) as exc:
        text = str(exc)
        return "Connection refused" if "refused" in text.lower() else text or "probe failed"
    if 200 <= code < 400 or (check.get("ignoreHttp1xx") and 100 <= code < 200):
        return None
    return f"{code} {phrase}".strip()


def _phrase(code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _task_environment(app: dict, instance: Instance) -> dict[str, str]:
    """The variables Marathon gives a task (the real task's environ, real-marathon-samples)."""
    variables = {
        "MARATHON_APP_VERSION": str(app["version"]),
        "HOST": instance.host,
        "MARATHON_APP_RESOURCE_CPUS": str(app["cpus"]),
        "MARATHON_APP_RESOURCE_GPUS": str(app.get("gpus", 0)),
        "MARATHON_APP_DOCKER_IMAGE": str(((app.get("container") or {}).get("docker") or {})
                                         .get("image", "")),
        "MESOS_TASK_ID": instance.task_id,
        "MARATHON_APP_RESOURCE_MEM": str(app["mem"]),
        "MARATHON_APP_RESOURCE_DISK": str(app.get("disk", 0.0)),
        "MARATHON_APP_LABELS": " ".join(sorted(app.get("labels") or {})),
        "MARATHON_APP_ID": app["id"],
    }
    for name, value in (app.get("labels") or {}).items():
        variables[f"MARATHON_APP_LABEL_{_env_name(name)}"] = str(value)
    definitions = app.get("portDefinitions") or []
    for index, port in enumerate(instance.ports):
        variables[f"PORT{index}"] = str(port)
        if index < len(definitions) and definitions[index].get("name"):
            variables[f"PORT_{_env_name(definitions[index]['name'])}"] = str(port)
    if instance.ports:
        variables["PORT"] = str(instance.ports[0])
        variables["PORTS"] = ",".join(map(str, instance.ports))
    for name, value in (app.get("env") or {}).items():
        if isinstance(value, str):
            variables[name] = value
    return variables


def _attributes(offer: dict) -> dict[str, str]:
    return {a["name"]: str((a.get("text") or {}).get("value",
                                                    (a.get("scalar") or {}).get("value")))
            for a in offer.get("attributes") or []}


def _constraint_holds(operator: str, argument: str | None, here: str | None,
                      there: list[str | None]) -> bool:  # fmt: skip
    """One constraint for an offer whose field has value `here`, with the app's other
    active instances on `there`."""
    if operator == "GROUP_BY":
        if here is None or not there:
            return True
        counts = {v: there.count(v) for v in set(there)}
        crowded = counts.get(here, 0) > min(counts.values())
        return not (crowded and len(counts) >= int(argument or 0))
    # CLUSTER: every instance on the given value, or on the first instance's value.
    target = argument if argument is not None else (there[0] if there else here)
    checks: dict[str, Callable[[], bool]] = {
        "UNIQUE": lambda: here is not None and here not in there,
        "CLUSTER": lambda: here is not None and here == target,
        "LIKE": lambda: here is not None and _matches("LIKE", argument, here),
        "IS": lambda: here is not None and _matches("IS", argument, here),
        "UNLIKE": lambda: here is None or not re.fullmatch(str(argument), here),
        "MAX_PER": lambda: there.count(here) < int(argument or 1),
    }
    check = checks.get(operator)
    return check() if check else True
