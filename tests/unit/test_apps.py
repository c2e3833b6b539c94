"""Marathon apps in the stack config: AppSpec → Marathon 1.11 app JSON, checked by the schema.

Checked: the schema copy the role and infra use is the reference one; every valid-* example
of marathon-app-examples/ passes validate_app and every invalid-* one fails naming the right
JSON path; render_app of any AppSpec (hypothesis) is valid; malformed entries give messages
with key path, value and what is allowed; the example in stacks/examples/apps.yaml renders
valid; cross-app problems (repeated ids, an id that is another app's group) are found.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from infra.apps import (
    OPERATORS,
    SCHEMA_PATH,
    AppSpec,
    HealthCheck,
    _health_check,
    app_errors,
    definition_errors,
    render_app,
    validate_app,
)
from infra.config_messages import explain
from infra.paths import PROJECT_DIR
from infra.settings_base import _Model
from tests.standins.harness import reference_dir

pytestmark = pytest.mark.unit

EXAMPLES = reference_dir() / "marathon-app-examples"
VALID = sorted(EXAMPLES.glob("valid-*.json"))
INVALID = sorted(EXAMPLES.glob("invalid-*.json"))
STACK_EXAMPLE = PROJECT_DIR / "stacks" / "examples" / "apps.yaml"
# Where each invalid example is wrong, and a word the message must contain.
INVALID_AT = {
    "invalid-bad-id-characters": ("$.id", "PathId"),
    "invalid-constraint-operator": ("$.constraints[0][1]", "DISTINCT"),
    "invalid-healthcheck-protocol": ("$.healthChecks[0].protocol", "UDP"),
    "invalid-instances-string": ("$.instances", "integer"),
    "invalid-negative-cpus": ("$.cpus", "minimum"),
    "invalid-unknown-top-level-field": ("$", "replicas"),
}


class _Stack(_Model):
    """Stands in for Settings: `smack:apps` is a list of AppSpec."""

    apps: list[AppSpec] = []  # noqa: RUF012 - a pydantic field


def messages(apps: Any) -> list[str]:
    """What a stack file's author sees for `smack:apps: <apps>`."""
    try:
        _Stack.model_validate({"apps": apps})
    except ValidationError as exc:
        return [explain(_Stack, err) for err in exc.errors()]
    return []


def pekko(**changes: Any) -> dict[str, Any]:
    return {"id": "/pekko/hello", "cmd": "java -Xmx128m -jar pekko-hello-1.0.0.jar",
            "artifact_urls": ["https://artifacts.example.com/pekko-hello-1.0.0.jar"],
            "cpus": 0.5, "mem": 256, "health_checks": [{"path": "/health"}], **changes}


# ----- the schema and Marathon's examples ---------------------------------------------------


def test_schema_copy_is_the_reference() -> None:
    reference = reference_dir() / "marathon-1.11-app.schema.json"
    assert json.loads(SCHEMA_PATH.read_text()) == json.loads(reference.read_text())


def test_operators_and_protocols_match_the_schema() -> None:
    defs = json.loads(SCHEMA_PATH.read_text())["$defs"]
    assert list(OPERATORS) == defs["ConstraintOperator"]["enum"]
    protocol = AppSpec.model_fields["health_checks"].annotation.__args__[0].model_fields["protocol"]
    assert set(protocol.annotation.__args__) == set(defs["AppHealthCheckProtocol"]["enum"])


def test_there_are_examples() -> None:
    assert VALID and INVALID


@pytest.mark.parametrize("example", VALID, ids=lambda p: p.stem)
def test_valid_examples_pass(example: Path) -> None:
    assert validate_app(json.loads(example.read_text())) == []


@pytest.mark.parametrize("example", INVALID, ids=lambda p: p.stem)
def test_invalid_examples_fail_at_the_right_field(example: Path) -> None:
    problems = validate_app(json.loads(example.read_text()))
    assert problems, example.name
    path, word = INVALID_AT.get(example.stem, ("$", ""))
    assert any(p.startswith(f"{path}: ") and word in p for p in problems), problems


