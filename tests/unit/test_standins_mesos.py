"""The Mesos stand-ins against a real ZooKeeper on 127.0.0.1, compared with real-mesos-samples.

Every comparison names its sample: status codes, header names/order and the headers that
matter (Content-Type, WWW-Authenticate, Location form), JSON keys and types recursively, exact
bodies and messages where the real ones do not depend on ids, times or ports. The daemons run
from the unpacked .debs (the same files the roles install).
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.paths import PROJECT_DIR
from tests.standins.harness import (
    Answer,
    Daemon,
    Processes,
    ZooKeeper,
    assert_like_sample,
    assert_same_shape,
    fetch,
    free_port,
    sample_json,
    samples,
    wait_until,
    without_glog_prefix,
    zk_session,
)

pytestmark = pytest.mark.unit

AGENT_FLAGS = [
    "--containerizers=mesos",
    "--launcher=posix",
    "--isolation=posix/cpu,posix/mem",
    "--systemd_enable_support=false",
]  # fmt: skip  -- as in PROVENANCE.txt


def start_master(procs: Processes, zk: ZooKeeper, path: str, *extra: str, quorum: str | None = "1",
                 env: dict[str, str] | None = None, zk_flag: str = "",
                 healthy: bool = True) -> Daemon:  # fmt: skip
    port = free_port()
    args = ["--ip=127.0.0.1", f"--port={port}", f"--zk={zk_flag or zk.url(path)}"]
    args += [f"--quorum={quorum}"] if quorum else []
    args += [f"--work_dir={procs.workdir}/master-{port}", *extra]
    master = procs.start("mesos-master", args, env, port)
    if healthy:
        wait_until(lambda: fetch(port, "/health").status == 200)
    return master


def start_agent(
    procs: Processes, master: str, *extra: str, work_dir: str | None = None, port: int = 0
) -> Daemon:
    port = port or free_port()
    work_dir = work_dir or f"{procs.workdir}/agent-{port}"
    args = [
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--master={master}",
        f"--work_dir={work_dir}",
        *AGENT_FLAGS,
        *extra,
    ]
    agent = procs.start("mesos-agent", args, port=port)
    wait_until(lambda: fetch(port, "/health").status == 200)
    return agent


def agents(master: Daemon, auth: tuple[str, str] | None = None) -> list[dict]:
    return fetch(master.port, "/master/slaves", auth=auth).json()["slaves"]


def elected(master: Daemon) -> bool:
    return fetch(master.port, "/metrics/snapshot").json()["master/elected"] == 1.0


def registered(master: Daemon, agent: Daemon) -> bool:
    """Both sides know: the master lists the agent, and the agent has the id the master gave
    it (the master adds the agent before its answer reaches the agent, as real Mesos does)."""
    return len(agents(master)) == 1 and "id" in fetch(agent.port, "/state").json()


@dataclass
class Cluster:
    master: Daemon
    agent: Daemon
    path: str


@pytest.fixture(scope="module")
def basic(procs: Processes, zookeeper: ZooKeeper) -> Cluster:
    """One master and one agent started with the flags of the main samples."""
    master = start_master(procs, zookeeper, "/mesos")
    wait_until(lambda: elected(master))
    agent = start_agent(procs, zookeeper.url("/mesos"))
    wait_until(lambda: registered(master, agent))
    return Cluster(master, agent, "/mesos")


# ----- command line ------------------------------------------------------------------------


@pytest.mark.parametrize(("program", "flag", "sample"), [
    ("mesos-agent", "--bogus", "agent-unknown-flag"),
    ("mesos-master", "--no_such_flag", "master-unknown-flag"),
])  # fmt: skip
def test_unknown_flag_is_rejected_byte_for_byte(
    procs: Processes, program: str, flag: str, sample: str
) -> None:
    result = procs.run(program, [flag])
    assert result.stderr == (samples() / f"{sample}.stderr").read_bytes()
    assert result.stdout == (samples() / f"{sample}.stdout").read_bytes() == b""
    assert result.returncode == int((samples() / f"{sample}.exitcode").read_text())


def test_agent_without_master(procs: Processes) -> None:
    result = procs.run("mesos-agent", [f"--work_dir={procs.workdir}/nomaster"])
    expected = without_glog_prefix((samples() / "agent-no-master.stderr").read_text())
    assert without_glog_prefix(result.stderr.decode()) == expected
    assert result.returncode == int((samples() / "agent-no-master.exitcode").read_text())


@pytest.mark.parametrize(("args", "sample"), [
    (["--ip=127.0.0.1", "--port=5999", "--zk=zk://127.0.0.1:1/mesos", "--quorum=1"],
     "master-no-work-dir"),
    (["--ip=127.0.0.1", "--port=5999", "--zk=zk://127.0.0.1:1/mesos", "--work_dir=/tmp/wd"],
     "master-zk-without-quorum"),
])  # fmt: skip
def test_master_startup_checks(procs: Processes, args: list[str], sample: str) -> None:
    result = procs.run("mesos-master", args)
    ours = without_glog_prefix(result.stderr.decode()).splitlines()
    real = without_glog_prefix((samples() / f"{sample}.stderr").read_text()).splitlines()
    assert [line.split("]")[0] for line in ours] == [
        line.split("]")[0] for line in real
    ]  # same steps
    assert ours[-1] == real[-1]  # the same EXIT message
    assert result.returncode == int((samples() / f"{sample}.exitcode").read_text())


def test_version_and_help(procs: Processes) -> None:
    result = procs.run("mesos-master", ["--version"])
    assert result.stdout == (samples() / "master-version-flag.stdout").read_bytes()
    assert result.returncode == int((samples() / "master-version-flag.exitcode").read_text())
    for role in ("master", "agent"):
        result = procs.run(f"mesos-{role}", ["--help"])
        assert result.returncode == int((samples() / f"{role}-help.exitcode").read_text())
        real = set(
            re.findall(
                r"^  --(?:\[no-\])?([a-z0-9_]+)",
                (samples() / f"{role}-help.stdout").read_text(),
                re.M,
            )
        )
        ours = set(re.findall(r"^  --(?:\[no-\])?([a-z0-9_]+)", result.stdout.decode(), re.M))
        assert ours == real


def test_flag_forms(procs: Processes) -> None:
    # stout takes --name=value only: "--port 5050" loads port="true" and fails.
    result = procs.run("mesos-master", ["--port", "5050"])
    assert result.returncode == 1 and result.stderr.startswith(b"Failed to load flag 'port'")
    result = procs.run("mesos-master", ["--no-port"])
    assert result.stderr.startswith(b"Failed to load non-boolean flag 'port' via 'no-port'")
    # Unknown MESOS_* variables are ignored; known ones are loaded (checked via /flags below).
    assert procs.run("mesos-master", ["--help"], env={"MESOS_NO_SUCH_THING": "1"}).returncode == 0


def test_quorum_from_environment(procs: Processes, zookeeper: ZooKeeper) -> None:
    """master-env-quorum-test.txt: MESOS_QUORUM=1 in place of --quorum; it leads."""
    master = start_master(
        procs, zookeeper, "/mesos-envtest", quorum=None, env={"MESOS_QUORUM": "1"}
    )
    wait_until(lambda: elected(master))
    assert fetch(master.port, "/master/flags").json()["flags"]["quorum"] == "1"
    master.signal(signal.SIGKILL)


# ----- endpoints of a running cluster ------------------------------------------------------

ENDPOINTS = [
    ("master", "GET", "/health", "master-health"),
    ("master", "HEAD", "/health", "master-health-HEAD"),
    ("master", "POST", "/health", "master-health-POST"),
    ("master", "GET", "/version", "master-version"),
    ("master", "GET", "/master/state", "master-state"),
    ("master", "GET", "/state", "master-state-alias"),
    ("master", "GET", "/master/state.json", "master-state-alias"),
    ("master", "GET", "/master/slaves", "master-slaves"),
    ("master", "GET", "/master/state-summary", "master-state-summary"),
    ("master", "GET", "/master/frameworks", "master-frameworks"),
    ("master", "GET", "/master/flags", "master-flags"),
    ("master", "GET", "/metrics/snapshot", "master-metrics-snapshot"),
    ("master", "GET", "/master/redirect", "master-redirect"),
    ("master", "GET", "/master/no-such-endpoint", "master-notfound"),
    ("agent", "GET", "/health", "agent-health"),
    ("agent", "GET", "/version", "agent-version"),
    ("agent", "GET", "/state", "agent-state"),
    ("agent", "GET", "/slave(1)/state", "agent-slave-state"),
    ("agent", "GET", "/flags", "agent-flags"),
    ("agent", "GET", "/metrics/snapshot", "agent-metrics-snapshot"),
]


@pytest.mark.parametrize(("who", "method", "path", "sample"), ENDPOINTS)
def test_endpoint_like_sample(
    basic: Cluster, who: str, method: str, path: str, sample: str
) -> None:
    daemon = basic.master if who == "master" else basic.agent
    answer = fetch(daemon.port, path, method)
    assert_like_sample(answer, sample)
    if (samples() / f"{sample}.json").exists():
        assert_same_shape(sample_json(f"{sample}.json"), answer.json())
    elif (samples() / f"{sample}.body").exists():
        assert answer.body == (samples() / f"{sample}.body").read_bytes()
    else:
        assert answer.body == b""


def test_metrics_mean_something(basic: Cluster) -> None:
    master = fetch(basic.master.port, "/metrics/snapshot").json()
    assert master["master/elected"] == 1.0 and master["master/slaves_active"] == 1.0
    assert master["registrar/log/recovered"] == 1.0
    assert list(master) == list(
        sample_json("master-metrics-snapshot.json")
    )  # same keys, same order
    agent = fetch(basic.agent.port, "/metrics/snapshot").json()
    assert agent["slave/registered"] == 1.0 and agent["slave/cpus_total"] > 0
    assert list(agent) == list(sample_json("agent-metrics-snapshot.json"))


def test_flags_are_the_real_defaults(basic: Cluster) -> None:
    """Every flag not set on the command line has the real binary's default value."""
    explicit = {
        "ip",
        "port",
        "zk",
        "quorum",
        "work_dir",
        "master",
        *(f[2:].split("=")[0] for f in AGENT_FLAGS),
    }
    for daemon, sample in ((basic.master, "master-flags.json"), (basic.agent, "agent-flags.json")):
        ours = fetch(daemon.port, "/flags").json()["flags"]
        real = sample_json(sample)["flags"]
        assert list(ours) == list(real)
        assert {k: v for k, v in ours.items() if k not in explicit} == {
            k: v for k, v in real.items() if k not in explicit
        }


