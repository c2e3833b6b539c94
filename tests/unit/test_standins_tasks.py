"""The stand-in Mesos master and agents running real tasks, and the agent's host checks
(127.0.0.1, a real ZooKeeper; the framework side is the private protocol's, harness.py).

Host checks as the real agent makes them (issue 13, real-mesos-samples/PROVENANCE.txt): a
cgroup2 mount where the agent does not expect one, systemd support without the runtime
directory or without the executors' slice in the systemd hierarchy, the Linux launcher on a
read-only cgroup hierarchy. Tasks: run as their user in their sandbox with $MESOS_SANDBOX and
the framework's environment; a user the node lacks drops the task with the real message; exit
codes and kills give the command executor's states and messages; an agent restarted (killed)
finds its running tasks again, a machine taken DOWN kills them. And a master given no --zk
runs alone and elects itself, as each real master did when the roles left the URL in
/etc/mesos/zk.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.standins.harness import (
    STANDIN_PYTHON,
    Daemon,
    FrameworkClient,
    Processes,
    ZooKeeper,
    fetch,
    free_port,
    samples,
    wait_until,
    without_glog_prefix,
)

pytestmark = pytest.mark.unit

POSIX = ["--launcher=posix", "--isolation=posix/cpu,posix/mem", "--systemd_enable_support=false"]
NOBODY = pwd.getpwnam("nobody")


def start_master(procs: Processes, zk: ZooKeeper | None, path: str = "/mesos",
                 *extra: str) -> Daemon:  # fmt: skip
    port = free_port()
    args = ["--ip=127.0.0.1", f"--port={port}", f"--work_dir={procs.workdir}/master-{port}"]
    args += [f"--zk={zk.url(path)}", "--quorum=1"] if zk else []
    master = procs.start("mesos-master", [*args, *extra], port=port)
    wait_until(lambda: fetch(port, "/metrics/snapshot").json()["master/elected"] == 1.0)
    return master


def agent_args(procs: Processes, master: str, work_dir: Path, port: int, *extra: str) -> list[str]:
    return ["--ip=127.0.0.1", f"--port={port}", f"--master={master}", f"--work_dir={work_dir}",
            "--hostname=localhost", f"--launcher_dir={procs.fs}/usr/libexec/mesos", *extra]


def run_agent(procs: Processes, *extra: str, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    """An agent that is expected to refuse to start."""
    args = agent_args(procs, "127.0.0.1:1", procs.workdir / "refused", free_port(), *extra)
    return procs.run("mesos-agent", args, env)


def mounts_file(procs: Processes, *extra_lines: str) -> str:
    """A mounts table: this host's without cgroup mounts, plus `extra_lines`."""
    lines = [line for line in Path("/proc/self/mounts").read_text().splitlines()
             if line.split()[2] not in ("cgroup", "cgroup2")]
    path = Path(tempfile.mkstemp(dir=procs.workdir, suffix=".mounts")[1])
    path.write_text("".join(f"{line}\n" for line in [*lines, *extra_lines]))
    return str(path)


# ----- the agent's host checks --------------------------------------------------------------


def test_a_cgroup2_mount_at_an_unexpected_place_is_refused(procs: Processes) -> None:
    """PROVENANCE.txt: on a hybrid host the real agent refuses every run, flags or not."""
    mounts = mounts_file(procs, "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid 0 0")
    result = run_agent(procs, *POSIX, env={"SMACK_STANDIN_MOUNTS": mounts})
    assert result.returncode == 1
    assert result.stderr.decode().endswith(
        "Failed to check if cgroup2 filesystem is mounted: Found cgroups2 mount at an unexpected "
        "location '/sys/fs/cgroup/unified'\n\nSee `mesos-agent --help` for a list of supported "
        "flags.\n")


def test_systemd_support_needs_the_runtime_directory(procs: Processes) -> None:
    """PROVENANCE.txt: "Failed to initialize systemd: Failed to locate systemd runtime
    directory: /run/systemd/system" where systemd does not run."""
    hierarchy = procs.workdir / "systemd-hierarchy"
    hierarchy.mkdir(exist_ok=True)
    mounts = mounts_file(procs, f"cgroup {hierarchy} cgroup rw,name=systemd 0 0")
    missing = procs.workdir / "no-such-runtime-dir"
    result = run_agent(procs, "--launcher=posix", f"--systemd_runtime_directory={missing}",
                       env={"SMACK_STANDIN_MOUNTS": mounts})
    assert result.returncode == 1
    assert without_glog_prefix(result.stderr.decode()).splitlines()[-1] == (
        "main.cpp:697] EXIT with status 1: Failed to initialize systemd: Failed to locate "
        f"systemd runtime directory: {missing}")


