"""roles/apps/library/marathon_app.py against the Marathon stand-in (a test double, 127.0.0.1).

The apps here ask for no instances (no Mesos master runs), so their deployments end at once;
running tasks, health checks and failing deployments are covered by test_standins_marathon.py.

Checked: the first apply creates (changed), the same definitions again change nothing (not
even a write), a changed cpus is an update, check mode only reports, unlisted apps are
removed only when asked, a wrong password fails with a clear message that never shows the
password, invalid definitions are refused before any HTTP request, and the comparison copes
with what Marathon adds (defaults, assigned ports, 128 vs 128.0). The module is also run the
way Ansible runs it (a process reading ANSIBLE_MODULE_ARGS) to check its argument spec.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.apps import SCHEMA_PATH, AppSpec, render_app
from infra.paths import PROJECT_DIR
from tests.standins.harness import (
    Daemon,
    Processes,
    ZooKeeper,
    fetch,
    free_port,
    install_tree,
    wait_until,
)
from tests.support.plugins import load_module

pytestmark = pytest.mark.unit

MODULE_PATH = PROJECT_DIR / "roles" / "apps" / "library" / "marathon_app.py"
SCHEMA = json.loads(SCHEMA_PATH.read_text())
USER, PASSWORD = "marathon", "pw-7f3a-not-for-logs"


ma = load_module(MODULE_PATH)


def hello(**changes: Any) -> dict[str, Any]:
    spec = {"id": "/pekko/hello", "cmd": "java -Xmx128m -jar pekko-hello-1.0.0.jar",
            "artifact_urls": ["https://artifacts.example.com/pekko-hello-1.0.0.jar"],
            "cpus": 0.5, "mem": 256, "constraints": [["hostname", "UNIQUE"]], "instances": 0,
            "health_checks": [{"path": "/health"}], "labels": {"team": "x"}, **changes}
    return render_app(AppSpec.model_validate(spec))


def sleeper(**changes: Any) -> dict[str, Any]:
    return {"id": "/tools/sleeper", "cmd": "sleep 3600", "cpus": 0.1, "mem": 32, "instances": 0,
            **changes}


# ----- the stand-in ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def marathon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    workdir = tmp_path_factory.mktemp("apps-module")
    zookeeper = ZooKeeper(workdir)
    install_tree(workdir)
    procs = Processes(workdir / "fs", workdir)
    port = free_port()
    daemon = procs.start("marathon", [
        "--master", zookeeper.url("/mesos"), "--zk", zookeeper.url("/marathon"),
        "--http_port", str(port), "--hostname", "127.0.0.1", "--disable_ha",
        "--zk_session_timeout", "2000", "--http_credentials", f"{USER}:{PASSWORD}",
    ], port=port)  # fmt: skip
    wait_until(lambda: fetch(port, "/v2/apps", auth=(USER, PASSWORD)).status == 200)
    yield daemon
    procs.stop_all()
    zookeeper.stop()


class Recording:
    """A client that remembers every request it makes."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[tuple[str, str]] = []
        self.url, self.user = client.url, client.user

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        self.calls.append((method, path))
        return self.client.request(method, path, body)  # type: ignore[no-any-return]

    def failure(self, *args: Any) -> Any:
        return self.client.failure(*args)


def client(marathon: Daemon, password: str = PASSWORD) -> Recording:
    return Recording(ma.Marathon(f"http://127.0.0.1:{marathon.port}", USER, password, 5))