def test_state_fields(basic: Cluster) -> None:
    state = fetch(basic.master.port, "/master/state").json()
    assert state["pid"] == state["leader"] == f"master@127.0.0.1:{basic.master.port}"
    assert state["hostname"] == "localhost" and state["activated_slaves"] == 1.0
    agent = state["slaves"][0]
    assert agent["active"] is True and agent["hostname"] == "localhost"
    assert agent["resources"]["ports"] == "[31000-32000]" and agent["resources"]["cpus"] >= 1
    assert agent["id"].startswith(state["id"] + "-S")
    agent_state = fetch(basic.agent.port, "/state").json()
    assert agent_state["id"] == agent["id"] and agent_state["master_hostname"] == "localhost"


def test_znodes_like_sample(basic: Cluster, zookeeper: ZooKeeper) -> None:
    """zk-mesos-tree.json: json.info_<10 digits> (ephemeral, MasterInfo JSON) and log_replicas."""
    tree = sample_json("zk-mesos-tree.json")
    real_info = tree["/mesos/json.info_0000000001"]
    state = fetch(basic.master.port, "/master/state").json()
    with zk_session(zookeeper) as zk:
        assert sorted(zk.get_children("/mesos")) == tree["/mesos"]["children"]
        data, stat = zk.get("/mesos/json.info_0000000001")
        expected = real_info["data_utf8"].replace(
            sample_json("master-state.json")["id"], state["id"]
        )
        assert data.decode() == expected.replace(":5050", f":{basic.master.port}").replace(
            '"port":5050', f'"port":{basic.master.port}'
        )
        assert stat.ephemeralOwner != 0 and stat.dataLength == len(data)
        assert_same_shape(sample_json("zk_mesos_json.info_0000000001.json"), json.loads(data))
        assert (
            zk.exists("/mesos").ephemeralOwner == 0
            and zk.exists("/mesos/log_replicas").ephemeralOwner == 0
        )
        assert zk.get_children("/mesos/log_replicas") == tree["/mesos/log_replicas"]["children"]
        replica, replica_stat = zk.get("/mesos/log_replicas/0000000000")
        assert replica.decode() == f"log-replica(1)@127.0.0.1:{basic.master.port}"
        assert replica_stat.ephemeralOwner != 0


