"""The leader's /v2 app API (smack test stand-in, not Marathon).

POST /v2/apps        201 + app (with deployments [{"id"}]); 409 if it exists; 422 if invalid
GET  /v2/apps        {"apps": [...]} (?id= substring filter)
GET  /v2/apps/<id>   {"app": {...}}; 404 {"message": "App '/x' does not exist"}
PUT  /v2/apps/<id>   create (201) or update (200) -> {"version", "deploymentId"}; the same body
                     again returns a deploymentId but changes nothing (version kept, no write)
DELETE /v2/apps/<id> 200 {"version", "deploymentId"}; 404 if missing
GET /v2/deployments [], /v2/tasks {"tasks": []}, /v2/groups (root group), /v2/apps/<id>/tasks.
Deployments finish at once because nothing is launched.
"""

from __future__ import annotations

import copy
import threading
import uuid
from typing import Any, Protocol

from .httpd import Request, Response, json_response
from .marathon_apps import (
    CREATE,
    UPDATE,
    AppStore,
    assign_ports,
    invalid,
    normalize_id,
    now_version,
    problems,
    same_definition,
    service_ports,
    view,
    with_defaults,
)


class Leader(Protocol):
    conf: dict[str, object]
    store: AppStore | None
    me: str


def _missing(app_id: str) -> Response:
    return json_response({"message": f"App '{app_id}' does not exist"}, 404)


class AppsApi:
    def __init__(self, owner: Leader) -> None:
        self.owner = owner
        self.apps: dict[str, dict] = {}
        self.lock = threading.Lock()

    def load(self, apps: dict[str, dict]) -> None:
        with self.lock:
            self.apps = apps

    def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        if path == "/v2/deployments":
            return json_response([])
        if path == "/v2/tasks":
            return json_response({"tasks": []})
        if path == "/v2/groups":
            return json_response(self.root_group())
        if path == "/v2/apps":
            return self.collection(req)
        if path.startswith("/v2/apps/"):
            return self.member(req, path[len("/v2/apps") :])
        return json_response({"message": f"Unknown path {req.path}"}, 404)

    # ----- /v2/apps -----------------------------------------------------------------------

    def collection(self, req: Request) -> Response:
        if req.method == "GET":
            wanted = (req.query.get("id") or [""])[0]
            with self.lock:
                apps = [view(a) for i, a in sorted(self.apps.items()) if wanted in i]
            return json_response({"apps": apps})
        if req.method != "POST":
            return json_response({"message": "HTTP 405 Method Not Allowed"}, 405)
        body, error = self.parse(req, CREATE)
        if error is not None:
            return error
        app_id = normalize_id(str(body["id"]))
        with self.lock:
            if app_id in self.apps:
                return json_response({"message": f"An app with id [{app_id}] already exists."}, 409)
            app = self.finish({**body, "id": app_id}, None)
            self.save(app)
        deployment = str(uuid.uuid4())
        headers = [
            ("Location", f"http://{self.owner.me}/v2/apps{app_id}"),
            ("Marathon-Deployment-Id", deployment),
        ]
        return json_response(view(app, [{"id": deployment}]), 201, headers)

    # ----- /v2/apps/<id> ------------------------------------------------------------------

    def member(self, req: Request, rest: str) -> Response:
        if rest.endswith("/tasks") and rest[: -len("/tasks")] in self.apps:
            return json_response({"tasks": []})
        app_id = normalize_id(rest)
        if req.method == "GET":
            with self.lock:
                app = self.apps.get(app_id)
            return _missing(app_id) if app is None else json_response({"app": view(app)})
        if req.method == "DELETE":
            with self.lock:
                if app_id not in self.apps:
                    return _missing(app_id)
                del self.apps[app_id]
                if self.owner.store is not None:
                    self.owner.store.delete(app_id)
            return json_response({"version": now_version(), "deploymentId": str(uuid.uuid4())})
        if req.method == "PUT":
            return self.put(req, app_id)
        return json_response({"message": "HTTP 405 Method Not Allowed"}, 405)

    def put(self, req: Request, app_id: str) -> Response:
        body, error = self.parse(req, UPDATE)
        if error is not None:
            return error
        if "id" in body and normalize_id(str(body["id"])) != app_id:
            detail = {
                "path": "/id",
                "errors": [f"The id in the body must be '{app_id}' (the id in the URL)"],
            }
            return json_response(invalid([detail]), 422)
        partial = (req.query.get("partialUpdate") or ["true"])[0] != "false"
        with self.lock:
            existing = self.apps.get(app_id)
            base = {
                k: v for k, v in (existing or {}).items() if k not in ("version", "versionInfo")
            }
            merged = {**base, **body, "id": app_id} if partial else {**body, "id": app_id}
            details = problems(CREATE, merged)
            if details:
                return json_response(invalid(details), 422)
            app = self.finish(merged, existing)
            deployment = {"deploymentId": str(uuid.uuid4())}
            if existing is not None and same_definition(app, existing):
                return json_response({"version": existing["version"], **deployment})
            self.save(app)
        status = 200 if existing is not None else 201
        return json_response({"version": app["version"], **deployment}, status)

    # ----- helpers --------------------------------------------------------------------------

    def parse(self, req: Request, validator: Any) -> tuple[dict, Response | None]:
        try:
            body = req.json()
        except ValueError as exc:
            return {}, json_response({"message": f"Invalid JSON: {exc}"}, 400)
        details = problems(validator, body)
        if details:
            return {}, json_response(invalid(details), 422)
        return body, None

    def finish(self, definition: dict, previous: dict | None) -> dict:
        """Defaults, service ports and version fields for a definition about to be stored."""
        app = with_defaults(copy.deepcopy(definition))
        taken = set().union(*(service_ports(a) for i, a in self.apps.items() if i != app["id"]))
        low = int(str(self.owner.conf.get("local_port_min", 10000)))
        high = int(str(self.owner.conf.get("local_port_max", 20000)))
        assign_ports(app, previous, taken, low, high)
        version = now_version()
        scaled_only = previous is not None and same_definition(
            {**app, "instances": previous.get("instances")}, previous
        )
        config_change = (
            previous["versionInfo"]["lastConfigChangeAt"] if scaled_only and previous else version
        )
        app["version"] = version
        app["versionInfo"] = {"lastScalingAt": version, "lastConfigChangeAt": config_change}
        return app

    def save(self, app: dict) -> None:
        self.apps[app["id"]] = app
        if self.owner.store is not None:
            self.owner.store.put(app)

    def root_group(self) -> dict[str, object]:
        with self.lock:
            apps = [view(a) for _, a in sorted(self.apps.items())]
        versions = [a["version"] for a in apps]
        return {
            "id": "/",
            "apps": apps,
            "groups": [],
            "pods": [],
            "dependencies": [],
            "version": max(versions) if versions else now_version(),
            "enforceRole": False,
        }