def apply(marathon: Daemon, apps: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    return ma.apply(client(marathon), apps, SCHEMA, poll_interval=0.05,  # type: ignore[no-any-return]
                    deployment_timeout=5, **kwargs)


def stored(marathon: Daemon, app_id: str) -> dict[str, Any]:
    answer = fetch(marathon.port, f"/v2/apps{app_id}", auth=(USER, PASSWORD))
    assert answer.status == 200, answer.body
    return answer.json()["app"]  # type: ignore[no-any-return]


def test_first_apply_creates_then_rerun_changes_nothing(marathon: Daemon) -> None:
    first = apply(marathon, [hello(), sleeper()])
    assert first["changed"] is True
    assert first["summary"] == ["created /pekko/hello", "created /tools/sleeper"]
    app = stored(marathon, "/pekko/hello")
    assert app["cpus"] == 0.5 and app["fetch"][0]["uri"].endswith("pekko-hello-1.0.0.jar")
    assert app["portDefinitions"][0]["port"] != 0, "the stand-in assigns a service port"
    version = app["version"]

    recording = client(marathon)
    again = ma.apply(recording, [hello(), sleeper()], SCHEMA)
    assert again["changed"] is False
    assert again["summary"] == ["unchanged /pekko/hello", "unchanged /tools/sleeper"]
    assert [m for m, _ in recording.calls] == ["GET", "GET"], "no PUT for unchanged apps"
    assert stored(marathon, "/pekko/hello")["version"] == version


def test_changed_cpus_is_an_update(marathon: Daemon) -> None:
    apply(marathon, [hello()])
    result = apply(marathon, [hello(cpus=0.75)])
    assert result["changed"] is True
    assert result["apps"] == [{"id": "/pekko/hello", "action": "updated",
                               "differences": ["$.cpus"]}]
    assert stored(marathon, "/pekko/hello")["cpus"] == 0.75
    assert apply(marathon, [hello(cpus=0.75)])["changed"] is False


def test_removed_entries_are_removed_in_marathon(marathon: Daemon) -> None:
    apply(marathon, [hello(labels={"team": "x", "tier": "web"})])
    result = apply(marathon, [hello(labels={"team": "x"}, constraints=[])])
    assert result["apps"][0]["differences"] == ["$.constraints", "$.labels"]
    app = stored(marathon, "/pekko/hello")
    # Marathon leaves empty members out (real-marathon-samples: apps without constraints).
    assert app["labels"] == {"team": "x"} and "constraints" not in app
    assert apply(marathon, [hello(labels={"team": "x"}, constraints=[])])["changed"] is False
    # A member the definition leaves out is compared with Marathon's default for it.
    apply(marathon, [sleeper(disk=64)])
    assert apply(marathon, [sleeper()])["apps"][0]["differences"] == [
        "$.disk (not in the definition)"
    ]
    assert stored(marathon, "/tools/sleeper")["disk"] == 0


def test_check_mode_reports_without_changing(marathon: Daemon) -> None:
    apply(marathon, [hello(cpus=0.5)])
    recording = client(marathon)
    result = ma.apply(recording, [hello(cpus=2), sleeper(id="/tools/new")], SCHEMA,
                      check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["summary"] == ["updated /pekko/hello ($.cpus)", "created /tools/new"]
    assert {m for m, _ in recording.calls} == {"GET"}
    assert stored(marathon, "/pekko/hello")["cpus"] == 0.5
    assert fetch(marathon.port, "/v2/apps/tools/new", auth=(USER, PASSWORD)).status == 404
    before = json.loads(result["diff"][0]["before"])
    assert before["cpus"] == 0.5 and json.loads(result["diff"][0]["after"])["cpus"] == 2


def test_remove_unlisted(marathon: Daemon) -> None:
    apply(marathon, [hello(), sleeper()])
    kept = apply(marathon, [hello()])
    assert kept["removed"] == [] and stored(marathon, "/tools/sleeper")
    checked = apply(marathon, [hello()], remove_unlisted=True, check_mode=True)
    assert checked["removed"] == ["/tools/sleeper"] and stored(marathon, "/tools/sleeper")
    removed = apply(marathon, [hello()], remove_unlisted=True)
    assert removed["changed"] is True and removed["removed"] == ["/tools/sleeper"]
    assert fetch(marathon.port, "/v2/apps/tools/sleeper", auth=(USER, PASSWORD)).status == 404
    assert apply(marathon, [hello()], remove_unlisted=True)["changed"] is False


def test_wrong_password_is_a_clear_error(marathon: Daemon) -> None:
    with pytest.raises(ma.MarathonError) as failure:
        ma.apply(client(marathon, "wrong-one"), [hello()], SCHEMA)
    message = str(failure.value)
    assert message.startswith(f"Marathon at http://127.0.0.1:{marathon.port} refused user "
                              f"'marathon' (HTTP 401) while trying to read app /pekko/hello")
    assert "apps_marathon_credential" in message and "wrong-one" not in message


def test_invalid_definitions_are_refused_before_any_request(marathon: Daemon) -> None:
    recording = client(marathon)
    bad = [hello(), sleeper(cpus=-1), {"id": "/x", "cmd": "true", "replicas": 2}, sleeper()]
    with pytest.raises(ma.MarathonError) as failure:
        ma.apply(recording, bad, SCHEMA)
    assert recording.calls == []
    assert str(failure.value).splitlines() == [
        "3 problem(s) in the app definitions; nothing was sent to Marathon:",
        "  - apps_definitions[1] (/tools/sleeper): $.cpus: -1 is less than the minimum of 0.001",
        "  - apps_definitions[2] (/x): $: Additional properties are not allowed ('replicas' was "
        "unexpected)",
        "  - apps_definitions[3] (/tools/sleeper): id /tools/sleeper is also used by "
        "apps_definitions[1]; ids must be unique",
    ]


def test_unreachable_marathon() -> None:
    nobody = ma.Marathon(f"http://127.0.0.1:{free_port()}", USER, PASSWORD, 2)
    with pytest.raises(ma.MarathonError, match=r"cannot reach Marathon at http://127\.0\.0\.1:"):
        ma.apply(nobody, [sleeper()], SCHEMA)


# ----- the comparison and the deployment wait (no Marathon needed) --------------------------


def test_comparison_ignores_what_marathon_adds() -> None:
    want = hello()
    have = {**json.loads(json.dumps(want)), "mem": 256.0, "version": "2025-01-01T00:00:00Z",
            "upgradeStrategy": {"minimumHealthCapacity": 1}, "tasksRunning": 0, "disk": 0,
            "portDefinitions": [{"port": 10001, "protocol": "tcp", "labels": {}}]}
    have["healthChecks"][0].update({"ipProtocol": "IPv4", "delaySeconds": 15})
    have["fetch"][0]["destPath"] = None
    assert ma.differences(want, have) == []
    assert ma.differences(want, {**have, "env": {"EXTRA": "1"}}) == ["$.env"]
    assert ma.differences(want, {**have, "cpus": 1}) == ["$.cpus"]
    assert ma.differences({"id": "a", "cmd": "x"}, {"id": "/a", "cmd": "x", "gpus": 1}) == [
        "$.gpus (not in the definition)"
    ]
    fixed = {"id": "/a", "portDefinitions": [{"port": 10005}]}
    assert ma.differences(fixed, {"id": "/a", "portDefinitions": [{"port": 10001}]}) == [
        "$.portDefinitions"
    ]


class Deployments:
    """/v2/deployments answers in turn; GET of an app gives `failures` in turn as its
    lastTaskFailure (none once they run out)."""

    def __init__(self, answers: list[list[dict[str, Any]]],
                 failures: list[dict[str, Any]] | None = None) -> None:
        self.answers = answers
        self.failures = failures or []
        self.url, self.user = "http://m:8080", USER

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if path.startswith("/v2/apps/"):
            app = {"id": path[len("/v2/apps"):]}
            if self.failures:
                app["lastTaskFailure"] = self.failures.pop(0)
            return 200, {"app": app}
        assert (method, path) == ("GET", "/v2/deployments")
        return 200, self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_waits_until_no_deployment_affects_the_app() -> None:
    busy = {"id": "d1", "affectedApps": ["/pekko/hello"],
            "currentActions": [{"action": "StartApplication", "app": "/pekko/hello"}]}
    other = {"id": "d2", "affectedApps": ["/other"]}
    client = Deployments([[busy, other], [busy], [other]])
    naps: list[float] = []
    ma._wait_for_deployments(client, {"/pekko/hello": "d1"}, {}, 10, 0.5, naps.append, lambda: 0)
    assert naps == [0.5, 0.5] and client.answers == [[other]]

    clock = iter(range(0, 1000, 4))
    with pytest.raises(ma.MarathonError, match=r"still deploying /pekko/hello after 10s "
                       r"\(current actions: StartApplication /pekko/hello\)"):
        ma._wait_for_deployments(Deployments([[busy]]), {"/pekko/hello": None}, {}, 10, 0.5,
                                 lambda _: None, lambda: next(clock))


def test_a_deployment_whose_tasks_keep_failing_fails_early() -> None:
    """The failures Marathon records for the new version end the wait (not the old version's,
    and the same task counted once), with the last one's message."""
    busy = {"id": "d1", "affectedApps": ["/pekko/hello"], "currentActions": []}

    def failure(task: str, version: str = "v2") -> dict[str, Any]:
        return {"appId": "/pekko/hello", "host": "node-2", "state": "TASK_KILLED",
                "taskId": task, "version": version,
                "message": "Task was killed since health check failed. Reason: 404 Not Found"}

    failures = [failure("t1", "v1"), failure("t2"), failure("t2"), failure("t3"), failure("t4")]
    client = Deployments([[busy]], failures)
    clock = iter(range(1000))
    with pytest.raises(ma.MarathonError) as caught:
        ma._wait_for_deployments(client, {"/pekko/hello": "d1"}, {}, 600, 0.5, lambda _: None,
                                 lambda: next(clock), {"/pekko/hello": "v2"}, 3)
    assert str(caught.value) == (
        "Marathon cannot deploy /pekko/hello: 3 of its tasks failed since the change was sent; "
        "the last one, TASK_KILLED on node-2: Task was killed since health check failed. "
        "Reason: 404 Not Found (tasks keep being retried; fix the app or its health checks and "
        "run again)")
    assert client.failures == []
    # 0 waits for the timeout instead.
    clock = iter(range(0, 1000, 4))
    with pytest.raises(ma.MarathonError, match="still deploying"):
        ma._wait_for_deployments(Deployments([[busy]], [failure(f"t{i}") for i in range(9)]),
                                 {"/pekko/hello": "d1"}, {}, 10, 0.5, lambda _: None,
                                 lambda: next(clock), {"/pekko/hello": "v2"}, 0)


# ----- as Ansible runs it --------------------------------------------------------------------


def run_module(args: dict[str, Any], tmp_path: Path, check: bool = False) -> dict[str, Any]:
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check}}))
    done = subprocess.run([sys.executable, str(MODULE_PATH), str(path)], capture_output=True,
                          timeout=60, check=False)
    assert PASSWORD.encode() not in done.stdout + done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_module_entry_point(marathon: Daemon, tmp_path: Path) -> None:
    args = {"url": f"http://127.0.0.1:{marathon.port}", "user": USER, "password": PASSWORD,
            "apps": [hello(cpus=0.25)], "schema": SCHEMA, "poll_interval": 0.05}
    assert run_module(args, tmp_path, check=True)["summary"] == ["updated /pekko/hello ($.cpus)"]
    first = run_module(args, tmp_path)
    assert first["changed"] is True and first["invocation"]["module_args"]["password"] != PASSWORD
    assert run_module(args, tmp_path)["changed"] is False

    denied = run_module({**args, "password": PASSWORD + "x"}, tmp_path)
    assert denied["failed"] is True and "refused user 'marathon' (HTTP 401)" in denied["msg"]
    invalid = run_module({**args, "apps": [hello(), {"id": "/Bad", "cmd": "x"}]}, tmp_path)
    assert invalid["failed"] is True
    assert "apps_definitions[1] (/Bad): $.id: '/Bad' is not allowed" in invalid["msg"]