@pytest.fixture(scope="module")
def follower(basic: Cluster, procs: Processes, zookeeper: ZooKeeper) -> Daemon:
    return start_master(procs, zookeeper, "/mesos")


@pytest.mark.parametrize(("path", "sample"), [
    ("/health", "follower-master-health"),
    ("/master/redirect", "follower-master-redirect"),
    ("/master/slaves", "follower-master-slaves"),
    ("/master/state", "follower-master-state"),
])  # fmt: skip
def test_follower_like_sample(basic: Cluster, follower: Daemon, path: str, sample: str) -> None:
    answer = wait_until(lambda: (a := fetch(follower.port, path)).status in (200, 307) and a)
    assert_like_sample(answer, sample)
    assert answer.body == (samples() / f"{sample}.body").read_bytes()
    if answer.status == 307:
        suffix = "" if path.endswith("redirect") else path
        assert answer.header("Location") == f"//localhost:{basic.master.port}{suffix}"


def test_two_masters_in_zookeeper(basic: Cluster, follower: Daemon, zookeeper: ZooKeeper) -> None:
    real = (samples() / "zk-mesos-children-with-two-masters.txt").read_text().strip()
    with zk_session(zookeeper) as zk:
        assert str(sorted(zk.get_children("/mesos"))) == real
    assert not elected(follower)


# ----- resources, attributes, maintenance (res-* and maint-* samples) -------------------------


@pytest.fixture(scope="module")
def maint(procs: Processes, zookeeper: ZooKeeper) -> Cluster:
    master = start_master(procs, zookeeper, "/mesos-maint")
    wait_until(lambda: elected(master))
    extra = [
        "--resources=cpus:2;mem:1024;disk:2048;ports:[31000-31100]",
        "--attributes=rack:r1;zone:z1",
    ]
    agent = start_agent(
        procs, zookeeper.url("/mesos-maint"), *extra, work_dir=f"{procs.workdir}/maint-agent"
    )
    wait_until(lambda: registered(master, agent))
    return Cluster(master, agent, "/mesos-maint")


@pytest.mark.parametrize(("who", "path", "sample"), [
    ("agent", "/state", "res-agent-state"),
    ("master", "/master/slaves", "res-master-slaves"),
    ("master", "/master/state", "res-master-state"),
])  # fmt: skip
def test_resources_and_attributes_like_sample(
    maint: Cluster, who: str, path: str, sample: str
) -> None:
    answer = fetch((maint.agent if who == "agent" else maint.master).port, path)
    assert_like_sample(answer, sample)
    real, ours = sample_json(f"{sample}.json"), answer.json()
    assert_same_shape(real, ours)
    real_agent = real if who == "agent" else real["slaves"][0]
    our_agent = ours if who == "agent" else ours["slaves"][0]
    for key in ("resources", "attributes", "unreserved_resources", "hostname"):
        assert our_agent[key] == real_agent[key], key