def test_systemd_support_needs_the_executors_slice_in_the_hierarchy(procs: Processes) -> None:
    """issue 13, a container in the host's cgroup namespace: systemd starts the slice, but it
    is not where the agent looks for it."""
    hierarchy = procs.workdir / "systemd-hierarchy-2"
    runtime = procs.workdir / "run-systemd-system"
    fakebin = procs.workdir / "fakebin"
    for path in (hierarchy, runtime, fakebin):
        path.mkdir(exist_ok=True)
    (fakebin / "systemctl").write_text(f"#!/bin/sh\necho \"$@\" >> {procs.workdir}/systemctl.log\n")
    (fakebin / "systemctl").chmod(0o755)
    mounts = mounts_file(procs, f"cgroup {hierarchy} cgroup rw,name=systemd 0 0")
    result = run_agent(procs, "--launcher=posix", f"--systemd_runtime_directory={runtime}",
                       env={"SMACK_STANDIN_MOUNTS": mounts,
                            "PATH": f"{fakebin}:{os.environ['PATH']}"})
    assert result.returncode == 1
    assert without_glog_prefix(result.stderr.decode()).splitlines()[-1] == (
        "main.cpp:697] EXIT with status 1: Failed to initialize systemd: Failed to locate "
        "systemd cgroups hierarchy: 'mesos_executors.slice' is not a valid cgroup")
    assert (runtime / "mesos_executors.slice").read_text().startswith("[Unit]\n")
    assert "start mesos_executors.slice" in (procs.workdir / "systemctl.log").read_text()


def test_the_linux_launcher_needs_a_writable_freezer_hierarchy(procs: Processes) -> None:
    """issue 13: "Failed to create Linux launcher: Failed to create root cgroup
    /sys/fs/cgroup/freezer/mesos: ... Read-only file system". A read-only tmpfs stands for
    the container's read-only cgroup mounts (in a mount namespace of the test's own)."""
    hierarchy = procs.workdir / "cgroups"
    (hierarchy / "freezer").mkdir(parents=True, exist_ok=True)
    args = agent_args(procs, "127.0.0.1:1", procs.workdir / "refused", free_port(),
                      f"--cgroups_hierarchy={hierarchy}", "--systemd_enable_support=false")
    program = [STANDIN_PYTHON, str(procs.program("mesos-agent")), *args]
    script = f"mount -t tmpfs -o ro tmpfs {hierarchy}/freezer && exec \"$@\""
    env = procs.base_environment()
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                             "sh", *program], capture_output=True, env=env, timeout=60, check=False)
    assert result.returncode == 1, result.stderr
    assert without_glog_prefix(result.stderr.decode()).splitlines()[-1] == (
        "main.cpp:707] EXIT with status 1: Failed to create a containerizer: Could not create "
        "MesosContainerizer: Failed to create launcher: Failed to create Linux launcher: Failed to "
        f"create root cgroup {hierarchy}/freezer/mesos: Failed to create directory "
        f"'{hierarchy}/freezer/mesos': Read-only file system")


def test_a_master_without_zk_runs_alone_and_elects_itself(procs: Processes) -> None:
    """What every real master did with the URL only in /etc/mesos/zk: split brain."""
    masters = [start_master(procs, None) for _ in range(2)]
    for master in masters:
        assert fetch(master.port, "/metrics/snapshot").json()["master/elected"] == 1.0
        assert "Elected as the leading master!" in master.log()
        assert "zk" not in fetch(master.port, "/flags").json()["flags"]
        master.signal(signal.SIGKILL)


# ----- tasks ------------------------------------------------------------------------------------


@pytest.fixture()
def master(procs: Processes, zookeeper: ZooKeeper) -> Iterator[Daemon]:
    """A master per test, under a ZooKeeper path of its own: offers go only to this test's
    framework and agents."""
    daemon = start_master(procs, zookeeper, f"/mesos-{free_port()}")
    yield daemon
    daemon.signal(signal.SIGKILL)


def start_agent(procs: Processes, master: Daemon, work_dir: Path, port: int = 0) -> Daemon:
    port = port or free_port()
    agent = procs.start("mesos-agent", agent_args(procs, f"127.0.0.1:{master.port}", work_dir,
                                                  port, *POSIX), port=port)
    wait_until(lambda: fetch(port, "/health").status == 200)
    return agent