def test_errors_name_the_app_and_the_json_path() -> None:
    body = json.loads((EXAMPLES / "invalid-negative-cpus.json").read_text())
    assert definition_errors([render_app(AppSpec(**pekko())), body]) == [
        "smack:apps[1] (/neg-cpus): $.cpus: -1 is less than the minimum of 0.001"
    ]
    assert validate_app({"cmd": "x"}) == ["$: 'id' is a required property"]
    assert validate_app({"id": "/x", "cmd": "a", "args": ["a"]}) == [
        "$: it is invalid to supply both cmd and args."
    ]
    assert definition_errors(["not an app"]) == ["smack:apps[0]: $: 'not an app' is not of type "
                                                 "'object'"]


# ----- rendering --------------------------------------------------------------------------


def test_render_pekko_example() -> None:
    spec = AppSpec(**pekko(constraints=[["hostname", "MAX_PER", 2]], env={"A": "1"},
                           labels={"team": "x"}, instances=2))
    assert render_app(spec) == {
        "id": "/pekko/hello",
        "cmd": "java -Xmx128m -jar pekko-hello-1.0.0.jar",
        "cpus": 0.5,
        "mem": 256,
        "instances": 2,
        "fetch": [{"uri": "https://artifacts.example.com/pekko-hello-1.0.0.jar",
                   "extract": True, "executable": False, "cache": False}],
        "portDefinitions": [{"port": 0, "protocol": "tcp"}],
        "requirePorts": False,
        "constraints": [["hostname", "MAX_PER", "2"]],
        "healthChecks": [{"protocol": "HTTP", "portIndex": 0, "path": "/health",
                          "gracePeriodSeconds": 300, "intervalSeconds": 60,
                          "timeoutSeconds": 20, "maxConsecutiveFailures": 3}],
        "env": {"A": "1"},
        "labels": {"team": "x"},
    }


def test_render_keeps_every_managed_key_when_empty() -> None:
    app = render_app(AppSpec(id="/a", cmd="sleep 1", cpus=1, mem=32, ports=0))
    assert app["portDefinitions"] == [] and app["constraints"] == [] and app["fetch"] == []
    assert app["healthChecks"] == [] and app["env"] == {} and app["labels"] == {}
    assert validate_app(app) == []


def test_command_and_tcp_health_checks() -> None:
    spec = AppSpec(id="/a", cmd="run", cpus=0.1, mem=64, ports=2, health_checks=[
        {"protocol": "COMMAND", "command": "test -f ready"},
        {"protocol": "TCP", "port_index": 1},
        {"protocol": "MESOS_HTTP"},
    ])
    checks = render_app(spec)["healthChecks"]
    assert checks[0]["command"] == {"value": "test -f ready"} and "portIndex" not in checks[0]
    assert checks[1]["portIndex"] == 1 and "path" not in checks[1]
    assert checks[2]["path"] == "/"
    assert validate_app(render_app(spec)) == []


NAME = st.from_regex(r"\A[a-z0-9]([a-z0-9.-]{0,8}[a-z0-9])?\Z")
CONSTRAINT = st.one_of(
    st.tuples(st.sampled_from(["hostname", "rack"]), st.just("UNIQUE")).map(list),
    st.tuples(st.just("hostname"), st.sampled_from(["CLUSTER", "GROUP_BY"])).map(list),
    st.tuples(st.just("rack"), st.sampled_from(["LIKE", "UNLIKE", "IS", "CLUSTER"]),
              st.from_regex(r"\A[a-z0-9.*-]{1,8}\Z")).map(list),
    st.tuples(st.just("hostname"), st.sampled_from(["MAX_PER", "GROUP_BY"]),
              st.integers(1, 9).map(str)).map(list),
)