def post_sample(cluster: Cluster, path: str, sample: str) -> None:
    """POST the exact body of `<sample>.request.json`; expect the sample's answer."""
    raw = (samples() / f"{sample}.request.json").read_bytes()
    answer = fetch(cluster.master.port, path, "POST", raw=raw)
    assert_like_sample(answer, sample)
    assert answer.body == (samples() / f"{sample}.body").read_bytes()


def test_maintenance_sequence_like_samples(maint: Cluster, procs: Processes) -> None:
    """The maint-* capture, step by step (PROVENANCE.txt): same bodies, codes and headers."""
    port = maint.master.port

    def check(path: str, sample: str, exact: bool = True) -> dict:
        answer = fetch(port, path)
        assert_like_sample(answer, sample)
        if exact:
            assert answer.json() == sample_json(f"{sample}.json"), sample
        return answer.json()

    check("/master/maintenance/schedule", "maint-schedule-empty")
    check("/master/maintenance/status", "maint-status-empty")
    for path, sample in [("/master/machine/down", "maint-machine-down-unscheduled"),
                         ("/master/maintenance/schedule", "maint-schedule-post")]:  # fmt: skip
        post_sample(maint, path, sample)
    check("/master/maintenance/schedule", "maint-schedule-get")
    check("/master/maintenance/status", "maint-status-draining")
    draining = check("/master/slaves", "maint-master-slaves-draining", exact=False)
    assert draining["slaves"][0]["active"] is True
    for sample in ("maint-machine-up-while-draining", "maint-machine-down"):
        path = "/master/machine/up" if "up" in sample else "/master/machine/down"
        post_sample(maint, path, sample)
    # The master removed the agent and told it to shut down; the agent process ended.
    assert maint.agent.wait(10) == 0
    assert "because 'Operator initiated 'Machine DOWN''" in maint.agent.log()
    check("/master/maintenance/status", "maint-status-down")
    check("/master/slaves", "maint-master-slaves-down")
    check("/master/maintenance/schedule", "maint-schedule-get-down")
    state = check("/master/state", "maint-master-state-down", exact=False)
    assert_same_shape(sample_json("maint-master-state-down.json"), state)
    post_sample(maint, "/master/machine/up", "maint-machine-up")
    check("/master/maintenance/status", "maint-status-up")
    check("/master/maintenance/schedule", "maint-schedule-get-up")
    check("/master/slaves", "maint-master-slaves-up")
    # The same agent command again, same work dir: it re-registers with its old agent ID.
    old_id = re.search(r"given agent ID (\S+)", maint.agent.log()).group(1)  # type: ignore[union-attr]
    args = maint.agent.proc.args[2:]  # type: ignore[index]
    again = procs.start("mesos-agent", list(args), port=maint.agent.port)
    wait_until(lambda: len(agents(maint.master)) == 1)
    answer = fetch(port, "/master/slaves")
    assert_like_sample(answer, "maint-master-slaves-after-agent-restart")
    assert_same_shape(sample_json("maint-master-slaves-after-agent-restart.json"), answer.json())
    assert answer.json()["slaves"][0]["id"] == old_id
    assert "Re-registered with master" in wait_until(
        lambda: "Re-registered" in again.log() and again.log()
    )


# ----- authentication (auth-* samples) -----------------------------------------------------

CREDENTIALS = ("ops", "s3cret")


@pytest.fixture(scope="module")
def auth(procs: Processes, zookeeper: ZooKeeper, workdir: Path) -> Cluster:
    shutil.copy(samples() / "auth-credentials-example.json", workdir / "credentials.json")
    shutil.copy(samples() / "auth-agent-credential-example.json", workdir / "agent-credential.json")
    master = start_master(
        procs, zookeeper, "/mesos-auth",
        "--authenticate_http_readonly", "--authenticate_http_readwrite", "--authenticate_agents",
        "--authenticate_frameworks", f"--credentials={workdir}/credentials.json",
    )  # fmt: skip
    wait_until(
        lambda: fetch(master.port, "/metrics/snapshot", auth=CREDENTIALS).json()["master/elected"]
    )
    agent = start_agent(
        procs, zookeeper.url("/mesos-auth"), f"--credential={workdir}/agent-credential.json",
        f"--http_credentials={workdir}/credentials.json", "--authenticate_http_readonly",
    )  # fmt: skip
    wait_until(lambda: len(agents(master, CREDENTIALS)) == 1)
    return Cluster(master, agent, "/mesos-auth")


