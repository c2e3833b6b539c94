"""The leader's /v2 REST API (smack test stand-in, not Marathon).

Shapes, status codes and messages follow real-marathon-samples:
POST /v2/apps            201 + the definition as stored (service ports still 0), Location and
                         Marathon-Deployment-Id; 409 if the app exists; 422 Invalid JSON /
                         Object is not valid
GET  /v2/apps[?embed=apps.tasks|apps.lastTaskFailure]   {"apps": [...]}
GET  /v2/apps/<id>       {"app": {... "tasks": [...], "lastTaskFailure"?}}; 404 with "details"
PUT  /v2/apps/<id>       200 {"deploymentId", "version"} + Marathon-Deployment-Id; an identical
                         or no-op body still gets a new deployment id and version, but the plan
                         has no steps and the app's version stays (hello-put-identical)
DELETE /v2/apps/<id>     200 {"deploymentId", "version"}; 404 without "details"
GET /v2/apps/<id>/tasks, /v2/apps/<id>/versions, /v2/tasks, /v2/deployments, /v2/queue,
/v2/groups (nested groups, kept after their apps go), /v2/pods ([]).
A running deployment locks its app: another change is 409 unless ?force=true.
"""

from __future__ import annotations

import copy
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from .httpd import Request, Response
from .marathon_apps import (
    CREATE,
    STATUS_KEYS,
    UPDATE,
    assign_ports,
    definition_of,
    format_errors,
    invalid_json,
    keep_ports,
    normalize,
    normalize_id,
    not_valid,
    now_version,
    ordered,
    semantic_errors,
    service_ports,
)
from .marathon_http import accepts_json, answer, not_acceptable
from .marathon_launcher import log
from .marathon_scheduler import DEPLOY, Deployment, Instance, Scheduler, config_version

if TYPE_CHECKING:
    from .marathon import Marathon

EMPTY_VERSION = "1970-01-01T00:00:00.000Z"
REJECT_REASONS = ("UnfulfilledRole", "UnfulfilledConstraint", "NoCorrespondingReservationFound",
                  "AgentMaintenance", "InsufficientCpus", "InsufficientMemory",
                  "InsufficientDisk", "InsufficientGpus", "InsufficientPorts",
                  "DeclinedScarceResources")


