"""Marathon app definitions: validation, defaults, service ports, ZooKeeper storage.

smack test stand-in, not Marathon. Validation uses the Marathon 1.11 app JSON schema shipped in
data/ (POST body = root schema, PUT body = $defs/AppUpdate); failures become Marathon's 422
body {"message": "Object is not valid", "details": [{"path": "/cpus", "errors": [...]}]} with
Marathon's path notation ("/healthChecks(0)/protocol"). Apps are stored as JSON under
<--zk path>/state/apps/<id with '/' as '_'> so every Marathon instance sees them after failover.
No task is ever launched: tasksRunning stays 0 while `instances` reports what was asked for.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
from pathlib import Path

from jsonschema import Draft202012Validator
from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError

SCHEMA = json.loads(
    (Path(__file__).resolve().parent / "data" / "marathon-app.schema.json").read_text()
)
CREATE = Draft202012Validator(SCHEMA)
UPDATE = Draft202012Validator({k: v for k, v in SCHEMA.items() if k != "required"})
SERVER_FIELDS = ("version", "versionInfo")
STATUS = {"tasksStaged": 0, "tasksRunning": 0, "tasksHealthy": 0, "tasksUnhealthy": 0}


def now_version() -> str:
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def problems(validator: Draft202012Validator, body: object) -> list[dict[str, object]]:
    """Marathon-style validation details, one entry per JSON path."""
    by_path: dict[str, list[str]] = {}
    for error in validator.iter_errors(body):
        path = (
            "".join(f"({p})" if isinstance(p, int) else f"/{p}" for p in error.absolute_path) or "/"
        )
        by_path.setdefault(path, []).append(error.message)
    return [{"path": p, "errors": e} for p, e in sorted(by_path.items())]


def invalid(details: list[dict[str, object]]) -> dict[str, object]:
    return {"message": "Object is not valid", "details": details}


def normalize_id(raw: str) -> str:
    """Relative ids are relative to the root group."""
    return "/" + raw.strip("/")


def _defaults() -> dict[str, object]:
    props = SCHEMA["$defs"]["AppUpdate"]["properties"]
    out = {k: v["default"] for k, v in props.items() if "default" in v}
    out.update(
        {
            "constraints": [],
            "dependencies": [],
            "env": {},
            "fetch": [],
            "healthChecks": [],
            "labels": {},
            "readinessChecks": [],
            "secrets": {},
            "killSelection": "YOUNGEST_FIRST",
            "networks": [{"mode": "host"}],
            "role": "*",
            "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
            "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
        }
    )
    return out


def with_defaults(app: dict) -> dict:
    """The app as Marathon returns it: every omitted member at its default."""
    out = {**copy.deepcopy(_defaults()), **copy.deepcopy(app)}
    host_networking = all(n.get("mode", "host") == "host" for n in out["networks"])
    mappings = (out.get("container") or {}).get("portMappings")
    if "portDefinitions" not in out and "ports" not in app and host_networking and not mappings:
        out["portDefinitions"] = [{"port": 0, "protocol": "tcp"}]
    return out


def assign_ports(app: dict, previous: dict | None, taken: set[int], low: int, high: int) -> None:
    """Give port-0 service ports a free port from --local_port_min/max, reusing the previous
    version's ports so that PUTting the same body changes nothing."""
    old_defs = (previous or {}).get("portDefinitions") or []
    old_maps = ((previous or {}).get("container") or {}).get("portMappings") or []
    free = (p for p in range(low, high) if p not in taken)
    for index, entry in enumerate(app.get("portDefinitions") or []):
        if entry.get("port", 0) == 0 and not app.get("requirePorts"):
            reuse = old_defs[index].get("port") if index < len(old_defs) else None
            entry["port"] = reuse or next(free)
    for index, entry in enumerate((app.get("container") or {}).get("portMappings") or []):
        if entry.get("servicePort", 0) == 0:
            reuse = old_maps[index].get("servicePort") if index < len(old_maps) else None
            entry["servicePort"] = reuse or next(free)


def service_ports(app: dict) -> set[int]:
    ports = {d.get("port", 0) for d in app.get("portDefinitions") or []}
    ports |= {
        m.get("servicePort", 0) for m in (app.get("container") or {}).get("portMappings") or []
    }
    return ports - {0}


def same_definition(a: dict, b: dict) -> bool:
    strip = lambda app: {k: v for k, v in app.items() if k not in SERVER_FIELDS}  # noqa: E731
    return strip(a) == strip(b)


def view(app: dict, deployments: list[dict[str, str]] | None = None) -> dict:
    """GET shape: the definition plus status members (no task ever runs)."""
    return {**app, **STATUS, "deployments": deployments or []}


class AppStore:
    """Apps and the framework id under <zk path>/state, cached in memory by the leader."""

    def __init__(self, client: KazooClient, state_path: str) -> None:
        self.client = client
        self.apps_path = f"{state_path}/apps"
        self.framework_path = f"{state_path}/framework-id"
        client.ensure_path(self.apps_path)

    @staticmethod
    def node(app_id: str) -> str:
        return app_id.strip("/").replace("/", "_")

    def load(self) -> dict[str, dict]:
        apps = {}
        for child in self.client.get_children(self.apps_path):
            try:
                data, _ = self.client.get(f"{self.apps_path}/{child}")
            except NoNodeError:
                continue
            app = json.loads(data.decode("utf-8"))
            apps[app["id"]] = app
        return apps

    def put(self, app: dict) -> None:
        path = f"{self.apps_path}/{self.node(app['id'])}"
        data = json.dumps(app, separators=(",", ":")).encode()
        try:
            self.client.create(path, data)
        except NodeExistsError:
            self.client.set(path, data)

    def delete(self, app_id: str) -> None:
        with contextlib.suppress(NoNodeError):
            self.client.delete(f"{self.apps_path}/{self.node(app_id)}")

    def framework_id(self) -> str | None:
        try:
            data, _ = self.client.get(self.framework_path)
        except NoNodeError:
            return None
        return data.decode() or None

    def set_framework_id(self, framework_id: str | None) -> None:
        value = (framework_id or "").encode()
        try:
            self.client.create(self.framework_path, value, makepath=True)
        except NodeExistsError:
            self.client.set(self.framework_path, value)
