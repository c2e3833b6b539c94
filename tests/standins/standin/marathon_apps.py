"""Marathon app definitions: validation, normalization, ids and ZooKeeper storage (smack test
stand-in, not Marathon).

Validation answers like Marathon 1.11 does (real-marathon-samples/post-*): a body that does not
fit the app's JSON format is 422 {"message": "Invalid JSON", "details": [{"path": "/cpus",
"errors": ["error.min"]}]} with Play's error keys; a well-formed body that breaks a rule is 422
{"message": "Object is not valid", ...} (constraint operators, secrets without the secrets
feature, constraints on root volumes). Fields Marathon does not know are ignored
(post-invalid-unknown-top-level-field: 201). The schema in data/ is the reconstructed 1.11 app
schema; only its type/pattern/range/enum rules are used.

Normalization gives apps the members, defaults, number types and key order of the samples
(after-examples-v2-apps.json: cpus/mem/disk as floats, empty collections left out except
`labels`, health checks with their defaults). Apps are stored as JSON under
<--zk path>/state/apps/<id with '/' as '_'>, instances under state/instances/ (the real
Marathon's layout differs: zk-marathon-tree.json; README says so).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError

SCHEMA = json.loads(
    (Path(__file__).resolve().parent / "data" / "marathon-app.schema.json").read_text()
)
CREATE = Draft202012Validator(SCHEMA)
UPDATE = Draft202012Validator({k: v for k, v in SCHEMA.items() if k != "required"})
OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "MAX_PER", "UNLIKE", "IS")
# Key order of an app as Marathon writes it; keys the samples never show sit where their
# alphabetical neighbours put them.
ORDER = (
    "id", "acceptedResourceRoles", "args", "backoffFactor", "backoffSeconds", "container",
    "cmd", "constraints", "cpus", "dependencies", "disk", "env", "executor", "fetch",
    "healthChecks", "instances", "labels", "maxLaunchDelaySeconds", "mem", "gpus", "networks",
    "portDefinitions", "readinessChecks", "residency", "resourceLimits", "requirePorts",
    "secrets", "taskKillGracePeriodSeconds", "upgradeStrategy", "user", "version",
    "versionInfo", "killSelection", "unreachableStrategy", "role",
)  # fmt: skip
OMIT_WHEN_EMPTY = ("acceptedResourceRoles", "args", "constraints", "dependencies", "env", "fetch",
                   "healthChecks", "readinessChecks", "secrets")
STATUS_KEYS = ("tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy")
DEFAULTS: dict[str, Any] = {
    "backoffFactor": 1.15, "backoffSeconds": 1, "cpus": 1.0, "disk": 0.0, "executor": "",
    "instances": 1, "labels": {}, "maxLaunchDelaySeconds": 300, "mem": 128.0, "gpus": 0,
    "requirePorts": False, "killSelection": "YOUNGEST_FIRST", "role": "*",
}
PLAY_ERRORS = {"pattern": "error.pattern", "minimum": "error.min", "exclusiveMinimum": "error.min",
               "maximum": "error.max", "exclusiveMaximum": "error.max",
               "minLength": "error.minLength", "maxLength": "error.maxLength",
               "enum": "error.unknown.enum.literal", "required": "error.path.missing",
               "minItems": "error.minLength", "maxItems": "error.maxLength"}
PLAY_TYPES = {"number": "error.expected.jsnumber", "integer": "error.expected.jsnumber",
              "string": "error.expected.jsstring", "boolean": "error.expected.jsboolean",
              "object": "error.expected.jsobject", "array": "error.expected.jsarray"}


def now_version() -> str:
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def normalize_id(raw: str) -> str:
    """Relative ids are relative to the root group."""
    return "/" + raw.strip("/")


def task_prefix(app_id: str) -> str:
    """'/tools/hello-web' -> 'tools_hello-web' (the start of its instance and task ids)."""
    return app_id.strip("/").replace("/", "_")


def task_name(app_id: str) -> str:
    """'/tools/hello-web' -> 'hello-web.tools' (the Mesos task name)."""
    return ".".join(reversed(app_id.strip("/").split("/")))


# ----- validation ---------------------------------------------------------------------------


def _path(parts: Any) -> str:
    return "".join(f"({p})" if isinstance(p, int) else f"/{p}" for p in parts) or "/"


def format_errors(validator: Draft202012Validator, body: object) -> list[dict[str, object]]:
    """Play-style details for what does not fit the format; unknown fields are ignored and
    constraints are left to semantic_errors."""
    by_path: dict[str, list[str]] = {}
    for error in validator.iter_errors(body):
        parts = list(error.absolute_path)
        if error.validator == "additionalProperties" or (parts and parts[0] == "constraints"):
            continue
        if error.validator == "type":
            expected = error.validator_value
            key = PLAY_TYPES.get(expected[0] if isinstance(expected, list) else expected,
                                 "error.invalid")
        elif error.validator == "required":
            missing = str(error.message).split("'")[1] if "'" in error.message else ""
            parts = [*parts, missing]
            key = PLAY_ERRORS["required"]
        else:
            key = PLAY_ERRORS.get(str(error.validator), "error.invalid")
        entry = by_path.setdefault(_path(parts), [])
        if key not in entry:
            entry.append(key)
    return [{"path": p, "errors": e} for p, e in by_path.items()]


def semantic_errors(app: dict, features: list[str]) -> list[dict[str, object]]:
    """The rules Marathon checks on a well-formed definition (accord validators)."""
    out: list[dict[str, object]] = []
    constraints = app.get("constraints") or []
    if any(not isinstance(c, list) or len(c) < 2 or c[1] not in OPERATORS for c in constraints):
        out.append({"path": "/constraints", "errors": [
            "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, "
            "UNLIKE or IS"]})
    secret_refs = [k for k, v in (app.get("env") or {}).items() if isinstance(v, dict)]
    if "secrets" not in features:
        if secret_refs:
            out.append({"path": "/env", "errors": [
                "use of secret-references in the environment requires the secrets feature to "
                "be enabled"]})
        if app.get("secrets"):
            out.append({"path": "/secrets", "errors": [
                "Feature secrets is not enabled. Enable with --enable_features secrets)"]})
    volumes = ((app.get("container") or {}).get("volumes")) or []
    for index, volume in enumerate(volumes):
        persistent = volume.get("persistent") if isinstance(volume, dict) else None
        root = persistent and persistent.get("type", "root") == "root"
        if root and persistent.get("constraints"):
            out.append({"path": f"/container/volumes({index})/persistent",
                        "errors": ["Constraints on root volumes are not supported"]})
    has_command = bool(app.get("cmd") or app.get("args"))
    if not has_command and not app.get("container"):
        out.append({"path": "/", "errors": [
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."]})
    if app.get("cmd") and app.get("args"):
        out.append({"path": "/", "errors": [
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."]})
    return out


def invalid_json(details: list[dict[str, object]]) -> dict[str, object]:
    return {"message": "Invalid JSON", "details": details}


def not_valid(details: list[dict[str, object]]) -> dict[str, object]:
    return {"message": "Object is not valid", "details": details}


# ----- normalization ------------------------------------------------------------------------


def _known(body: dict) -> dict:
    """Only the members Marathon knows (the rest is ignored, as the samples show)."""
    props = SCHEMA["$defs"]["AppUpdate"]["properties"]
    return {k: v for k, v in body.items() if k in props}


def _health_check(check: dict) -> dict:
    protocol = str(check.get("protocol", "HTTP"))
    out: dict[str, Any] = {"gracePeriodSeconds": check.get("gracePeriodSeconds", 300)}
    if protocol in ("HTTP", "HTTPS"):
        out["ignoreHttp1xx"] = check.get("ignoreHttp1xx", False)
    out["intervalSeconds"] = check.get("intervalSeconds", 60)
    out["maxConsecutiveFailures"] = check.get("maxConsecutiveFailures", 3)
    if protocol in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"):
        out["path"] = check.get("path", "/")
    if protocol != "COMMAND":
        if "port" in check:
            out["port"] = check["port"]
        else:
            out["portIndex"] = check.get("portIndex", 0)
    else:
        out["command"] = check.get("command") or {}
    out["protocol"] = protocol
    if protocol != "COMMAND":
        out["ipProtocol"] = check.get("ipProtocol", "IPv4")
    out["timeoutSeconds"] = check.get("timeoutSeconds", 20)
    out["delaySeconds"] = check.get("delaySeconds", 15)
    return out


def _sorted(obj: Any) -> Any:
    return {k: obj[k] for k in sorted(obj)} if isinstance(obj, dict) else obj


def _container(container: dict) -> dict:
    out: dict[str, Any] = {"type": container.get("type", "MESOS")}
    if "docker" in container:
        docker = dict(container["docker"])
        if out["type"] == "DOCKER":
            docker = {"forcePullImage": False, "parameters": [], "privileged": False, **docker}
        out["docker"] = _sorted(docker)
    out["volumes"] = container.get("volumes", [])
    if "portMappings" in container:
        out["portMappings"] = [_sorted(m) for m in container["portMappings"]]
    for key, value in container.items():
        out.setdefault(key, value)
    return out


def normalize(body: dict) -> dict:
    """The definition as Marathon stores and shows it (without version and status)."""
    app: dict[str, Any] = {**copy.deepcopy(DEFAULTS), **copy.deepcopy(_known(body))}
    app["id"] = normalize_id(str(app["id"]))
    for key in ("cpus", "mem", "disk"):
        app[key] = float(app[key])
    app["networks"] = app.get("networks") or [{"mode": "host"}]
    host = all(n.get("mode", "host") == "host" for n in app["networks"])
    if "container" in app:
        app["container"] = _container(app["container"])
    if host and "portDefinitions" not in app and not (app.get("container") or {}).get(
            "portMappings"):
        app["portDefinitions"] = [{"port": 0, "name": "default", "protocol": "tcp"}]
    if "portDefinitions" in app:
        app["portDefinitions"] = [
            {"port": p.get("port", 0), **({"name": p["name"]} if "name" in p else {}),
             "protocol": p.get("protocol", "tcp"),
             **({"labels": p["labels"]} if p.get("labels") else {})}
            for p in app["portDefinitions"]
        ]
    strategy = app.get("upgradeStrategy") or {}
    app["upgradeStrategy"] = {
        "maximumOverCapacity": float(strategy.get("maximumOverCapacity", 1.0)),
        "minimumHealthCapacity": float(strategy.get("minimumHealthCapacity", 1.0)),
    }
    app.setdefault("unreachableStrategy", {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0})
    if app.get("healthChecks"):
        app["healthChecks"] = [_health_check(c) for c in app["healthChecks"]]
    if app.get("fetch"):
        app["fetch"] = [{"uri": f["uri"], "extract": f.get("extract", True),
                         "executable": f.get("executable", False), "cache": f.get("cache", False),
                         **({"destPath": f["destPath"]} if "destPath" in f else {})}
                        for f in app["fetch"]]
    for key in OMIT_WHEN_EMPTY:
        if key in app and not app[key]:
            del app[key]
    return ordered(app)


def ordered(app: dict) -> dict:
    out = {k: app[k] for k in ORDER if k in app}
    out.update({k: v for k, v in app.items() if k not in out})
    return out


def definition_of(app: dict) -> dict:
    """What an update is compared with: the app without version data."""
    return {k: v for k, v in app.items() if k not in ("version", "versionInfo")}


def assign_ports(app: dict, taken: set[int], low: int, high: int) -> None:
    """Service ports for port 0 entries: the lowest free from --local_port_min/max."""
    free = (p for p in range(low, high) if p not in taken)
    for entry in app.get("portDefinitions") or []:
        if entry.get("port", 0) == 0 and not app.get("requirePorts"):
            entry["port"] = next(free)
    for entry in (app.get("container") or {}).get("portMappings") or []:
        if entry.get("servicePort", 0) == 0:
            entry["servicePort"] = next(free)


def service_ports(app: dict) -> list[int]:
    ports = [d.get("port", 0) for d in app.get("portDefinitions") or []]
    ports += [m.get("servicePort", 0) for m in (app.get("container") or {}).get("portMappings")
              or []]
    return [p for p in ports if p]


def keep_ports(app: dict, previous: dict) -> None:
    """An update that leaves service ports at 0 keeps the ports the app had."""
    old = previous.get("portDefinitions") or []
    for index, entry in enumerate(app.get("portDefinitions") or []):
        if entry.get("port", 0) == 0 and index < len(old):
            entry["port"] = old[index].get("port", 0)
    old_maps = (previous.get("container") or {}).get("portMappings") or []
    for index, entry in enumerate((app.get("container") or {}).get("portMappings") or []):
        if entry.get("servicePort", 0) == 0 and index < len(old_maps):
            entry["servicePort"] = old_maps[index].get("servicePort", 0)


def host_port_count(app: dict) -> int:
    """How many agent ports one instance takes."""
    if any(n.get("mode", "host") != "host" for n in app.get("networks") or []):
        return sum(1 for m in (app.get("container") or {}).get("portMappings") or []
                   if "hostPort" in m)
    return len(app.get("portDefinitions") or [])


# ----- ZooKeeper ----------------------------------------------------------------------------


class Store:
    """Apps, instances, groups and the framework id under <zk path>/state."""

    def __init__(self, client: KazooClient, state_path: str) -> None:
        self.client = client
        self.paths = {name: f"{state_path}/{name}" for name in ("apps", "instances", "groups")}
        self.framework_path = f"{state_path}/framework-id"
        for path in self.paths.values():
            client.ensure_path(path)

    @staticmethod
    def _node(key: str) -> str:
        return key.strip("/").replace("/", "_") or "_root"

    def load(self, kind: str) -> dict[str, dict]:
        out = {}
        for child in self.client.get_children(self.paths[kind]):
            with contextlib.suppress(NoNodeError):
                data, _ = self.client.get(f"{self.paths[kind]}/{child}")
                item = json.loads(data.decode("utf-8"))
                out[str(item["id"])] = item
        return out

    def put(self, kind: str, item: dict) -> None:
        path = f"{self.paths[kind]}/{self._node(str(item['id']))}"
        data = json.dumps(item, separators=(",", ":")).encode()
        try:
            self.client.create(path, data)
        except NodeExistsError:
            self.client.set(path, data)

    def delete(self, kind: str, key: str) -> None:
        with contextlib.suppress(NoNodeError):
            self.client.delete(f"{self.paths[kind]}/{self._node(key)}")

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