class AppsApi:
    def __init__(self, marathon: Marathon) -> None:
        self.m = marathon
        self.s: Scheduler = marathon.scheduler
        self.versions: dict[str, list[str]] = {}
        self.groups: dict[str, str] = {}  # group id -> version

    @property
    def leader(self) -> str:
        return self.m.me

    def ok(self, obj: object, status: int = 200, **kwargs: Any) -> Response:
        return answer(status, obj, self.leader, **kwargs)

    def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        if not accepts_json(req):
            return not_acceptable(self.leader)
        if path == "/v2/apps":
            return self.collection(req)
        if path.startswith("/v2/apps/"):
            return self.member(req, path[len("/v2/apps"):])
        views = {
            "/v2/tasks": lambda: {"tasks": self.tasks(service_ports_shown=True)},
            "/v2/deployments": lambda: [d.json() for d in self.s.deployments],
            "/v2/queue": lambda: {"queue": self.queue()},
            "/v2/groups": self.root_group,
            "/v2/pods": lambda: [],
        }
        if path in views and req.method == "GET":
            with self.s.lock:
                return self.ok(views[path](), vary=True)
        return self.other(req, path)

    def other(self, req: Request, path: str) -> Response:
        if path.startswith("/v2/deployments/") and req.method == "DELETE":
            return self.cancel(path[len("/v2/deployments/"):])
        if path == "/v2/eventSubscriptions":
            return self.ok({"message": "URI not found"}, 500)
        return self.ok({"message": "Not Found"}, 404)

    # ----- /v2/apps -------------------------------------------------------------------

    def collection(self, req: Request) -> Response:
        if req.method == "GET":
            wanted = (req.query.get("id") or [""])[0]
            embed = set(req.query.get("embed") or [])
            with self.s.lock:
                apps = [self.view(a, tasks="apps.tasks" in embed,
                                  failure="apps.lastTaskFailure" in embed)
                        for i, a in sorted(self.s.apps.items()) if wanted in i]
            return self.ok({"apps": apps}, vary=True)
        if req.method != "POST":
            return self.ok({"message": "HTTP 405 Method Not Allowed"}, 405)
        body, error = self.parse(req, create=True)
        if error is not None:
            return error
        app = normalize(body)
        with self.s.lock:
            if app["id"] in self.s.apps:
                return self.ok({"message": f"An app with id [{app['id']}] already exists."}, 409)
            version = now_version()
            shown = ordered({**app, "version": version})
            stored = copy.deepcopy(shown)
            self.assign(stored)
            stored["versionInfo"] = {"lastScalingAt": version, "lastConfigChangeAt": version}
            deployment = self.deploy(stored, ["StartApplication", "ScaleApplication"], version)
            self.store(stored)
        headers = [("Location", f"http://{self.leader}{app['id']}"),
                   ("Marathon-Deployment-Id", deployment)]
        body_out = {**shown, **self.counts(app["id"]), "deployments": [{"id": deployment}]}
        return self.ok(_without_version_info(body_out), 201, before_type=headers)

    # ----- /v2/apps/<id> ------------------------------------------------------------------

    def member(self, req: Request, rest: str) -> Response:
        sub = self.sub_resource(req, rest)
        if sub is not None:
            return sub
        app_id = normalize_id(rest)
        if req.method == "GET":
            with self.s.lock:
                app = self.s.apps.get(app_id)
                if app is None:
                    return self.missing(app_id, details=True)
                return self.ok({"app": self.view(app, tasks=True, failure=True)}, vary=True)
        if req.method == "DELETE":
            return self.delete(req, app_id)
        if req.method == "PUT":
            return self.put(req, app_id)
        return self.ok({"message": "HTTP 405 Method Not Allowed"}, 405)

    def sub_resource(self, req: Request, rest: str) -> Response | None:
        """/v2/apps/<id>/tasks and /versions of an app that exists (else the id is the
        app's own, as Marathon reads it)."""
        if req.method != "GET":
            return None
        if rest.endswith("/tasks"):
            app_id = normalize_id(rest[: -len("/tasks")])
            with self.s.lock:
                if app_id in self.s.apps:
                    return self.ok({"tasks": self.tasks(app_id)}, vary=True)
        if rest.endswith("/versions"):
            app_id = normalize_id(rest[: -len("/versions")])
            if app_id in self.s.apps:
                return self.ok({"versions": self.versions.get(app_id, [])}, vary=True)
        return None

    def put(self, req: Request, app_id: str) -> Response:
        body, error = self.parse(req, create=False)
        if error is not None:
            return error
        if "id" in body and normalize_id(str(body["id"])) != app_id:
            detail = {"path": "/id", "errors": [
                f"The id in the body must be '{app_id}' (the id in the URL)"]}
            return self.ok(not_valid([detail]), 422)
        partial = (req.query.get("partialUpdate") or ["true"])[0] != "false"
        force = (req.query.get("force") or ["false"])[0] == "true"
        with self.s.lock:
            existing = self.s.apps.get(app_id)
            base = definition_of(existing or {}) if partial else {}
            merged = normalize({**base, **body, "id": app_id})
            details = semantic_errors(merged, self.m.features())
            if details:
                return self.ok(not_valid(details), 422)
            version = now_version()
            deployment = str(uuid.uuid4())
            if existing is not None:
                keep_ports(merged, existing)
                if definition_of(existing) == merged:
                    # A plan without steps affects no app: nothing is locked or stored.
                    self.log_empty_plan(deployment, version)
                    return self.deployed(deployment, version)
            locked = self.lock_conflict(app_id, force)
            if locked is not None:
                return locked
            steps = (["StartApplication", "ScaleApplication"] if existing is None
                     else ["ScaleApplication"] if self.scale_only(existing, merged)
                     else ["RestartApplication"])
            app = ordered({**merged, "version": version})
            self.assign(app)
            config = (existing or {}).get("versionInfo", {}).get("lastConfigChangeAt")
            app["versionInfo"] = {"lastScalingAt": version,
                                  "lastConfigChangeAt": config if steps == ["ScaleApplication"]
                                  and config else version}
            self.deploy(app, steps, version, deployment)
            self.store(app)
        return self.deployed(deployment, version, 200 if existing is not None else 201)

    def delete(self, req: Request, app_id: str) -> Response:
        force = (req.query.get("force") or ["false"])[0] == "true"
        with self.s.lock:
            if app_id not in self.s.apps:
                return self.missing(app_id, details=False)
            locked = self.lock_conflict(app_id, force)
            if locked is not None:
                return locked
            del self.s.apps[app_id]
            if self.m.store is not None:
                self.m.store.delete("apps", app_id)
            self.s.failures.pop(app_id, None)
            version = now_version()
            deployment = str(uuid.uuid4())
            self.s.deployments.append(Deployment(deployment, version, app_id,
                                                 ["StopApplication"]))
            for instance in self.s.of_app(app_id):
                if instance.active:
                    self.s.mark(instance, "app removed")
            self.touch_groups(app_id, version)
        for instance in [i for i in self.s.of_app(app_id) if i.active]:
            self.s.call("kill", {"task_id": {"value": instance.task_id},
                                 "slave_id": {"value": instance.agent_id}})
        return self.deployed(deployment, version)

    # ----- helpers --------------------------------------------------------------------------

    def parse(self, req: Request, create: bool) -> tuple[dict, Response | None]:
        try:
            body = req.json()
        except ValueError:
            return {}, self.ok({"message": "Invalid JSON",
                                "details": [{"path": "/", "errors": ["error.expected.jsobject"]}]},
                               422)
        if not isinstance(body, dict):
            return {}, self.ok(invalid_json([{"path": "/", "errors": ["error.expected.jsobject"]}]),
                               422)
        details = format_errors(CREATE if create else UPDATE, body)
        if details:
            return {}, self.ok(invalid_json(details), 422)
        if create:
            problems = semantic_errors(normalize(body), self.m.features())
            if problems:
                return {}, self.ok(not_valid(problems), 422)
        return body, None

    def lock_conflict(self, app_id: str, force: bool) -> Response | None:
        running = [d for d in self.s.deployments if d.app_id == app_id]
        if not running:
            return None
        if force:
            for deployment in running:
                self.s.deployments.remove(deployment)
            return None
        first = running[0].id
        return self.ok({
            "message": "App is locked by one or more deployments. Override with the option "
                       f"'?force=true'. View details at '/v2/deployments/{first}'.",
            "deployments": [{"id": d.id} for d in running]}, 409)

    def cancel(self, deployment_id: str) -> Response:
        with self.s.lock:
            found = [d for d in self.s.deployments if d.id == deployment_id]
            if not found:
                return self.ok({"message": f"DeploymentPlan {deployment_id} does not exist"}, 404)
            self.s.deployments.remove(found[0])
        return self.deployed(str(uuid.uuid4()), now_version())

    def deployed(self, deployment: str, version: str, status: int = 200) -> Response:
        return self.ok({"deploymentId": deployment, "version": version}, status,
                       before_type=[("Marathon-Deployment-Id", deployment)])

    def log_empty_plan(self, deployment: str, version: str) -> None:
        log("INFO", f"Received new deployment plan {deployment} for , no conflicts detected",
            DEPLOY)
        log("INFO", f"Deployment {deployment}:{version} of  finished",
            "mesosphere.marathon.MarathonSchedulerActor:marathon-akka.actor.default-dispatcher-9")

    @staticmethod
    def scale_only(existing: dict, merged: dict) -> bool:
        return definition_of({**existing, "instances": merged.get("instances")}) == {
            **merged}

    def assign(self, app: dict) -> None:
        taken = {p for i, a in self.s.apps.items() if i != app["id"] for p in service_ports(a)}
        low = int(str(self.m.conf.get("local_port_min", 10000)))
        high = int(str(self.m.conf.get("local_port_max", 20000)))
        assign_ports(app, taken, low, high)

    def deploy(self, app: dict, steps: list[str], version: str,
               deployment: str | None = None) -> str:
        deployment = deployment or str(uuid.uuid4())
        self.s.deployments.append(Deployment(deployment, version, app["id"], steps))
        self.s.delays.pop(app["id"], None)
        log("INFO", f"Received new deployment plan {deployment} for {app['id']}, no conflicts "
                    "detected", DEPLOY)
        return deployment

    def store(self, app: dict) -> None:
        self.s.apps[app["id"]] = app
        self.versions.setdefault(app["id"], []).append(app["version"])
        if self.m.store is not None:
            self.m.store.put("apps", app)
        self.touch_groups(app["id"], app["version"])
        self.s.suppressed = True  # new work: revive on the next round

    def touch_groups(self, app_id: str, version: str) -> None:
        parts = app_id.strip("/").split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            self.groups["/" + "/".join(parts[:depth])] = version

    def missing(self, app_id: str, details: bool) -> Response:
        body: dict[str, object] = {"message": f"App '{app_id}' does not exist"}
        if details:
            body["details"] = []
        return self.ok(body, 404)

    # ----- views ----------------------------------------------------------------------------

    def counts(self, app_id: str) -> dict[str, int]:
        app = self.s.apps.get(app_id) or {}
        checks = app.get("healthChecks") or []
        active = [i for i in self.s.of_app(app_id) if i.active]
        running = [i for i in active if i.state == "TASK_RUNNING"]
        judged = [i for i in running if (checks and any(h for h in i.health))
                  or i.mesos_healthy is not None]
        healthy = [i for i in judged if i.healthy(checks)]
        return dict(zip(STATUS_KEYS, (
            sum(i.state in ("TASK_STAGING", "TASK_STARTING") for i in active),
            len(running), len(healthy), len(judged) - len(healthy)), strict=True))

    def view(self, app: dict, *, tasks: bool, failure: bool) -> dict:
        out = {**app, **self.counts(app["id"]),
               "deployments": [{"id": d.id} for d in self.s.deployments
                               if d.app_id == app["id"]]}
        if tasks:
            out["tasks"] = self.tasks(app["id"])
        if failure and app["id"] in self.s.failures:
            out["lastTaskFailure"] = self.s.failures[app["id"]]
        return out

    def task_json(self, instance: Instance, service_ports_shown: bool) -> dict:
        app = self.s.apps.get(instance.app_id) or {}
        out: dict[str, object] = {
            "appId": instance.app_id,
            "healthCheckResults": [
                {"alive": h.get("alive", False),
                 "consecutiveFailures": h.get("consecutiveFailures", 0),
                 "firstSuccess": h.get("firstSuccess"), "lastFailure": h.get("lastFailure"),
                 "lastSuccess": h.get("lastSuccess"),
                 "lastFailureCause": h.get("lastFailureCause"), "instanceId": instance.id}
                for h in instance.health if h],
            "host": instance.host,
            "id": instance.task_id,
            "ipAddresses": [{"ipAddress": instance.ip, "protocol": "IPv4"}],
            "ports": instance.ports,
            "servicePorts": service_ports(app) if service_ports_shown else [],
            "slaveId": instance.agent_id,
            "state": instance.state,
            "stagedAt": instance.staged_at,
        }
        if instance.started_at:
            out["startedAt"] = instance.started_at
        out.update({"version": instance.app_version, "localVolumes": [], "role": "*"})
        return out

    def tasks(self, app_id: str | None = None, service_ports_shown: bool = False) -> list[dict]:
        return [self.task_json(i, service_ports_shown) for i in self.s.instances.values()
                if i.active and (app_id is None or i.app_id == app_id)]

    def queue(self) -> list[dict]:
        out = []
        wanted = self.s.wanted()
        import time as _time

        for app_id, app in sorted(self.s.apps.items()):
            current = [i for i in self.s.of_app(app_id)
                       if i.active and i.config_version == config_version(app)]
            missing = int(app.get("instances", 1)) - len(current)
            if missing <= 0:
                continue
            _, until = self.s.delays.get(app_id, (0.0, 0.0))
            left = max(0, int(until - _time.monotonic() + 0.999))
            summary = [{"reason": r, "declined": 0, "processed": 0} for r in REJECT_REASONS]
            out.append({
                "count": missing, "role": "*",
                "delay": {"timeLeftSeconds": left, "overdue": app_id in wanted},
                "since": self.s.since.get(app_id, now_version()),
                "processedOffersSummary": {
                    "processedOffersCount": 0, "unusedOffersCount": 0,
                    "rejectSummaryLastOffers": summary,
                    "rejectSummaryLaunchAttempt": copy.deepcopy(summary)},
                "app": self.view(app, tasks=False, failure=False),
            })
        return out

    def root_group(self) -> dict[str, object]:
        def group(group_id: str) -> dict[str, object]:
            prefix = "" if group_id == "/" else group_id
            apps = [self.view(a, tasks=False, failure=False)
                    for i, a in sorted(self.s.apps.items())
                    if i.rsplit("/", 1)[0] == prefix]
            children = sorted(g for g in self.groups
                              if g.rsplit("/", 1)[0] == prefix and g != group_id)
            out: dict[str, object] = {"id": group_id, "apps": apps, "pods": [],
                                      "groups": [group(c) for c in children], "dependencies": [],
                                      "version": self.groups.get(group_id, self.root_version())}
            if group_id != "/":
                out["enforceRole"] = False
            return out

        return group("/")

    def root_version(self) -> str:
        versions = [a["version"] for a in self.s.apps.values()] + list(self.groups.values())
        return max(versions) if versions else EMPTY_VERSION


def _without_version_info(app: dict) -> dict:
    out = {k: v for k, v in app.items() if k != "versionInfo"}
    for key in STATUS_KEYS:
        out.setdefault(key, 0)
    return out


def query_text(req: Request) -> str:
    return urllib.parse.urlencode([(k, v) for k, vs in req.query.items() for v in vs])
