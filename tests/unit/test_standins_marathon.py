"""The Marathon stand-in against a real ZooKeeper and the stand-in Mesos master (127.0.0.1).

Checked: Scallop-style option errors, MARATHON_* environment, the Curator-style leader latch,
/ping, /v2/info, /v2/leader, standby proxying, framework registration with Mesos, app
validation against the Marathon 1.11 schema (marathon-app-examples/: every valid-* accepted,
every invalid-* rejected with 422), idempotent PUT, ZooKeeper storage, failover, HTTP basic
auth and Mesos framework authentication.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.standins.harness import (
    Daemon,
    Processes,
    ZooKeeper,
    fetch,
    free_port,
    install_tree,
    reference_dir,
    samples,
    wait_until,
    zk_session,
)

pytestmark = pytest.mark.unit

EXAMPLES = reference_dir() / "marathon-app-examples"
VALID = sorted(EXAMPLES.glob("valid-*.json"))
INVALID = sorted(EXAMPLES.glob("invalid-*.json"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("marathon")


@pytest.fixture(scope="module")
def zookeeper(workdir: Path) -> Iterator[ZooKeeper]:
    server = ZooKeeper(workdir)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def procs(workdir: Path) -> Iterator[Processes]:
    install_tree(workdir)
    processes = Processes(workdir / "fs", workdir)
    yield processes
    processes.stop_all()


def start_mesos_master(procs: Processes, zk: ZooKeeper, path: str, *extra: str) -> Daemon:
    port = free_port()
    args = ["--ip=127.0.0.1", f"--port={port}", f"--zk={zk.url(path)}", "--quorum=1",
            f"--work_dir={procs.workdir}/master-{port}", *extra]  # fmt: skip
    master = procs.start("mesos-master", args, port=port)
    wait_until(lambda: fetch(port, "/metrics/snapshot").json()["master/elected"] == 1.0)
    return master


def start_marathon(procs: Processes, zk: ZooKeeper, *extra: str, mesos: str = "/mesos",
                   path: str = "/marathon") -> Daemon:  # fmt: skip
    port = free_port()
    args = ["--master", zk.url(mesos), "--zk", zk.url(path), "--http_port", str(port),
            "--hostname", "127.0.0.1", "--zk_session_timeout", "2000", *extra]  # fmt: skip
    marathon = procs.start("marathon", args, port=port)
    wait_until(lambda: fetch(port, "/ping").status in (200, 401))
    return marathon


def info(marathon: Daemon) -> dict:
    return fetch(marathon.port, "/v2/info").json()


@dataclass
class Ha:
    mesos: Daemon
    leader: Daemon
    standby: Daemon


@pytest.fixture(scope="module")
def ha(procs: Processes, zookeeper: ZooKeeper) -> Ha:
    mesos = start_mesos_master(procs, zookeeper, "/mesos")
    leader = start_marathon(procs, zookeeper)
    wait_until(lambda: info(leader)["elected"])
    port = free_port()
    env = {  # the standby is configured the Debian way: MARATHON_* variables
        "MARATHON_MASTER": zookeeper.url("/mesos"),
        "MARATHON_ZK": zookeeper.url("/marathon"),
        "MARATHON_HTTP_PORT": str(port),
        "MARATHON_HOSTNAME": "127.0.0.1",
        "MARATHON_ZK_SESSION_TIMEOUT": "2000",
        "MARATHON_HA": "",
        "MARATHON_APP_ID": "/ignored-task-variable",
    }
    standby = procs.start("marathon", [], env, port)
    wait_until(lambda: fetch(port, "/v2/leader").status == 200)
    wait_until(lambda: info(leader)["frameworkId"])
    return Ha(mesos, leader, standby)


# ----- command line ------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--master", "zk://127.0.0.1:1/mesos", "--bogus"], {}, "Unknown option 'bogus'"),
    (["--zk", "zk://127.0.0.1:1/marathon"], {}, "Required option 'master' not found"),
    ([], {"MARATHON_MASTER": "zk://127.0.0.1:1/mesos", "MARATHON_HA": "true"},
     "Excess arguments provided: 'true'"),
    (["--master", "zk://127.0.0.1:1/mesos", "--http_port", "eighty"], {},
     "Bad arguments for option 'http_port'"),
])  # fmt: skip
def test_bad_options_fail_like_scallop(
    procs: Processes, args: list[str], env: dict[str, str], message: str
) -> None:
    result = procs.run("marathon", args, env)
    assert result.returncode == 1
    assert result.stderr.decode().startswith(f"[scallop] Error: {message}")


def test_version_and_help(procs: Processes) -> None:
    assert procs.run("marathon", ["--version"]).stdout == b"1.11.24\n"
    result = procs.run("marathon", ["--help"])
    assert result.returncode == 0 and b"--zk <arg>" in result.stdout


# ----- HA, leader, Mesos -------------------------------------------------------------------


def test_ping_on_every_instance(ha: Ha) -> None:
    for marathon in (ha.leader, ha.standby):
        answer = fetch(marathon.port, "/ping")
        assert (answer.status, answer.body) == (200, b"pong")
        assert answer.header(
            "Content-Type",
        ).startswith("text/plain")  # type: ignore[union-attr]


def test_leader_and_info_agree(ha: Ha) -> None:
    expected = f"127.0.0.1:{ha.leader.port}"
    for marathon in (ha.leader, ha.standby):
        assert fetch(marathon.port, "/v2/leader").json() == {"leader": expected}
        assert info(marathon)["leader"] == expected
    leader, standby = info(ha.leader), info(ha.standby)
    assert leader["elected"] is True and standby["elected"] is False
    assert leader["version"].startswith("1.11.") and leader["name"] == "marathon"
    assert set(leader) == {"name", "version", "buildref", "elected", "leader", "frameworkId",
                           "marathon_config", "zookeeper_config", "http_config"}  # fmt: skip
    assert leader["marathon_config"]["master"].endswith("/mesos")
    assert leader["zookeeper_config"]["zk"].endswith("/marathon")
    assert leader["http_config"]["http_port"] == ha.leader.port


def test_leader_latch_in_zookeeper(ha: Ha, zookeeper: ZooKeeper) -> None:
    with zk_session(zookeeper) as zk:
        children = zk.get_children("/marathon/leader-curator")
        assert len(children) == 2
        assert all(re.fullmatch(r"_c_[0-9a-f-]{36}-latch-\d{10}", c) for c in children), children
        first = min(children, key=lambda c: c.rsplit("-", 1)[1])
        data, stat = zk.get(f"/marathon/leader-curator/{first}")
        assert data.decode() == f"127.0.0.1:{ha.leader.port}" and stat.ephemeralOwner != 0


def test_registered_with_mesos_as_framework(ha: Ha) -> None:
    framework_id = info(ha.leader)["frameworkId"]
    state = fetch(ha.mesos.port, "/master/state").json()
    [framework] = state["frameworks"]
    assert framework["id"] == framework_id
    assert framework["name"] == "marathon" and framework["active"] is True
    assert framework["webui_url"] == f"http://127.0.0.1:{ha.leader.port}"
    assert fetch(ha.mesos.port, "/master/frameworks").json()["frameworks"][0]["id"] == framework_id
    assert fetch(ha.mesos.port, "/metrics/snapshot").json()["master/frameworks_active"] == 1.0


def test_not_ready_without_a_mesos_master(procs: Processes, zookeeper: ZooKeeper) -> None:
    lonely = start_marathon(procs, zookeeper, mesos="/mesos-nobody-home", path="/marathon-lonely")
    wait_until(lambda: info(lonely)["elected"])
    time.sleep(1.0)
    assert info(lonely)["frameworkId"] is None
    assert fetch(lonely.port, "/ping").body == b"pong"
    lonely.signal(signal.SIGKILL)


# ----- apps ----------------------------------------------------------------------------------


@pytest.mark.parametrize("example", VALID, ids=lambda p: p.stem)
def test_valid_examples_are_accepted_and_stored(
    ha: Ha, zookeeper: ZooKeeper, example: Path
) -> None:
    body = json.loads(example.read_text())
    via = (
        ha.standby if "docker" in example.name else ha.leader
    )  # one goes through the standby's proxy
    answer = fetch(via.port, "/v2/apps", "POST", body)
    assert answer.status == 201, answer.body
    app = answer.json()
    assert app["id"] == body["id"] and app["instances"] == body["instances"]
    assert (
        app["tasksRunning"] == 0
        and app["deployments"]
        and answer.header("Location").endswith(body["id"])
    )  # type: ignore[union-attr]
    stored = fetch(ha.leader.port, f"/v2/apps{body['id']}").json()["app"]
    assert stored["version"] == app["version"] and stored["deployments"] == []
    with zk_session(zookeeper) as zk:
        data, _ = zk.get(f"/marathon/state/apps/{body['id'].strip('/').replace('/', '_')}")
        assert json.loads(data)["id"] == body["id"]
    assert fetch(ha.leader.port, "/v2/apps", "POST", body).status == 409


@pytest.mark.parametrize("example", INVALID, ids=lambda p: p.stem)
def test_invalid_examples_are_rejected(ha: Ha, example: Path) -> None:
    body = json.loads(example.read_text())
    answer = fetch(ha.leader.port, "/v2/apps", "POST", body)
    assert answer.status == 422, answer.body
    error = answer.json()
    assert error["message"] == "Object is not valid" and error["details"]
    assert all(d["path"].startswith("/") and d["errors"] for d in error["details"])
    assert fetch(ha.leader.port, f"/v2/apps{body['id']}").status == 404


def test_list_reports_instances_but_runs_nothing(ha: Ha) -> None:
    apps = {a["id"]: a for a in fetch(ha.leader.port, "/v2/apps").json()["apps"]}
    assert set(apps) == {json.loads(p.read_text())["id"] for p in VALID}
    assert apps["/team-a/worker"]["instances"] == 3
    assert all(a["tasksRunning"] == 0 and a["deployments"] == [] for a in apps.values())
    assert fetch(ha.leader.port, "/v2/deployments").json() == []
    assert fetch(ha.standby.port, "/v2/apps").json()["apps"], "the standby proxies to the leader"


def test_put_is_idempotent(ha: Ha, zookeeper: ZooKeeper) -> None:
    body = json.loads((EXAMPLES / "valid-env-labels.json").read_text())
    node = "/marathon/state/apps/team-a_worker"
    before = fetch(ha.leader.port, "/v2/apps/team-a/worker").json()["app"]
    with zk_session(zookeeper) as zk:
        mzxid = zk.exists(node).mzxid
        again = fetch(ha.leader.port, "/v2/apps/team-a/worker", "PUT", body)
        assert again.status == 200 and again.json()["deploymentId"]
        assert again.json()["version"] == before["version"]
        assert zk.exists(node).mzxid == mzxid  # nothing written
        scaled = fetch(ha.leader.port, "/v2/apps/team-a/worker", "PUT", {**body, "instances": 5})
        assert scaled.status == 200 and scaled.json()["version"] != before["version"]
        assert zk.exists(node).mzxid != mzxid
    after = fetch(ha.leader.port, "/v2/apps/team-a/worker").json()["app"]
    assert after["instances"] == 5
    assert after["versionInfo"]["lastConfigChangeAt"] == before["versionInfo"]["lastConfigChangeAt"]
    created = fetch(
        ha.leader.port, "/v2/apps/tools/new", "PUT", {"cmd": "sleep 60", "cpus": 0.1, "mem": 16}
    )
    assert created.status == 201
    bad = fetch(ha.leader.port, "/v2/apps/tools/new", "PUT", {"cpus": -1})
    assert bad.status == 422 and bad.json()["details"][0]["path"] == "/cpus"


def test_delete(ha: Ha, zookeeper: ZooKeeper) -> None:
    assert fetch(ha.leader.port, "/v2/apps/tools/new", "DELETE").status == 200
    missing = fetch(ha.leader.port, "/v2/apps/tools/new")
    assert missing.status == 404 and missing.json() == {
        "message": "App '/tools/new' does not exist"
    }
    with zk_session(zookeeper) as zk:
        assert "tools_new" not in zk.get_children("/marathon/state/apps")


def test_failover_keeps_apps_and_framework(ha: Ha) -> None:
    framework_id = info(ha.leader)["frameworkId"]
    apps = sorted(a["id"] for a in fetch(ha.leader.port, "/v2/apps").json()["apps"])
    ha.leader.signal(signal.SIGTERM)
    ha.leader.wait(5)
    wait_until(lambda: info(ha.standby)["elected"], timeout=15)
    assert fetch(ha.standby.port, "/v2/leader").json() == {"leader": f"127.0.0.1:{ha.standby.port}"}
    assert sorted(a["id"] for a in fetch(ha.standby.port, "/v2/apps").json()["apps"]) == apps
    assert info(ha.standby)["frameworkId"] == framework_id  # read back from ZooKeeper

    def reregistered() -> dict | None:
        framework = fetch(ha.mesos.port, "/master/frameworks").json()["frameworks"][0]
        return framework if "reregistered_time" in framework else None

    framework = wait_until(reregistered)
    assert framework["id"] == framework_id and framework["active"] is True


# ----- authentication -------------------------------------------------------------------


def test_http_credentials(procs: Processes, zookeeper: ZooKeeper) -> None:
    """--http_credentials guards every endpoint, /ping included (Marathon issue #7207)."""
    guarded = start_marathon(procs, zookeeper, "--http_credentials", "admin:secret", "--disable_ha",
                             path="/marathon-auth")  # fmt: skip
    denied = fetch(guarded.port, "/ping")
    assert denied.status == 401 and denied.header("WWW-Authenticate") == 'Basic realm="Mesosphere"'
    assert fetch(guarded.port, "/ping", auth=("admin", "nope")).status == 401
    assert fetch(guarded.port, "/ping", auth=("admin", "secret")).body == b"pong"
    assert fetch(guarded.port, "/v2/apps").status == 401
    assert wait_until(
        lambda: fetch(guarded.port, "/v2/apps", auth=("admin", "secret")).status == 200
    )
    guarded.signal(signal.SIGKILL)


def test_mesos_framework_authentication(
    procs: Processes, zookeeper: ZooKeeper, workdir: Path
) -> None:
    (workdir / "credentials.json").write_bytes(
        (samples() / "auth-credentials-example.json").read_bytes()
    )
    (workdir / "secret").write_text("s3cret\n")
    (workdir / "wrong").write_text("wrong-secret\n")
    master = start_mesos_master(procs, zookeeper, "/mesos-fwauth", "--authenticate_frameworks",
                                f"--credentials={workdir}/credentials.json")  # fmt: skip
    common = ["--mesos_authentication", "--mesos_authentication_principal", "ops", "--disable_ha"]
    from_file = "--mesos_authentication_secret_file"
    good = start_marathon(procs, zookeeper, *common, from_file, f"{workdir}/secret",
                          mesos="/mesos-fwauth", path="/marathon-fwauth")  # fmt: skip
    wait_until(lambda: info(good)["frameworkId"])
    assert fetch(master.port, "/master/state").json()["frameworks"][0]["principal"] == "ops"
    bad = start_marathon(procs, zookeeper, *common, from_file, f"{workdir}/wrong",
                         mesos="/mesos-fwauth", path="/marathon-fwauth-2")  # fmt: skip
    assert bad.wait(10) == 1
    assert f"Master master@127.0.0.1:{master.port} refused authentication" in bad.log()