@pytest.mark.parametrize("case", [
    ("master", "GET", "/master/state", None, "auth-master-state-noauth"),
    ("master", "GET", "/master/state", ("ops", "badpass"), "auth-master-state-wrongpw"),
    ("master", "GET", "/master/state", ("nobody", "s3cret"), "auth-master-state-unknown-user"),
    ("master", "GET", "/master/state", CREDENTIALS, "auth-master-state-ok"),
    ("master", "GET", "/master/slaves", None, "auth-master-slaves-noauth"),
    ("master", "GET", "/master/slaves", CREDENTIALS, "auth-master-slaves-ok"),
    ("master", "GET", "/master/flags", CREDENTIALS, "auth-master-flags-ok"),
    ("master", "GET", "/health", None, "auth-master-health-noauth"),
    ("master", "POST", "/master/maintenance/schedule", None,
     "auth-master-maintenance-schedule-noauth"),
    ("master", "GET", "/master/teardown", None, "auth-master-teardown-GET-noauth"),
    ("agent", "GET", "/state", None, "auth-agent-state-noauth"),
    ("agent", "GET", "/state", ("ops", "badpass"), "auth-agent-state-wrongpw"),
    ("agent", "GET", "/state", CREDENTIALS, "auth-agent-state-ok"),
    ("agent", "GET", "/health", None, "auth-agent-health-noauth"),
], ids=lambda case: case[4])  # fmt: skip
def test_http_authentication_like_sample(auth: Cluster, case: tuple) -> None:
    who, method, path, credentials, sample = case
    request = samples() / f"{sample}.request.json"
    raw = request.read_bytes() if request.exists() else None
    answer = fetch(
        (auth.master if who == "master" else auth.agent).port,
        path,
        method,
        auth=credentials,
        raw=raw,
    )
    assert_like_sample(answer, sample)
    if (samples() / f"{sample}.json").exists():
        real = sample_json(f"{sample}.json")
        ours = answer.json()
        if sample == "auth-master-state-ok":  # captured before its agent registered
            ours = {**ours, "slaves": [], "activated_slaves": 0.0}
        assert_same_shape(real, ours)
    else:
        assert answer.body == (samples() / f"{sample}.body").read_bytes()


def test_agent_with_wrong_credential_exits(
    auth: Cluster, procs: Processes, zookeeper: ZooKeeper, workdir: Path
) -> None:
    """auth-agent-wrong-credential.*: the agent ends with status 1, the master keeps one agent."""
    (workdir / "wrong-credential.json").write_text(
        json.dumps({"principal": "ops", "secret": "wrong-secret"})
    )
    bad = procs.start("mesos-agent", [
        "--ip=127.0.0.1", f"--port={free_port()}", f"--master={zookeeper.url(auth.path)}",
        f"--work_dir={workdir}/bad-agent", *AGENT_FLAGS,
        f"--credential={workdir}/wrong-credential.json",
    ])  # fmt: skip
    assert bad.wait(15) == int((samples() / "auth-agent-wrong-credential.exitcode").read_text())
    real_last = without_glog_prefix(
        (samples() / "auth-agent-wrong-credential.stderr").read_text()
    ).splitlines()[-1]
    ours_last = without_glog_prefix(bad.log()).splitlines()[-1]
    assert ours_last == real_last.replace("127.0.0.1:5060", f"127.0.0.1:{auth.master.port}")
    answer = fetch(auth.master.port, "/master/slaves", auth=CREDENTIALS)
    assert_like_sample(answer, "auth-master-slaves-after-bad-agent")
    assert_same_shape(sample_json("auth-master-slaves-after-bad-agent.json"), answer.json())


# ----- authorization: the ACLs the mesos_master role writes (Mesos' documented semantics) ----

PRINCIPALS = {"operator": ("op", "op-secret"), "agent": ("ag", "ag-secret"),
              "marathon": ("marathon", "mar-secret"), "spark": ("spark", "spark-secret")}


def role_acls() -> dict:
    """The ACL document of roles/mesos_master for PRINCIPALS, through the role's own filter."""
    path = PROJECT_DIR / "roles" / "mesos_master" / "filter_plugins" / "mesos_acls.py"
    scope: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), scope)  # noqa: S102 - the role's plugin
    credentials = {name: {"principal": p, "secret": s} for name, (p, s) in PRINCIPALS.items()}
    return scope["mesos_master_acls"](credentials, {"marathon": ["*"], "spark": ["*"]})


def test_the_role_acls_leave_each_action_to_its_principals_only() -> None:
    from tests.standins.standin.acls import ACTIONS, Acls

    acls = Acls.load(json.dumps(role_acls()))
    for action in ACTIONS:
        for stranger, target in (("stranger", "x"), (None, "x"), ("stranger", None), (None, None)):
            assert not acls.allows(action, stranger, target), (action, stranger, target)
        if action != "register_agents":  # the agent principal's alone
            assert acls.allows(action, "op", "x") and acls.allows(action, "op", None), action
    assert acls.allows("register_frameworks", "marathon", "*")
    assert not acls.allows("register_frameworks", "marathon", "prod")
    assert acls.allows("run_tasks", "spark", "nobody")
    assert acls.allows("register_agents", "ag", None)
    for action in ("teardown_frameworks", "start_maintenances", "register_agents"):
        assert not acls.allows(action, "spark", "x") and not acls.allows(action, "marathon", None)


