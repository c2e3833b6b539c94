"""Marathon apps of a stack: `smack:apps` entries → Marathon 1.11 app JSON, schema-checked.

`AppSpec` is one entry of `smack:apps`; `render_app` turns it into the body of
`PUT /v2/apps/{id}`; `validate_app` checks any app JSON against Marathon's 1.11 app schema
(roles/apps/files/marathon-1.11-app.schema.json, the copy the role uses too); `app_errors`
runs every check over a stack's apps so that a bad app is refused before any resource exists.

render_app always writes every member it manages (empty lists and maps included), so removing
an entry from the stack config removes it from Marathon, and the role's comparison (only the
keys sent) sees a rerun as unchanged.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema  # type: ignore[import-untyped]
from pydantic import Field, StringConstraints, field_validator, model_validator

from infra.settings_base import NAMESPACE, _Model

SCHEMA_PATH = (
    Path(__file__).resolve().parent.parent
    / "roles" / "apps" / "files" / "marathon-1.11-app.schema.json"
)

# Constraint operators Marathon 1.11 knows ($defs/ConstraintOperator in the schema).
OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS")
_NO_VALUE = {"UNIQUE"}
_OPTIONAL_VALUE = {"CLUSTER", "GROUP_BY"}
_NUMERIC_VALUE = {"GROUP_BY", "MAX_PER"}
# Health check protocols that probe a port, and those that take a path.
_PORT_PROTOCOLS = {"HTTP", "HTTPS", "TCP", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"}
_PATH_PROTOCOLS = {"HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"}

AppId = Annotated[
    str,
    StringConstraints(pattern=r"^(/[a-z0-9]([a-z0-9.-]*[a-z0-9])?)+$", max_length=255),
    Field(description="an absolute Marathon app id such as /pekko/hello: '/'-separated names of "
                      "lowercase letters, digits, '-' and '.', each starting and ending with a "
                      "letter or digit"),
]
ArtifactUrl = Annotated[
    str,
    StringConstraints(pattern=r"^(https?|file)://\S+$", max_length=1024),
    Field(description="an http://, https:// or file:// URL the Mesos fetcher downloads into the "
                      "task's sandbox"),
]
EnvName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"),
    Field(description="an environment variable name of letters, digits and '_', not starting "
                      "with a digit"),
]
LabelName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^\S+$"),
    Field(description="a label name without spaces"),
]
Protocol = Literal["HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"]


class HealthCheck(_Model):
    """One Marathon health check (`healthChecks[]`)."""

    # HTTP/HTTPS/TCP are probed by Marathon, MESOS_* by the agent, COMMAND runs `command`.
    protocol: Protocol = "HTTP"
    # Path probed by the HTTP-type protocols.
    path: str | None = Field(None, pattern=r"^/\S*$", max_length=1024,
                             description="a URL path starting with '/', such as /health")
    # Which of the app's ports ($PORT0, $PORT1, ...) is probed.
    port_index: int = Field(0, ge=0, le=99, description="the index of one of the app's ports")
    # Shell command for protocol COMMAND; exit status 0 means healthy.
    command: str | None = Field(None, min_length=1, description="a shell command")
    grace_period_seconds: int = Field(300, ge=0, le=86_400)
    interval_seconds: int = Field(60, ge=1, le=86_400)
    timeout_seconds: int = Field(20, ge=1, le=86_400)
    max_consecutive_failures: int = Field(3, ge=0, le=1000)

    @model_validator(mode="after")
    def _fits_protocol(self) -> HealthCheck:
        if self.protocol == "COMMAND" and not self.command:
            raise ValueError("protocol COMMAND needs `command` (a shell command)")
        if self.protocol != "COMMAND" and self.command:
            raise ValueError(
                f"`command` is only allowed with protocol COMMAND, not {self.protocol}")
        if self.path is not None and self.protocol not in _PATH_PROTOCOLS:
            raise ValueError(f"`path` is only allowed with protocols "
                             f"{', '.join(sorted(_PATH_PROTOCOLS))}, not {self.protocol}")
        return self


class AppSpec(_Model):
    """One entry of `smack:apps`: a command-line app Marathon runs on the Mesos agents."""

    id: AppId
    # Shell command run in the sandbox (/bin/sh -c); the fetched artifacts are in its cwd.
    cmd: str = Field(min_length=1, max_length=65_536, description="a shell command")
    # Downloaded into the sandbox before `cmd` starts (Marathon `fetch`); archives are unpacked.
    artifact_urls: list[ArtifactUrl] = Field(default_factory=list)
    cpus: float = Field(ge=0.001, le=1024, description="CPU shares per instance, e.g. 0.5")
    mem: float = Field(gt=0, le=4_194_304, description="memory per instance in MiB, e.g. 256")
    instances: int = Field(1, ge=0, le=10_000)
    # [field, operator] or [field, operator, value], e.g. [hostname, UNIQUE].
    constraints: list[list[str]] = Field(default_factory=list)
    health_checks: list[HealthCheck] = Field(default_factory=list)
    env: dict[EnvName, str] = Field(default_factory=dict)
    labels: dict[LabelName, str] = Field(default_factory=dict)
    # How many host ports the app gets ($PORT0, $PORT1, ...); Marathon picks them.
    ports: int = Field(1, ge=0, le=100)

    @field_validator("constraints", mode="before")
    @classmethod
    def _numbers_as_text(cls, v: Any) -> Any:
        """YAML reads `[hostname, MAX_PER, 2]` with a number; Marathon wants text."""
        if isinstance(v, list):
            return [[str(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in c]
                    if isinstance(c, list) else c for c in v]
        return v

    @field_validator("constraints")
    @classmethod
    def _constraints(cls, v: list[list[str]]) -> list[list[str]]:
        for item in v:
            if not 2 <= len(item) <= 3:
                raise ValueError(f"{item} is not [field, operator] or [field, operator, value]")
            field, operator = item[0], item[1]
            if not field:
                raise ValueError(f"{item}: the field (e.g. hostname) is empty")
            if operator not in OPERATORS:
                raise ValueError(f"{item}: operator {operator!r} is unknown; "
                                 f"allowed: {', '.join(OPERATORS)}")
            if len(item) == 3 and operator in _NO_VALUE:
                raise ValueError(f"{item}: {operator} takes no value")
            if len(item) == 2 and operator not in _NO_VALUE | _OPTIONAL_VALUE:
                raise ValueError(f"{item}: {operator} needs a value")
            if len(item) == 3 and operator in _NUMERIC_VALUE and not item[2].isdigit():
                raise ValueError(f"{item}: the value of {operator} must be a whole number")
        keys = [json.dumps(c) for c in v]
        if len(set(keys)) != len(keys):
            raise ValueError("lists a constraint more than once; list each once")
        return v

    @field_validator("artifact_urls")
    @classmethod
    def _unique_urls(cls, v: list[str]) -> list[str]:
        names = [u.rstrip("/").rsplit("/", 1)[-1] for u in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"two URLs fetch the same file name ({', '.join(dupes)}) into the "
                             f"sandbox; give each artifact its own name")
        return v

    @model_validator(mode="after")
    def _ports_for_checks(self) -> AppSpec:
        for i, check in enumerate(self.health_checks):
            if check.protocol in _PORT_PROTOCOLS and check.port_index >= self.ports:
                raise ValueError(
                    f"health_checks[{i}].port_index is {check.port_index} but the app has "
                    f"{self.ports} port(s) (ports: {self.ports}); allowed: a port_index below "
                    f"`ports`, or raise `ports`")
        # Compared as Marathon sees them: e.g. no path and path "/" are the same HTTP check.
        checks = [json.dumps(_health_check(c), sort_keys=True) for c in self.health_checks]
        if len(set(checks)) != len(checks):
            raise ValueError("health_checks lists the same check more than once")
        return self


# ------------------------------------------------------------------------- rendering


def _health_check(check: HealthCheck) -> dict[str, Any]:
    out: dict[str, Any] = {"protocol": check.protocol}
    if check.protocol == "COMMAND":
        out["command"] = {"value": check.command}
    else:
        out["portIndex"] = check.port_index
    if check.protocol in _PATH_PROTOCOLS:
        out["path"] = check.path or "/"
    out.update({
        "gracePeriodSeconds": check.grace_period_seconds,
        "intervalSeconds": check.interval_seconds,
        "timeoutSeconds": check.timeout_seconds,
        "maxConsecutiveFailures": check.max_consecutive_failures,
    })
    return out


def _number(value: float) -> int | float:
    """Whole numbers as ints: Marathon echoes 128 for 128.0, and the JSON reads better."""
    return int(value) if float(value).is_integer() else value


def render_app(spec: AppSpec) -> dict[str, Any]:
    """The Marathon 1.11 app JSON (body of PUT /v2/apps{id}) for one `smack:apps` entry.

    Every member this function manages is always present, so a rerun with an entry removed
    from the stack config also removes it in Marathon.
    """
    return {
        "id": spec.id,
        "cmd": spec.cmd,
        "cpus": _number(spec.cpus),
        "mem": _number(spec.mem),
        "instances": spec.instances,
        "fetch": [
            {"uri": url, "extract": True, "executable": False, "cache": False}
            for url in spec.artifact_urls
        ],
        "portDefinitions": [{"port": 0, "protocol": "tcp"} for _ in range(spec.ports)],
        "requirePorts": False,
        "constraints": [list(c) for c in spec.constraints],
        "healthChecks": [_health_check(c) for c in spec.health_checks],
        "env": dict(spec.env),
        "labels": dict(spec.labels),
    }


# ------------------------------------------------------------------------ validation


@cache
def _validator() -> Any:
    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.Draft202012Validator(schema)


def json_path(parts: Any) -> str:
    """jsonschema's absolute path as `$.healthChecks[0].protocol`."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _message(error: Any) -> str:
    """jsonschema's message, with a pattern replaced by what the schema says it means."""
    described = error.schema.get("description") if isinstance(error.schema, dict) else None
    if error.validator == "pattern" and described:
        return f"{error.instance!r} is not allowed: {described}"
    refused = error.validator_value if error.validator == "not" else None
    if isinstance(refused, dict) and refused.get("description"):
        return str(refused["description"]).removeprefix("RAML description: ")
    if error.validator in ("oneOf", "anyOf") and error.context:
        best = jsonschema.exceptions.best_match(error.context)
        return f"{error.message} (closest: {best.message})"
    return str(error.message)


