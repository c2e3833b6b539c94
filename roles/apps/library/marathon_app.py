#!/usr/bin/python
"""Ansible module marathon_app: put Marathon apps in the state their definitions describe.

Runs on the managed node with the Python standard library plus jsonschema (the OS package
python3-jsonschema). Every definition is checked against Marathon's 1.11 app schema before
the first request; then each app is read (GET /v2/apps/<id>), compared on the keys the
definition sets, and PUT only when something differs, so a rerun reports no change.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: marathon_app
short_description: Create or update Marathon apps idempotently (PUT /v2/apps/<id>)
description:
  - Validates every definition against the Marathon 1.11 app JSON schema before sending
    anything; all problems are reported at once, each naming the app and the JSON path.
  - Reads each app and compares only the keys the definition sets (Marathon fills in many
    defaults); a key Marathon knows a default for and the definition leaves out is compared
    with that default. Service ports given as 0 match whatever port Marathon assigned.
  - Changed apps are sent with C(PUT /v2/apps/<id>?partialUpdate=false) (the definition
    replaces the app), then the module waits until no deployment affects them.
  - Supports check mode and diff mode. HTTP basic auth; the password is never printed.
options:
  url:
    description: Base URL of Marathon (any instance; standbys proxy to the leader).
    type: str
    required: true
  user:
    description: HTTP basic auth user; empty means no authentication.
    type: str
    default: ''
  password:
    description: HTTP basic auth password.
    type: str
    default: ''
  apps:
    description: App definitions (Marathon app JSON), each with an C(id).
    type: list
    elements: dict
    required: true
  schema:
    description: The Marathon 1.11 app JSON schema (draft 2020-12).
    type: dict
    required: true
  remove_unlisted:
    description: Delete every Marathon app that I(apps) does not list.
    type: bool
    default: false
  timeout:
    description: Seconds one HTTP request may take.
    type: int
    default: 10
  deployment_timeout:
    description: Seconds to wait until no deployment affects a changed app.
    type: int
    default: 600
  task_failures:
    description:
      - While waiting, fail as soon as this many tasks of a changed app's new version have
        failed (the app's lastTaskFailure, e.g. killed by its health check), with the last
        failure's message, instead of waiting for the deployment timeout. 0 turns it off.
    type: int
    default: 3
  poll_interval:
    description: Seconds between two looks at C(/v2/deployments).
    type: float
    default: 2
author: smack
"""

EXAMPLES = r"""
- name: Apply the stack's Marathon apps
  marathon_app:
    url: http://10.0.0.11:8080
    user: marathon
    password: "{{ marathon_password }}"
    apps: "{{ apps_definitions }}"
    schema: "{{ lookup('ansible.builtin.file', 'marathon-1.11-app.schema.json') | from_json }}"
"""

RETURN = r"""
apps:
  description: One entry per definition, in order.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "/pekko/hello", "action": "updated", "differences": ["$.cpus"]}]
removed:
  description: Ids of apps deleted because they were not listed (remove_unlisted).
  returned: always
  type: list
  elements: str
summary:
  description: One line per app, e.g. "updated /pekko/hello ($.cpus)"; no values, no secrets.
  returned: always
  type: list
  elements: str
"""

import base64
import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import jsonschema
except ImportError:  # reported by main() with the package to install
    jsonschema = None

# Members Marathon fills in when a definition leaves them out. A definition that omits one
# of these while the app has another value is changed back (PUT replaces the definition).
# None: no value at all (null, "", [] and {} count as none).
DEFAULTS = {
    "args": None, "cmd": None, "constraints": [], "cpus": 1, "dependencies": [], "disk": 0,
    "env": {}, "fetch": [], "gpus": 0, "healthChecks": [], "instances": 1, "labels": {},
    "mem": 128, "readinessChecks": [], "requirePorts": False, "secrets": {}, "uris": None,
    "user": None, "backoffFactor": 1.15, "backoffSeconds": 1, "maxLaunchDelaySeconds": 300,
    "tty": None,
}
# Maps whose keys are data, not members: compared key for key, both ways.
MAP_KEYS = {"env", "labels", "secrets", "options"}
# Ports a definition may leave to Marathon with 0 (it assigns them and reports the result).
ASSIGNED_PORTS = {("portDefinitions", "port"), ("portMappings", "servicePort")}
SERVER_SET = {"version", "versionInfo"}


class MarathonError(Exception):
    """A problem to report as the module's failure message; `result` holds what was done."""

    def __init__(self, message, result=None):
        super().__init__(message)
        self.result = result or {}


# ----- validation --------------------------------------------------------------------------