def register_framework(port: int, principal: str, role: str = "*") -> Answer:
    from tests.standins.standin.auth import sign

    secret = dict(PRINCIPALS.values())[principal]
    return fetch(port, "/__standin__/framework/register", "POST",
                 {"name": f"acl-{principal}", "user": "root", "role": role,
                  "credential": sign(principal, secret)})


@pytest.fixture(scope="module")
def authz(procs: Processes, zookeeper: ZooKeeper, workdir: Path) -> Cluster:
    (workdir / "authz-credentials.json").write_text(json.dumps({"credentials": [
        {"principal": p, "secret": s} for p, s in PRINCIPALS.values()]}))
    (workdir / "authz-acls.json").write_text(json.dumps(role_acls()))
    (workdir / "authz-agent.json").write_text(
        json.dumps(dict(zip(("principal", "secret"), PRINCIPALS["agent"], strict=True))))
    master = start_master(
        procs, zookeeper, "/mesos-authz", "--authenticate_http_readonly",
        "--authenticate_http_readwrite", "--authenticate_agents", "--authenticate_frameworks",
        f"--credentials={workdir}/authz-credentials.json", "--authorizers=local",
        f"--acls=file://{workdir}/authz-acls.json",
    )  # fmt: skip
    operator = PRINCIPALS["operator"]
    wait_until(lambda: fetch(master.port, "/metrics/snapshot", auth=operator).json()[
        "master/elected"])
    agent = start_agent(procs, zookeeper.url("/mesos-authz"),
                        f"--credential={workdir}/authz-agent.json")
    wait_until(lambda: len(agents(master, operator)) == 1)
    return Cluster(master, agent, "/mesos-authz")


def test_only_the_operator_tears_down_frameworks(authz: Cluster) -> None:
    answer = register_framework(authz.master.port, "marathon")
    assert answer.status == 200, answer.body
    form = f"frameworkId={answer.json()['id']}".encode()
    for name in ("spark", "agent", "marathon"):
        refused = fetch(authz.master.port, "/master/teardown", "POST",
                        auth=PRINCIPALS[name], raw=form)
        assert (refused.status, refused.body) == (403, b""), name
    done = fetch(authz.master.port, "/master/teardown", "POST", auth=PRINCIPALS["operator"],
                 raw=form)
    assert done.status == 200


def test_only_the_operator_uses_the_maintenance_endpoints(authz: Cluster) -> None:
    machine = {"hostname": "node-x", "ip": "10.0.0.9"}
    schedule = {"windows": [{"machine_ids": [machine],
                             "unavailability": {"start": {"nanoseconds": 1}}}]}
    for name in ("spark", "agent", "marathon"):
        for path, body in (("/master/maintenance/schedule", schedule),
                           ("/master/machine/down", [machine]),
                           ("/master/machine/up", [machine])):
            answer = fetch(authz.master.port, path, "POST", body, auth=PRINCIPALS[name])
            assert answer.status == 403, (name, path, answer.body)
    operator = PRINCIPALS["operator"]
    assert fetch(authz.master.port, "/master/maintenance/schedule", "POST", schedule,
                 auth=operator).status == 200
    # Reads show only what the principal may see.
    seen = fetch(authz.master.port, "/master/maintenance/schedule", auth=operator).json()
    assert seen["windows"][0]["machine_ids"] == [machine]
    assert fetch(authz.master.port, "/master/maintenance/schedule",
                 auth=PRINCIPALS["spark"]).json() == {}
    assert fetch(authz.master.port, "/master/maintenance/status",
                 auth=PRINCIPALS["spark"]).json() == {}
    assert fetch(authz.master.port, "/master/maintenance/schedule", "POST", {},
                 auth=operator).status == 200


def test_frameworks_register_only_with_their_roles_and_agents_only_as_the_agent(
        authz: Cluster, procs: Processes, zookeeper: ZooKeeper, workdir: Path) -> None:
    assert register_framework(authz.master.port, "spark").status == 200
    refused = register_framework(authz.master.port, "spark", role="prod")
    assert refused.status == 403 and "not authorized to use the roles prod" in refused.json()[
        "message"]
    assert register_framework(authz.master.port, "ag").status == 403
    assert register_framework(authz.master.port, "op", role="prod").status == 200
    # An agent presenting a framework's credential authenticates but may not register.
    (workdir / "authz-wrong-agent.json").write_text(
        json.dumps(dict(zip(("principal", "secret"), PRINCIPALS["spark"], strict=True))))
    port = free_port()
    procs.start("mesos-agent", [
        "--ip=127.0.0.1", f"--port={port}", f"--master={zookeeper.url(authz.path)}",
        f"--work_dir={workdir}/authz-wrong-agent", *AGENT_FLAGS,
        f"--credential={workdir}/authz-wrong-agent.json",
    ], port=port)  # fmt: skip
    wait_until(lambda: "'spark' is not authorized to register agents" in authz.master.log())
    assert len(agents(authz.master, PRINCIPALS["operator"])) == 1


# ----- leader election, failover, quorum (fo-* samples) ------------------------------------