def validate_app(app: Any) -> list[str]:
    """Problems of one app JSON against Marathon's 1.11 schema (POST body: `id` required).

    One readable line per problem, `$.<json path>: <what is wrong>`, in path order; empty when
    the app is valid.
    """
    errors = sorted(_validator().iter_errors(app),
                    key=lambda e: (json_path(e.absolute_path), e.message))
    # A value of the wrong type fails other checks at its path too; the type is the news.
    mistyped = {json_path(e.absolute_path) for e in errors if e.validator == "type"}
    return [f"{json_path(e.absolute_path)}: {_message(e)}" for e in errors
            if e.validator == "type" or json_path(e.absolute_path) not in mistyped]


def _label(index: int, app: Any) -> str:
    app_id = app.get("id") if isinstance(app, dict) else None
    return f"{NAMESPACE}:apps[{index}]" + (f" ({app_id})" if isinstance(app_id, str) else "")


def definition_errors(apps: list[Any]) -> list[str]:
    """Schema and cross-app problems of rendered app JSON, each naming the app and JSON path."""
    problems = [f"{_label(i, app)}: {line}"
                for i, app in enumerate(apps) for line in validate_app(app)]
    ids = ["/" + str(app.get("id", "")).strip("/") if isinstance(app, dict) else "" for app in apps]
    for i, app_id in enumerate(ids):
        if app_id != "/" and ids.index(app_id) != i:
            problems.append(f"{_label(i, apps[i])}: id {app_id} is also used by "
                            f"{NAMESPACE}:apps[{ids.index(app_id)}]; ids must be unique")
        for j, other in enumerate(ids):
            if app_id != "/" and other.startswith(app_id + "/"):
                problems.append(f"{_label(i, apps[i])}: id {app_id} is a group of "
                                f"{NAMESPACE}:apps[{j}] ({other}); an app id cannot also be a "
                                f"group of other apps")
    return problems


def app_errors(apps: list[AppSpec]) -> list[str]:
    """Every problem of a stack's apps (for the settings cross-checks); empty when all is well."""
    return definition_errors([render_app(spec) for spec in apps])