@st.composite
def app_specs(draw: st.DrawFn) -> AppSpec:
    ports = draw(st.integers(0, 4))
    protocols = ["COMMAND"] + (["HTTP", "HTTPS", "TCP", "MESOS_HTTP", "MESOS_TCP"] if ports else [])
    checks = []
    for _ in range(draw(st.integers(0, 2))):
        protocol = draw(st.sampled_from(protocols))
        check: dict[str, Any] = {"protocol": protocol}
        if protocol == "COMMAND":
            check["command"] = draw(st.text(min_size=1, max_size=20))
        else:
            check["port_index"] = draw(st.integers(0, ports - 1))
        if protocol in ("HTTP", "HTTPS", "MESOS_HTTP") and draw(st.booleans()):
            check["path"] = "/" + draw(st.from_regex(r"\A[a-z0-9/_-]{0,12}\Z"))
        check["grace_period_seconds"] = draw(st.integers(0, 3600))
        check["interval_seconds"] = draw(st.integers(1, 600))
        check["timeout_seconds"] = draw(st.integers(1, 600))
        check["max_consecutive_failures"] = draw(st.integers(0, 10))
        checks.append(check)
    files = draw(st.lists(NAME, max_size=3, unique=True))
    scheme = draw(st.sampled_from(["https://artifacts.example.com/", "http://10.0.0.1:8000/",
                                   "file:///srv/artifacts/"]))
    return AppSpec.model_validate({
        "id": "/" + "/".join(draw(st.lists(NAME, min_size=1, max_size=4))),
        "cmd": draw(st.text(min_size=1, max_size=40)),
        "artifact_urls": [scheme + f for f in files],
        "cpus": draw(st.floats(0.001, 64, allow_nan=False)),
        "mem": draw(st.floats(0, 65536, exclude_min=True, allow_nan=False)),
        "instances": draw(st.integers(0, 100)),
        "constraints": draw(st.lists(CONSTRAINT, max_size=3, unique_by=json.dumps)),
        # One check per form Marathon would see (the model refuses repeats).
        "health_checks": list({json.dumps(_health_check(HealthCheck(**c)), sort_keys=True): c
                               for c in checks}.values()),
        "env": draw(st.dictionaries(st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,8}\Z"),
                                    st.text(max_size=12), max_size=3)),
        "labels": draw(st.dictionaries(st.from_regex(r"\A[a-zA-Z0-9_.-]{1,10}\Z"),
                                       st.text(max_size=12), max_size=3)),
        "ports": ports,
    })


@settings(max_examples=300, deadline=None)
@given(app_specs())
def test_every_app_spec_renders_valid(spec: AppSpec) -> None:
    app = render_app(spec)
    assert validate_app(app) == []
    assert app_errors([spec]) == []
    assert json.loads(json.dumps(app)) == app  # plain JSON, as the role variable carries it


# ----- malformed entries -----------------------------------------------------------------


MALFORMED: list[tuple[str, dict[str, Any], str]] = [
    ("relative id", pekko(id="pekko/hello"),
     "smack:apps[0].id: 'pekko/hello' is not allowed; allowed: an absolute Marathon app id"),
    ("id with capitals", pekko(id="/Pekko/Hello"),
     "smack:apps[0].id: '/Pekko/Hello' is not allowed; allowed: an absolute Marathon app id"),
    ("missing cmd", {k: v for k, v in pekko().items() if k != "cmd"},
     "smack:apps[0].cmd: required setting is missing"),
    ("missing cpus", {k: v for k, v in pekko().items() if k != "cpus"},
     "smack:apps[0].cpus: required setting is missing"),
    ("zero cpus", pekko(cpus=0), "smack:apps[0].cpus: 0 is out of range; allowed: at least 0.001"),
    ("negative mem", pekko(mem=-5), "smack:apps[0].mem: -5 is out of range; allowed: more than 0"),
    ("mem as text", pekko(mem="lots"),
     "smack:apps[0].mem: 'lots' is not allowed; allowed: a number"),
    ("negative instances", pekko(instances=-1),
     "smack:apps[0].instances: -1 is out of range; allowed: at least 0"),
    ("ftp artifact", pekko(artifact_urls=["ftp://x/y.jar"]),
     "smack:apps[0].artifact_urls[0]: 'ftp://x/y.jar' is not allowed; allowed: an http://, "
     "https:// or file:// URL"),
    ("same artifact name twice",
     pekko(artifact_urls=["https://a.example.com/x.jar", "https://b.example.com/x.jar"]),
     "two URLs fetch the same file name (x.jar)"),
    ("unknown operator", pekko(constraints=[["hostname", "DISTINCT"]]),
     "operator 'DISTINCT' is unknown; allowed: UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, "
     "MAX_PER, IS"),
    ("operator needs a value", pekko(constraints=[["rack", "LIKE"]]), "LIKE needs a value"),
    ("UNIQUE takes none", pekko(constraints=[["hostname", "UNIQUE", "x"]]),
     "UNIQUE takes no value"),
    ("MAX_PER not a number", pekko(constraints=[["hostname", "MAX_PER", "two"]]),
     "the value of MAX_PER must be a whole number"),
    ("constraint too long", pekko(constraints=[["a", "IS", "b", "c"]]),
     "is not [field, operator] or [field, operator, value]"),
    ("unknown protocol", pekko(health_checks=[{"protocol": "UDP"}]),
     "smack:apps[0].health_checks[0].protocol: 'UDP' is not allowed; allowed: 'HTTP', 'HTTPS'"),
    ("COMMAND without command", pekko(health_checks=[{"protocol": "COMMAND"}]),
     "protocol COMMAND needs `command`"),
    ("path on TCP", pekko(health_checks=[{"protocol": "TCP", "path": "/health"}]),
     "`path` is only allowed with protocols HTTP, HTTPS, MESOS_HTTP, MESOS_HTTPS, not TCP"),
    ("path without slash", pekko(health_checks=[{"path": "health"}]),
     "smack:apps[0].health_checks[0].path: 'health' is not allowed; allowed: a URL path "
     "starting with '/'"),
    ("port index past the ports", pekko(ports=1, health_checks=[{"port_index": 1}]),
     "health_checks[0].port_index is 1 but the app has 1 port(s)"),
    ("health check without ports", pekko(ports=0),
     "health_checks[0].port_index is 0 but the app has 0 port(s)"),
    ("bad env name", pekko(env={"1X": "a"}),
     "smack:apps[0].env.1X.[key]: '1X' is not allowed; allowed: an environment variable name"),
    ("env value not text", pekko(env={"X": {"nested": 1}}),
     "smack:apps[0].env.X: {\"nested\": 1} is not allowed; allowed: a string"),
    ("unknown key", pekko(replicas=3), "smack:apps[0].replicas: unknown setting; allowed keys "
     "here: id, cmd, artifact_urls, cpus, mem, instances, constraints, health_checks, env, "
     "labels, ports"),
    ("unknown health check key", pekko(health_checks=[{"path": "/", "port": 80}]),
     "smack:apps[0].health_checks[0].port: unknown setting; allowed keys here: protocol, path, "
     "port_index"),
]