def test_failover_to_the_next_lowest_master(procs: Processes, zookeeper: ZooKeeper) -> None:
    """Three masters, --quorum=2: the leader stops, the next lowest sequence takes over after
    its ZooKeeper session expires, and the agent re-registers with its agent ID."""
    quick = "--zk_session_timeout=2secs"
    masters = [start_master(procs, zookeeper, "/mesos-fo", quick, quorum="2") for _ in range(3)]
    first, second, third = masters
    wait_until(
        lambda: (
            elected(first)
            and fetch(first.port, "/metrics/snapshot").json()["registrar/log/recovered"]
        )
    )
    agent = start_agent(procs, zookeeper.url("/mesos-fo"), quick)
    wait_until(lambda: len(agents(first)) == 1)
    agent_id = agents(first)[0]["id"]
    before = fetch(second.port, "/master/state")
    assert_like_sample(before, "fo-master2-state-before")
    assert before.header("Location") == f"//localhost:{first.port}/master/state"
    assert_same_shape(
        sample_json("fo-master1-state-before.json"), fetch(first.port, "/master/state").json()
    )
    with zk_session(zookeeper) as zk:
        assert sorted(zk.get_children("/mesos-fo")) == [
            "json.info_0000000001", "json.info_0000000002", "json.info_0000000003",
            "log_replicas"]  # fmt: skip
        assert len(zk.get_children("/mesos-fo/log_replicas")) == 3

    stopped = time.monotonic()
    first.signal(signal.SIGTERM)
    assert first.wait(5) == -signal.SIGTERM
    wait_until(lambda: elected(second), timeout=15)
    takeover = time.monotonic() - stopped
    assert 1.0 < takeover < 10, takeover  # the old znode lives until its 2 s session expires
    assert not elected(third)
    # The third master learns of the new leader from its own ZooKeeper watch, a moment after
    # the second one (on a busy machine, seconds): until then it still redirects to the first.
    wait_until(lambda: fetch(third.port, "/master/state").header("Location")
               == f"//localhost:{second.port}/master/state", timeout=10)
    wait_until(lambda: [a["id"] for a in agents(second) if a["active"]] == [agent_id])

    slaves = fetch(second.port, "/master/slaves")
    assert_like_sample(slaves, "fo-master2-slaves-after")
    assert_same_shape(sample_json("fo-master2-slaves-after.json"), slaves.json())
    state = fetch(second.port, "/master/state")
    assert_like_sample(state, "fo-master2-state-after")
    assert_same_shape(sample_json("fo-master2-state-after.json"), state.json())
    fields = sample_json("fo-master2-state-after-leader-fields.json")
    assert_same_shape(fields, {k: state.json()[k] for k in fields})
    assert state.json()["leader"] == state.json()["pid"] == f"master@127.0.0.1:{second.port}"
    # The master lists the agent active when it accepts the re-registration; the agent logs it
    # when the answer reaches it, a moment later (on a busy machine, after this point).
    wait_until(lambda: f"Re-registered with master master@127.0.0.1:{second.port}" in agent.log())
    with zk_session(zookeeper) as zk:
        after = sample_json("fo-zk-children-before-after.json")["after"]
        assert sorted(zk.get_children("/mesos-fo")) == [
            "json.info_0000000002",
            "json.info_0000000003",
            "log_replicas",
        ]
        data, _ = zk.get("/mesos-fo/json.info_0000000002")
        assert_same_shape(after["json.info_0000000002"]["data"], json.loads(data))


def signal_a_worker_thread(daemon: Daemon, signum: int) -> None:
    """Deliver `signum` to one of the daemon's non-main threads, as the kernel may do with a
    process-directed signal when the main thread is busy or blocked."""
    pid = daemon.proc.pid
    workers = wait_until(lambda: sorted(int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()
                                        if int(t.name) != pid))  # fmt: skip
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.tgkill(pid, workers[0], signum) == 0, os.strerror(ctypes.get_errno())


def test_sigterm_on_any_thread_ends_master_and_agent(
    procs: Processes, zookeeper: ZooKeeper
) -> None:
    """SIGTERM ends the real daemons whichever thread takes it; a stand-in that waited for its
    main thread to take the signal hung under load (seen in CI: the master outlived SIGTERM)."""
    master = start_master(procs, zookeeper, "/mesos-anythread")
    agent = start_agent(procs, zookeeper.url("/mesos-anythread"))
    for daemon in (agent, master):
        signal_a_worker_thread(daemon, signal.SIGTERM)
        assert daemon.wait(5) == -signal.SIGTERM
        assert "RAW: Received signal SIGTERM; exiting" in daemon.log()


def test_master_without_quorum_of_replicas_gives_up(procs: Processes, zookeeper: ZooKeeper) -> None:
    """A lone master with --quorum=2 wins the election but cannot recover its registry."""
    master = start_master(
        procs, zookeeper, "/mesos-quorum", "--registry_fetch_timeout=2secs", quorum="2"
    )
    metrics = wait_until(
        lambda: (m := fetch(master.port, "/metrics/snapshot").json())["master/elected"] and m
    )
    assert metrics["registrar/log/recovered"] == 0.0
    assert master.wait(10) == 1
    assert (
        without_glog_prefix(master.log())
        .splitlines()[-1]
        .endswith(
            "EXIT with status 1: Recovery failed: Failed to recover registrar: "
            "Failed to perform fetch within 2secs"
        )
    )