def json_path(parts):
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += "[%d]" % part
        elif re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(part)):
            out += "." + str(part)
        else:
            out += "[%s]" % json.dumps(part)
    return out


def _message(error):
    described = error.schema.get("description") if isinstance(error.schema, dict) else None
    if error.validator == "pattern" and described:
        return "%r is not allowed: %s" % (error.instance, described)
    refused = error.validator_value if error.validator == "not" else None
    if isinstance(refused, dict) and refused.get("description"):
        return refused["description"].replace("RAML description: ", "", 1)
    return error.message


def normalise_id(app_id):
    return "/" + str(app_id).strip("/")


def _label(name, index, app):
    app_id = app.get("id") if isinstance(app, dict) else None
    return "%s[%d]%s" % (name, index, " (%s)" % app_id if isinstance(app_id, str) else "")


def validation_errors(schema, apps, name="apps_definitions"):
    """Every problem of every definition, as '<name>[i] (<id>): $.<path>: <problem>'."""
    if jsonschema is None:
        raise MarathonError(missing_required_lib("jsonschema (OS package python3-jsonschema)"))
    # jsonschema < 4 (EL 9's python3-jsonschema) has no draft 2020-12: draft 7 then checks
    # everything but the constraint operator (prefixItems); smack checks that on the controller.
    validator_class = (getattr(jsonschema, "Draft202012Validator", None)
                       or jsonschema.Draft7Validator)
    validator = validator_class(schema)
    problems = []
    for index, app in enumerate(apps):
        errors = sorted(validator.iter_errors(app),
                        key=lambda e: (json_path(e.absolute_path), e.message))
        # A value of the wrong type fails other checks at its path too; the type is the news.
        mistyped = {json_path(e.absolute_path) for e in errors if e.validator == "type"}
        problems += ["%s: %s: %s" % (_label(name, index, app), json_path(e.absolute_path),
                                     _message(e))
                     for e in errors
                     if e.validator == "type" or json_path(e.absolute_path) not in mistyped]
    ids = [normalise_id(a["id"]) if isinstance(a, dict) and "id" in a else None for a in apps]
    for index, app_id in enumerate(ids):
        if app_id is not None and ids.index(app_id) != index:
            problems.append("%s: id %s is also used by %s[%d]; ids must be unique"
                            % (_label(name, index, apps[index]), app_id, name, ids.index(app_id)))
    return problems


# ----- comparison --------------------------------------------------------------------------


def _empty(value):
    return value is None or value is False or value in ([], {}, "")


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(want, have, path, keys):
    """Is `have` (what Marathon reports) what `want` asks for? `keys` are the member names
    on the way down, used for the special cases (maps, assigned ports)."""
    parent = next((k for k in reversed(keys[:-1]) if isinstance(k, str)), None)
    if keys and (parent, keys[-1]) in ASSIGNED_PORTS and want == 0 and _number(have):
        return True
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return False
        if keys and keys[-1] in MAP_KEYS and set(want) != set(have):
            return False
        return all(
            (_empty(value) and k not in have)
            or _same(value, have.get(k), "%s.%s" % (path, k), [*keys, k])
            for k, value in want.items()
        )
    if isinstance(want, list):
        return (isinstance(have, list) and len(want) == len(have)
                and all(_same(w, h, "%s[%d]" % (path, i), [*keys, i])
                        for i, (w, h) in enumerate(zip(want, have))))
    if _number(want) and _number(have):
        return math.isclose(float(want), float(have), rel_tol=1e-9, abs_tol=1e-12)
    return want == have


def differences(want, have):
    """Top-level members (as '$.<name>') where the app `have` differs from definition `want`."""
    out = []
    for key, value in want.items():
        if key in SERVER_SET:
            continue
        if key == "id":
            if normalise_id(value) != normalise_id(have.get("id", "")):
                out.append("$.id")
        elif _empty(value) and key not in have:
            continue  # Marathon leaves empty members out of what it reports (env, fetch...)
        elif not _same(value, have.get(key), "$." + key, [key]):
            out.append("$." + key)
    for key, default in DEFAULTS.items():
        if key in want or key not in have:
            continue
        current = have[key]
        if (default is None and not _empty(current)) or (
            default is not None and not _same(default, current, "$." + key, [key])
        ):
            out.append("$.%s (not in the definition)" % key)
    return out


# ----- HTTP --------------------------------------------------------------------------------