@pytest.mark.parametrize(("entry", "expected"), [(e, m) for _, e, m in MALFORMED],
                         ids=[name for name, _, _ in MALFORMED])
def test_malformed_entries_say_what_is_allowed(entry: dict[str, Any], expected: str) -> None:
    found = messages([entry])
    assert any(expected in m for m in found), found


def test_numbers_in_constraints_are_taken_as_text() -> None:
    spec = AppSpec(**pekko(constraints=[["hostname", "MAX_PER", 2], ["hostname", "GROUP_BY"]]))
    assert spec.constraints == [["hostname", "MAX_PER", "2"], ["hostname", "GROUP_BY"]]


def test_cross_app_problems() -> None:
    a = AppSpec(**pekko())
    group = AppSpec(**pekko(id="/pekko"))
    other = AppSpec(**pekko(id="/pekko-other"))
    assert app_errors([a, other]) == []
    assert app_errors([a, a]) == [
        "smack:apps[1] (/pekko/hello): id /pekko/hello is also used by smack:apps[0]; "
        "ids must be unique"
    ]
    assert app_errors([group, a]) == [
        "smack:apps[0] (/pekko): id /pekko is a group of smack:apps[1] (/pekko/hello); an app "
        "id cannot also be a group of other apps"
    ]


# ----- the stack example ------------------------------------------------------------------


def test_stack_example_parses_and_renders_valid() -> None:
    config = yaml.safe_load(STACK_EXAMPLE.read_text())["config"]
    assert set(config) == {"smack:apps"}
    specs = [AppSpec.model_validate(entry) for entry in config["smack:apps"]]
    assert app_errors(specs) == []
    [hello] = [render_app(s) for s in specs if s.id == "/pekko/hello"]
    assert validate_app(hello) == []
    assert hello["cmd"] == "java -Xmx128m -jar pekko-hello-1.0.0.jar"
    assert [f["uri"] for f in hello["fetch"]] == [
        "https://artifacts.example.com/pekko-hello-1.0.0.jar"
    ]
    [check] = hello["healthChecks"]
    assert (check["protocol"], check["path"], check["portIndex"]) == ("HTTP", "/health", 0)


def test_example_urls_are_placeholders_only() -> None:
    """The example names no real artifact host: example.com placeholders only."""
    text = STACK_EXAMPLE.read_text()
    hosts = set(re.findall(r"https?://([A-Za-z0-9.-]+)", text))
    assert hosts and all(h.endswith("example.com") for h in hosts), hosts