def test_a_task_runs_as_its_user_in_its_sandbox(
    procs: Processes, zookeeper: ZooKeeper, master: Daemon, open_dir: Path
) -> None:
    agent = start_agent(procs, master, open_dir / "a1")
    framework = FrameworkClient(master.port, user="nobody")
    offer = framework.offer()
    assert offer["hostname"] == "localhost"
    assert {r["name"] for r in offer["resources"]} >= {"cpus", "mem", "ports"}
    framework.launch(offer, "t-env", "echo \"$(id -un) $MESOS_SANDBOX $GREETING $(pwd)\"",
                     env={"GREETING": "hello"})
    starting = framework.state_of("t-env", "TASK_STARTING")
    assert starting["source"] == "SOURCE_EXECUTOR"
    framework.state_of("t-env", "TASK_RUNNING")
    finished = framework.state_of("t-env", "TASK_FINISHED")
    assert finished["message"] == "Command exited with status 0"
    [sandbox] = (open_dir / "a1").glob("slaves/*/frameworks/*/executors/t-env/runs/latest")
    user, env_sandbox, greeting, cwd = (sandbox / "stdout").read_text().split()
    assert (user, greeting) == ("nobody", "hello")
    assert env_sandbox == cwd == str(sandbox.resolve())
    assert sandbox.resolve().stat().st_uid == NOBODY.pw_uid
    tasks = fetch(master.port, "/master/tasks").json()["tasks"]
    assert [t["state"] for t in tasks if t["id"] == "t-env"] == ["TASK_FINISHED"]
    agent.signal(signal.SIGKILL)


def test_exit_codes_kills_and_missing_users(
    procs: Processes, zookeeper: ZooKeeper, master: Daemon, open_dir: Path
) -> None:
    agent = start_agent(procs, master, open_dir / "a2")
    framework = FrameworkClient(master.port)
    framework.launch(framework.offer(), "t-exit", "exit 3")
    assert framework.state_of("t-exit", "TASK_FAILED")["message"] == "Command exited with status 3"
    framework.launch(framework.offer(), "t-kill", "sleep 600")
    framework.state_of("t-kill", "TASK_RUNNING")
    framework.kill("t-kill")
    killed = framework.state_of("t-kill", "TASK_KILLED")
    assert killed["message"] == "Command terminated with signal Terminated"
    framework.launch(framework.offer(), "t-user", "true", user="marathon-is-not-here")
    dropped = framework.state_of("t-user", "TASK_DROPPED")
    assert dropped["message"] == ("Failed to chown directory to 'marathon-is-not-here': "
                                  "No such user 'marathon-is-not-here'")
    assert (dropped["source"], dropped["reason"]) == ("SOURCE_SLAVE", "REASON_EXECUTOR_TERMINATED")
    # Not partition-aware: TASK_LOST instead of TASK_DROPPED.
    old_style = FrameworkClient(master.port, capabilities=())
    old_style.launch(old_style.offer(), "t-user-lost", "true", user="marathon-is-not-here")
    old_style.state_of("t-user-lost", "TASK_LOST")
    limited = {"limits": {"cpus": {"value": 1.0}}}
    framework.launch(framework.offer(), "t-limits", "true", **limited)
    assert framework.state_of("t-limits", "TASK_DROPPED")["message"] == (
        "CPU limits can only be set on tasks launched in Mesos containers when the agent has "
        "loaded the 'cgroups/cpu' isolator")
    agent.signal(signal.SIGKILL)