class Marathon:
    """A minimal Marathon REST client (urllib, basic auth, JSON)."""

    def __init__(self, url, user="", password="", timeout=10):
        self.url = url.rstrip("/")
        self.user = user
        self.timeout = timeout
        self._auth = None
        if user:
            token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
            self._auth = "Basic " + token

    def request(self, method, path, body=None):
        """(status, decoded JSON or None); HTTP error statuses are returned, not raised."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self._auth:
            req.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as answer:  # noqa: S310
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise MarathonError("cannot reach Marathon at %s (%s %s): %s"
                                % (self.url, method, path, reason)) from None
        try:
            return status, json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            return status, {"message": raw.decode("utf-8", "replace")[:300]}

    def failure(self, status, body, what):
        """A readable error for an unexpected answer (never showing the password)."""
        message = (body or {}).get("message", "") if isinstance(body, dict) else ""
        if status in (401, 403):
            who = "user '%s'" % self.user if self.user else "no credentials"
            return MarathonError(
                "Marathon at %s refused %s (HTTP %d) while trying to %s; check the Marathon "
                "HTTP credentials (apps_marathon_credential, from smack_credentials.marathon_http)"
                % (self.url, who, status, what))
        if status == 422:
            details = (body or {}).get("details") or []
            lines = ["%s: %s" % (d.get("path"), "; ".join(d.get("errors") or []))
                     for d in details if isinstance(d, dict)]
            return MarathonError("Marathon refused to %s (HTTP 422 %s): %s"
                                 % (what, message or "invalid", " | ".join(lines) or body))
        if status == 409:
            deployments = ", ".join(d.get("id", "?") for d in (body or {}).get("deployments", []))
            return MarathonError(
                "Marathon refused to %s (HTTP 409): %s%s; wait until the running deployment "
                "ends (or cancel it in the Marathon UI) and run again"
                % (what, message or "locked by a deployment",
                   " (deployments: %s)" % deployments if deployments else ""))
        if status == 503:
            return MarathonError("Marathon at %s has no leader yet (HTTP 503) while trying to "
                                 "%s: %s" % (self.url, what, message))
        return MarathonError("Marathon at %s answered HTTP %d while trying to %s: %s"
                             % (self.url, status, what, message or body))


def _app_path(app_id):
    return "/v2/apps" + urllib.parse.quote(normalise_id(app_id), safe="/")


# ----- the whole run -----------------------------------------------------------------------


def apply(client, apps, schema, check_mode=False, remove_unlisted=False,
          deployment_timeout=600, poll_interval=2.0, diff=False,
          sleep=time.sleep, clock=time.monotonic, task_failures=3):
    """Validate all, then create/update each app that differs; returns the module result."""
    problems = validation_errors(schema, apps)
    if problems:
        raise MarathonError(
            "%d problem(s) in the app definitions; nothing was sent to Marathon:\n  - %s"
            % (len(problems), "\n  - ".join(problems)))
    result = {"changed": False, "apps": [], "removed": []}
    diffs = []
    waiting = {}
    versions = {}
    for app in apps:
        app_id = normalise_id(app["id"])
        body = dict(app, id=app_id)
        status, answer = client.request("GET", _app_path(app_id))
        if status == 404:
            action, found, current = "created", [], {}
        elif status == 200 and isinstance(answer, dict) and isinstance(answer.get("app"), dict):
            current = answer["app"]
            found = differences(body, current)
            action = "updated" if found else "unchanged"
        else:
            raise MarathonError(str(client.failure(status, answer, "read app %s" % app_id)),
                                result)
        result["apps"].append({"id": app_id, "action": action, "differences": found})
        if action == "unchanged":
            continue
        result["changed"] = True
        if diff:
            diffs.append({
                "before_header": "marathon app %s" % app_id,
                "after_header": "marathon app %s" % app_id,
                "before": json.dumps({k: current.get(k) for k in body if k in current},
                                     indent=2, sort_keys=True) + "\n" if current else "",
                "after": json.dumps(body, indent=2, sort_keys=True) + "\n",
            })
        if check_mode:
            continue
        status, answer = client.request("PUT", _app_path(app_id) + "?partialUpdate=false", body)
        if status not in (200, 201):
            raise MarathonError(str(client.failure(status, answer, "%s app %s" % (
                "create" if action == "created" else "update", app_id))), result)
        waiting[app_id] = (answer or {}).get("deploymentId") if isinstance(answer, dict) else None
        versions[app_id] = (answer or {}).get("version") if isinstance(answer, dict) else None
    if remove_unlisted:
        _remove_unlisted(client, apps, result, check_mode)
    if diff and diffs:
        result["diff"] = diffs
    result["summary"] = summary(result)
    if waiting:
        _wait_for_deployments(client, waiting, result, deployment_timeout, poll_interval,
                              sleep, clock, versions, task_failures)
    return result


def summary(result):
    lines = ["%s %s%s" % (a["action"], a["id"],
                          " (%s)" % ", ".join(a["differences"]) if a["differences"] else "")
             for a in result["apps"]]
    return lines + ["removed %s" % app_id for app_id in result["removed"]]


def _remove_unlisted(client, apps, result, check_mode):
    listed = {normalise_id(a["id"]) for a in apps}
    status, answer = client.request("GET", "/v2/apps")
    if status != 200 or not isinstance(answer, dict):
        raise MarathonError(str(client.failure(status, answer, "list apps")), result)
    for app in answer.get("apps") or []:
        app_id = normalise_id(app.get("id", ""))
        if app_id in listed:
            continue
        result["removed"].append(app_id)
        result["changed"] = True
        if check_mode:
            continue
        status, body = client.request("DELETE", _app_path(app_id))
        if status not in (200, 202, 404):
            raise MarathonError(str(client.failure(status, body, "delete app %s" % app_id)),
                                result)


def _failed_tasks(client, app_id, version, seen):
    """Record the app's last task failure if it is one of `version`; returns the failure."""
    status, answer = client.request("GET", _app_path(app_id))
    if status != 200 or not isinstance(answer, dict):
        return None
    failure = (answer.get("app") or {}).get("lastTaskFailure")
    if not isinstance(failure, dict) or (version and failure.get("version") != version):
        return None
    seen.setdefault(app_id, set()).add(failure.get("taskId"))
    return failure