# ----- the roles' drain tool (roles/common/files/mesos-check) against a stand-in master ------


def mesos_check(master: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PROJECT_DIR / "roles/common/files/mesos-check"), *args,
         "--masters", f"127.0.0.1:{master.port}", "--credential", ""],
        capture_output=True, text=True, check=False, timeout=30)  # fmt: skip


def test_drain_and_release_follow_the_maintenance_primitives(
    procs: Processes, zookeeper: ZooKeeper
) -> None:
    master = start_master(procs, zookeeper, "/mesos-drain")
    wait_until(lambda: elected(master))
    # A machine already in the schedule stays there: the tool adds a window, never replaces.
    other = {"hostname": "elsewhere", "ip": "10.0.0.9"}
    fetch(master.port, "/master/maintenance/schedule", "POST", raw=json.dumps(
        {"windows": [{"machine_ids": [other],
                      "unavailability": {"start": {"nanoseconds": 1}}}]}).encode())  # fmt: skip
    agent = start_agent(procs, zookeeper.url("/mesos-drain"),
                        work_dir=f"{procs.workdir}/drain-agent")  # fmt: skip
    wait_until(lambda: len(agents(master)) == 1)
    hostname = agents(master)[0]["hostname"]

    drained = mesos_check(master, "drain", "--agent", "127.0.0.1")
    assert drained.returncode == 0, drained.stderr
    assert json.loads(drained.stdout)["changed"] is True
    assert agents(master) == []
    assert agent.wait(10) == 0  # the master told the agent to shut down
    status = fetch(master.port, "/master/maintenance/status").json()
    assert status["down_machines"] == [{"hostname": hostname, "ip": "127.0.0.1"}]
    windows = fetch(master.port, "/master/maintenance/schedule").json()["windows"]
    assert [w["machine_ids"] for w in windows] == [[other], [status["down_machines"][0]]]
    again = mesos_check(master, "drain", "--agent", "127.0.0.1")
    assert (again.returncode, json.loads(again.stdout)["changed"]) == (0, False)

    released = mesos_check(master, "release", "--agent", "127.0.0.1")
    assert (released.returncode, json.loads(released.stdout)["changed"]) == (0, True)
    windows = fetch(master.port, "/master/maintenance/schedule").json()["windows"]
    assert [w["machine_ids"] for w in windows] == [[other]]
    assert json.loads(mesos_check(master, "release", "--agent", "127.0.0.1").stdout)[
        "changed"] is False
    unknown = mesos_check(master, "drain", "--agent", "10.9.9.9")
    assert unknown.returncode == 1
    assert "agent 10.9.9.9 is not registered at the leader" in unknown.stderr


def test_zookeeper_credentials_guard_the_masters_znodes(
    procs: Processes, zookeeper: ZooKeeper
) -> None:
    """--zk=file:// holding zk://user:pass@...: the masters create their znodes, parents
    included, readable by anyone and changeable by that digest user only (Mesos'
    EVERYONE_READ_CREATOR_ALL); an agent without credentials still finds the leader; a master
    with another password cannot join the contest and exits."""
    from kazoo.exceptions import NoAuthError

    url = zookeeper.url("/mesos-digest").replace("zk://", "zk://mesos:right@")
    (procs.workdir / "zk-digest").write_text(url + "\n")
    master = start_master(procs, zookeeper, "/mesos-digest",
                          zk_flag=f"file://{procs.workdir}/zk-digest")  # fmt: skip
    wait_until(lambda: elected(master))
    assert fetch(master.port, "/flags").json()["flags"]["zk"] == f"file://{procs.workdir}/zk-digest"
    owner = "mesos:x"  # ZooKeeper shows others a digest id without its hash
    with zk_session(zookeeper) as zk:
        children = zk.get_children("/mesos-digest")
        info = next(c for c in children if c.startswith("json.info_"))
        for path in ("/mesos-digest", f"/mesos-digest/{info}", "/mesos-digest/log_replicas"):
            acls, _ = zk.get_acls(path)
            assert sorted((a.perms, a.id.scheme, a.id.id) for a in acls) == [
                (1, "world", "anyone"), (31, "digest", owner)], (path, acls)
        assert json.loads(zk.get(f"/mesos-digest/{info}")[0])["port"] == master.port
        with pytest.raises(NoAuthError):
            zk.create("/mesos-digest/json.info_", b"{}", ephemeral=True, sequence=True)
        with pytest.raises(NoAuthError):
            zk.delete(f"/mesos-digest/{info}")
    start_agent(procs, zookeeper.url("/mesos-digest"))
    wait_until(lambda: len(agents(master)) == 1)
    wrong = start_master(procs, zookeeper, "/mesos-digest", healthy=False,
                         zk_flag=url.replace(":right@", ":wrong@"))  # fmt: skip
    assert wrong.wait(20) == 1
    assert ("EXIT with status 1: Failed to contend: Failed to create ephemeral node at "
            "'/mesos-digest/log_replicas/' in ZooKeeper: not authenticated") in wrong.log()
    # Mesos logs its flags: the file keeps the password out of them.
    assert "right@" not in master.log() and elected(master)