def test_tasks_outlive_their_agent_and_die_with_their_machine(
    procs: Processes, zookeeper: ZooKeeper, master: Daemon, open_dir: Path
) -> None:
    """KillMode=process keeps executors when the agent restarts; the restarted agent reports
    the task again. Machine DOWN (maintenance) shuts the agent down and kills its tasks."""
    port = free_port()
    agent = start_agent(procs, master, open_dir / "a3", port)
    framework = FrameworkClient(master.port)
    framework.launch(framework.offer(), "t-long", "sleep 600")
    framework.state_of("t-long", "TASK_RUNNING")
    agent.signal(signal.SIGKILL)
    agent.wait(5)
    running = [pid for pid in procs.task_processes()
               if b"sleep\x00600" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert running, "the task outlived its agent"
    agent = start_agent(procs, master, open_dir / "a3", port)
    wait_until(lambda: [t for t in fetch(port, "/state").json()["frameworks"][0]["executors"]
                        if t["id"] == "t-long" and t["tasks"][0]["state"] == "TASK_RUNNING"])
    assert "Recovering executor 't-long'" in agent.log()
    assert [t["state"] for t in fetch(master.port, "/master/tasks").json()["tasks"]
            if t["id"] == "t-long"] == ["TASK_RUNNING"]
    machine = {"hostname": "localhost", "ip": "127.0.0.1"}
    schedule = {"windows": [{"machine_ids": [machine],
                             "unavailability": {"start": {"nanoseconds": 1}}}]}
    assert fetch(master.port, "/master/maintenance/schedule", "POST", schedule).status == 200
    assert fetch(master.port, "/master/machine/down", "POST", [machine]).status == 200
    assert agent.wait(20) == 0
    framework.state_of("t-long", "TASK_GONE")
    wait_until(lambda: not [pid for pid in procs.task_processes()
                            if b"sleep\x00600" in Path(f"/proc/{pid}/cmdline").read_bytes()])
    assert fetch(master.port, "/master/machine/up", "POST", [machine]).status == 200


def test_the_agent_state_lists_its_tasks(
    procs: Processes, zookeeper: ZooKeeper, master: Daemon, open_dir: Path
) -> None:
    agent = start_agent(procs, master, open_dir / "a4")
    framework = FrameworkClient(master.port)
    framework.launch(framework.offer(), "t-state", "sleep 600")
    framework.state_of("t-state", "TASK_RUNNING")
    state = fetch(agent.port, "/state").json()
    real_keys = set(json.loads((samples() / "agent-state.json").read_text()))
    assert real_keys <= set(state)
    [entry] = [f for f in state["frameworks"] if f["id"] == framework.id]
    [executor] = entry["executors"]
    assert executor["tasks"][0]["state"] == "TASK_RUNNING"
    assert Path(executor["directory"]).is_dir()
    metrics = fetch(agent.port, "/metrics/snapshot").json()
    assert metrics["slave/tasks_running"] == 1.0 and metrics["slave/cpus_used"] == 0.1
    framework.kill("t-state")
    framework.state_of("t-state", "TASK_KILLED")
    agent.signal(signal.SIGKILL)


def test_a_new_leading_master_waits_for_the_agents_it_recovered(
    procs: Processes, zookeeper: ZooKeeper, open_dir: Path
) -> None:
    """real-mesos-samples fo-*: the new leader recovers the agents from the replicated
    registry ("Recovered 1 agents from the registry"); until an agent re-registers,
    reconciliation says nothing about its tasks. A stand-in that called them unknown made
    Marathon replace running tasks at every master failover."""
    path = f"/mesos-{free_port()}"
    first = start_master(procs, zookeeper, path)
    port = free_port()
    second = procs.start("mesos-master", [
        "--ip=127.0.0.1", f"--port={port}", f"--work_dir={procs.workdir}/master-{port}",
        f"--zk={zookeeper.url(path)}", "--quorum=1"], port=port)
    wait_until(lambda: fetch(port, "/health").status == 200)
    agent_port = free_port()
    agent = procs.start("mesos-agent", agent_args(procs, zookeeper.url(path), open_dir / "a5",
                                                  agent_port, *POSIX), port=agent_port)
    framework = FrameworkClient(first.port)
    offer = framework.offer()
    agent_id = offer["slave_id"]["value"]
    framework.launch(offer, "t-failover", "sleep 600")
    framework.state_of("t-failover", "TASK_RUNNING")
    registry = procs.workdir / f"master-{port}" / "standin-registry.json"
    wait_until(lambda: registry.is_file() and agent_id in registry.read_text())

    agent.signal(signal.SIGSTOP)  # it re-registers only after the reconciliation below
    first.signal(signal.SIGKILL)
    wait_until(lambda: fetch(port, "/metrics/snapshot").json()["registrar/log/recovered"] == 1.0,
               timeout=30)
    framework.reregister(port)
    framework.updates.clear()
    task = {"task_id": {"value": "t-failover"}, "slave_id": {"value": agent_id}}
    framework.reconcile([task])
    time.sleep(2)
    framework.poll()
    assert framework.updates == []  # the agent is transitional: no answer yet
    agent.signal(signal.SIGCONT)
    wait_until(lambda: [t for t in fetch(port, "/master/tasks").json()["tasks"]
                        if t["id"] == "t-failover" and t["state"] == "TASK_RUNNING"], timeout=30)
    framework.poll()
    assert {u["state"] for u in framework.updates if u["task_id"]["value"] == "t-failover"} \
        <= {"TASK_RUNNING"}, framework.updates
    assert "Recovered 1 agents from the registry" in second.log()

    framework.reconcile([task])  # now known: its latest state
    running = framework.state_of("t-failover", "TASK_RUNNING")
    assert running["message"] == "Reconciliation: Latest task state"
    framework.reconcile([{"task_id": {"value": "t-nowhere"}, "slave_id": {"value": agent_id}}])
    gone = framework.state_of("t-nowhere", "TASK_GONE")
    assert gone["message"] == "Reconciliation: Task is unknown to the agent"
    framework.reconcile([{"task_id": {"value": "t-nothing"}, "slave_id": {"value": "S-none"}}])
    framework.state_of("t-nothing", "TASK_UNKNOWN")
    framework.kill("t-failover")
    framework.state_of("t-failover", "TASK_KILLED")
    agent.signal(signal.SIGKILL)
    second.signal(signal.SIGKILL)