def _wait_for_deployments(client, waiting, result, timeout, interval, sleep, clock,
                          versions=None, task_failures=3):
    deadline = clock() + timeout
    failed = {}
    while True:
        status, answer = client.request("GET", "/v2/deployments")
        if status != 200 or not isinstance(answer, list):
            raise MarathonError(str(client.failure(status, answer, "list deployments")), result)
        busy = sorted({
            app_id
            for d in answer if isinstance(d, dict)
            for app_id in waiting
            if app_id in [normalise_id(a) for a in d.get("affectedApps") or []]
            or (waiting[app_id] and d.get("id") == waiting[app_id])
        })
        if not busy:
            return
        for app_id in busy if task_failures > 0 else []:
            failure = _failed_tasks(client, app_id, (versions or {}).get(app_id), failed)
            if failure and len(failed[app_id]) >= task_failures:
                raise MarathonError(
                    "Marathon cannot deploy %s: %d of its tasks failed since the change was sent; "
                    "the last one, %s on %s: %s (tasks keep being retried; fix the app or its "
                    "health checks and run again)"
                    % (app_id, len(failed[app_id]), failure.get("state", "?"),
                       failure.get("host", "?"), failure.get("message") or "no message"), result)
        if clock() >= deadline:
            actions = [a.get("action", "?") + " " + a.get("app", "")
                       for d in answer if isinstance(d, dict)
                       for a in d.get("currentActions") or [] if isinstance(a, dict)]
            raise MarathonError(
                "Marathon is still deploying %s after %ds (current actions: %s); the apps were "
                "sent, check their tasks and health checks in the Marathon UI"
                % (", ".join(busy), timeout, "; ".join(actions) or "unknown"), result)
        sleep(interval)


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "user": {"type": "str", "default": ""},
            "password": {"type": "str", "default": "", "no_log": True},
            "apps": {"type": "list", "elements": "dict", "required": True},
            "schema": {"type": "dict", "required": True},
            "remove_unlisted": {"type": "bool", "default": False},
            "timeout": {"type": "int", "default": 10},
            "deployment_timeout": {"type": "int", "default": 600},
            "task_failures": {"type": "int", "default": 3},
            "poll_interval": {"type": "float", "default": 2.0},
        },
        supports_check_mode=True,
    )
    params = module.params
    if jsonschema is None:
        module.fail_json(msg=missing_required_lib("jsonschema (OS package python3-jsonschema)"))
    client = Marathon(params["url"], params["user"], params["password"], params["timeout"])
    try:
        result = apply(
            client, params["apps"], params["schema"],
            check_mode=module.check_mode, remove_unlisted=params["remove_unlisted"],
            deployment_timeout=params["deployment_timeout"], poll_interval=params["poll_interval"],
            task_failures=params["task_failures"],
            diff=module._diff,
        )
    except MarathonError as exc:
        failed = {"changed": False, "apps": [], "removed": []}
        failed.update(exc.result)
        module.fail_json(msg=str(exc), **failed)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
