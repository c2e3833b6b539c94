"""Task launching for the stand-in Mesos agent (smack test stand-in, not Apache Mesos).

Like the real agent with the Mesos containerizer and the command executor, it
- makes the sandbox `<work_dir>/slaves/<agent>/frameworks/<framework>/executors/<task>/runs/
  <container>` and chowns it to the task's user (CommandInfo.user, else the framework's user;
  the agent's own user with --no-switch_user). A user the node does not have drops the task:
  TASK_DROPPED for partition-aware frameworks such as Marathon, TASK_LOST for others, message
  "Failed to chown directory to '<user>': No such user '<user>'";
- starts one executor per task (`<--launcher_dir>/mesos-executor`, mesos_executor.py) that
  becomes the task's user, fetches the URIs and runs the command with $MESOS_SANDBOX, the
  framework's environment ($PORT0... from Marathon) and the sandbox as working directory;
- checkpoints what it started under `<work_dir>/meta/slaves/<agent>/...` so that a restarted
  agent finds the executors that kept running (the unit's KillMode=process) and reports their
  tasks when it re-registers; an executor that died without a final update makes its task
  TASK_FAILED ("Abnormal executor termination");
- forwards the executors' status updates to the leading master, in order, until taken.
Refusals the real agent makes before launching, as real-marathon-samples show them: CPU limits
without the cgroups/cpu isolator (TASK_DROPPED) and DOCKER containers without the docker
containerizer (TASK_FAILED "Abnormal executor termination: unknown container").
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import glog
from .client import Unreachable, post_json
from .common import PRIVATE
from .master_model import TERMINAL_STATES
from .resources import ResourceSet

if TYPE_CHECKING:
    from .mesos_agent import Agent

CHECKPOINT = "standin-task.json"
COMPLETED_KEPT = 150  # --max_completed_executors_per_framework


def agent_status(task_id: str, agent_id: str, state: str, *, reason: str, message: str,
                 container_id: str | None = None) -> dict:
    out: dict[str, object] = {"task_id": {"value": task_id}, "state": state,
                              "source": "SOURCE_SLAVE", "reason": reason, "message": message,
                              "slave_id": {"value": agent_id}, "timestamp": time.time(),
                              "uuid": base64.b64encode(uuid.uuid4().bytes).decode()}
    if container_id:
        out["container_status"] = {"container_id": {"value": container_id}}
    return out


@dataclass
class Run:
    """One task, its executor and what the agent knows of its state."""

    framework: dict
    task: dict
    container_id: str
    sandbox: Path
    meta: Path
    user: str
    state: str = "TASK_STAGING"
    statuses: list[dict] = field(default_factory=list)
    pid: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    kill_requested: bool = False

    @property
    def task_id(self) -> str:
        return str(self.task["task_id"]["value"])

    @property
    def framework_id(self) -> str:
        return str(self.framework["id"])

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def checkpoint(self) -> None:
        data = {"framework": self.framework, "task": self.task, "container_id": self.container_id,
                "sandbox": str(self.sandbox), "user": self.user, "state": self.state,
                "statuses": self.statuses, "pid": self.pid}
        tmp = self.meta / (CHECKPOINT + ".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.meta / CHECKPOINT)

    def task_json(self, agent_id: str) -> dict[str, object]:
        """The task in the agent's /state (same shape as the master's)."""
        out: dict[str, object] = {
            "id": self.task_id, "name": self.task.get("name", ""),
            "framework_id": self.framework_id, "executor_id": "", "slave_id": agent_id,
            "state": self.state,
            "resources": ResourceSet.from_json(self.task.get("resources")).summary(),
            "role": "*",
            "statuses": [{k: s[k] for k in ("state", "timestamp", "container_status") if k in s}
                         for s in self.statuses],
        }
        for key in ("labels", "discovery", "container"):
            if key in self.task:
                out[key] = self.task[key]
        return out

    def executor_json(self, agent_id: str) -> dict[str, object]:
        command = (self.task.get("command") or {}).get("value", "")
        return {
            "id": self.task_id,
            "name": f"Command Executor (Task: {self.task_id}) (Command: sh -c '{command}')",
            "source": self.task_id,
            "container": self.container_id,
            "directory": str(self.sandbox),
            "resources": ResourceSet.from_json(self.task.get("resources")).summary(),
            "type": "COMMAND",
            "tasks": [] if self.terminal else [self.task_json(agent_id)],
            "queued_tasks": [],
            "completed_tasks": [self.task_json(agent_id)] if self.terminal else [],
        }


class Containerizer:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.lock = threading.RLock()
        self.runs: dict[tuple[str, str], Run] = {}
        self.outbox: list[tuple[str, dict]] = []  # (framework id, status) not yet at the master
        self.outbox_ready = threading.Condition(self.lock)

    # ----- paths ------------------------------------------------------------------------

    @property
    def work_dir(self) -> Path:
        return self.agent.work_dir

    def _paths(self, framework_id: str, task_id: str, container_id: str) -> tuple[Path, Path]:
        tail = Path("frameworks", framework_id, "executors", task_id, "runs", container_id)
        agent = Path("slaves", str(self.agent.id))
        return self.work_dir / agent / tail, self.work_dir / "meta" / agent / tail

    # ----- launching ----------------------------------------------------------------------

    def run(self, framework: dict, task: dict) -> None:
        """Launch `task` (the master's /run); every outcome is a status update."""
        task_id = str(task["task_id"]["value"])
        partition_aware = "PARTITION_AWARE" in (framework.get("capabilities") or [])
        lost = "TASK_DROPPED" if partition_aware else "TASK_LOST"
        refusal = self._refusal(task)
        if refusal is not None:
            state = lost if refusal[0] == "drop" else "TASK_FAILED"
            self.send(framework["id"], agent_status(task_id, str(self.agent.id), state,
                                                    reason=refusal[1], message=refusal[2]))
            return
        container_id = str(uuid.uuid4())
        sandbox, meta = self._paths(str(framework["id"]), task_id, container_id)
        user = self._user(framework, task)
        try:
            self._make_sandbox(sandbox, user)
        except OSError as exc:
            self.send(framework["id"], agent_status(
                task_id, str(self.agent.id), lost, reason="REASON_EXECUTOR_TERMINATED",
                message=str(exc)))
            return
        meta.mkdir(parents=True, exist_ok=True)
        item = Run(dict(framework), dict(task), container_id, sandbox, meta, user)
        with self.lock:
            self.runs[(item.framework_id, task_id)] = item
            item.checkpoint()
        glog.info("slave.cpp:2349", f"Launching task '{task_id}' for framework "
                                    f"{item.framework_id}")
        self._spawn(item)

    def _refusal(self, task: dict) -> tuple[str, str, str] | None:
        isolation = self.agent.flags.get("isolation", "")
        limits = task.get("limits") or {}
        if "cpus" in limits and "cgroups/cpu" not in isolation.split(","):
            return ("drop", "REASON_GC_ERROR", "CPU limits can only be set on tasks launched in "
                    "Mesos containers when the agent has loaded the 'cgroups/cpu' isolator")
        if "mem" in limits and "cgroups/mem" not in isolation.split(","):
            return ("drop", "REASON_GC_ERROR", "Memory limits can only be set on tasks launched "
                    "in Mesos containers when the agent has loaded the 'cgroups/mem' isolator")
        container = task.get("container") or {}
        containerizers = self.agent.flags.get("containerizers", "mesos").split(",")
        if container.get("type") == "DOCKER" and "docker" not in containerizers:
            return ("fail", "REASON_EXECUTOR_TERMINATED",
                    "Abnormal executor termination: unknown container")
        return None

    def _user(self, framework: dict, task: dict) -> str:
        if self.agent.flags.get("switch_user", "true") != "true":
            return pwd.getpwuid(os.geteuid()).pw_name
        return str((task.get("command") or {}).get("user") or framework.get("user") or "root")

    @staticmethod
    def _make_sandbox(sandbox: Path, user: str) -> None:
        sandbox.mkdir(parents=True, exist_ok=True)
        latest = sandbox.parent / "latest"
        with contextlib.suppress(OSError):
            latest.unlink(missing_ok=True)
            latest.symlink_to(sandbox.name)
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            shutil.rmtree(sandbox, ignore_errors=True)
            raise OSError(f"Failed to chown directory to '{user}': No such user '{user}'") from None
        os.chown(sandbox, entry.pw_uid, entry.pw_gid)

    def _executor_env(self, item: Run) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MESOS_", "LIBPROCESS_", "SMACK_STANDIN_AGENT"))}
        extra = self.agent.flags.get("executor_environment_variables")
        if extra:
            env = {str(k): str(v) for k, v in json.loads(extra).items()}
        agent = self.agent
        env.update({
            "MESOS_AGENT_ENDPOINT": f"{agent.ip}:{agent.port}",
            "MESOS_SLAVE_PID": agent.pid,
            "MESOS_SLAVE_ID": str(agent.id),
            "MESOS_FRAMEWORK_ID": item.framework_id,
            "MESOS_EXECUTOR_ID": item.task_id,
            "MESOS_DIRECTORY": str(item.sandbox),
            "MESOS_SANDBOX": str(item.sandbox),
            "MESOS_CHECKPOINT": "1" if item.framework.get("checkpoint") else "0",
            "MESOS_HTTP_COMMAND_EXECUTOR": "0",
            "LIBPROCESS_IP": agent.ip,
        })
        return env

    def _spawn(self, item: Run) -> None:
        program = Path(self.agent.flags.get("launcher_dir", "/usr/libexec/mesos"), "mesos-executor")
        config = item.meta / "executor.json"
        config.write_text(json.dumps({
            "framework": item.framework, "task": item.task, "container_id": item.container_id,
            "sandbox": str(item.sandbox), "user": item.user,
            "agent": {"ip": self.agent.ip, "port": self.agent.port, "id": self.agent.id},
        }))
        # The executor outlives the agent (KillMode=process), in a session of its own. It
        # runs through its own #! line (the system's python3, readable by the task's user).
        proc = subprocess.Popen(
            [str(program), "--config", str(config)],
            env=self._executor_env(item), cwd=item.sandbox, start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        with self.lock:
            item.proc, item.pid = proc, proc.pid
            pids = item.meta / "pids"
            pids.mkdir(exist_ok=True)
            (pids / "forked.pid").write_text(str(proc.pid))
            item.checkpoint()
            kill_now = item.kill_requested
        threading.Thread(target=self._reap, args=(item,), daemon=True).start()
        if kill_now:
            self._signal(item)

    def _reap(self, item: Run) -> None:
        """Wait for the executor to end; a task it left unfinished has failed."""
        if item.proc is not None:
            item.proc.wait()
        else:
            while item.pid is not None and _alive(item.pid):
                time.sleep(1.0)
        time.sleep(0.5)  # its last update, sent before it exited, may still be in flight
        with self.lock:
            done = item.terminal
        if not done:
            self.send(item.framework_id, agent_status(
                item.task_id, str(self.agent.id), "TASK_FAILED",
                reason="REASON_EXECUTOR_TERMINATED", message="Abnormal executor termination",
                container_id=item.container_id))

    # ----- killing ----------------------------------------------------------------------

    def kill(self, framework_id: str, task_id: str) -> None:
        with self.lock:
            item = self.runs.get((framework_id, task_id))
            if item is None or item.terminal:
                glog.warning("slave.cpp:3330", f"Cannot kill task {task_id} of framework "
                                               f"{framework_id}: it is unknown")
                return
            item.kill_requested = True
            spawned = item.pid is not None
        glog.info("slave.cpp:3416", f"Asked to kill task {task_id} of framework {framework_id}")
        if spawned:
            self._signal(item)

    @staticmethod
    def _signal(item: Run) -> None:
        if item.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(item.pid, signal.SIGTERM)

    def kill_framework(self, framework_id: str) -> None:
        with self.lock:
            task_ids = [t for f, t in self.runs if f == framework_id]
        for task_id in task_ids:
            self.kill(framework_id, task_id)

    def kill_all(self, wait: float) -> None:
        """Machine DOWN: every executor told to stop; wait a little for them to go."""
        with self.lock:
            items = [r for r in self.runs.values() if not r.terminal]
        for item in items:
            item.kill_requested = True
            self._signal(item)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(
                r.pid is not None and _alive(r.pid) for r in items):
            time.sleep(0.2)

    # ----- status updates -----------------------------------------------------------------

    def executor_update(self, body: dict) -> None:
        status = dict(body["status"])
        self.send(str(body["framework_id"]), status)

    def send(self, framework_id: str, status: dict) -> None:
        """Record the update and queue it for the master."""
        task_id = str(status["task_id"]["value"])
        status.setdefault("slave_id", {"value": str(self.agent.id)})
        with self.lock:
            item = self.runs.get((framework_id, task_id))
            if item is not None:
                if item.terminal:
                    return  # the first final update wins, as in the real status update manager
                item.state = str(status["state"])
                item.statuses.append({k: status[k] for k in ("state", "timestamp",
                                                             "container_status") if k in status})
                item.checkpoint()
                self._forget_old(framework_id)
            self.outbox.append((framework_id, status))
            self.outbox_ready.notify_all()
        glog.info("slave.cpp:5745", f"Handling status update {status['state']} for task "
                                    f"{task_id} of framework {framework_id}")

    def _forget_old(self, framework_id: str) -> None:
        done = [k for k, r in self.runs.items() if k[0] == framework_id and r.terminal]
        for key in done[:-COMPLETED_KEPT]:
            del self.runs[key]

    def forwarder(self) -> None:
        """Send queued updates to the leading master, oldest first, until it takes them."""
        while True:
            with self.lock:
                while not (self.outbox and self.agent.registered and self.agent.master_address):
                    self.outbox_ready.wait(1.0)
                framework_id, status = self.outbox[0]
                address = self.agent.master_address
            body = {"id": self.agent.id, "framework_id": framework_id, "status": status}
            try:
                code, _ = post_json(*address, f"{PRIVATE}/agent/update", body)
            except Unreachable:
                code = 0
            if code == 200:
                with self.lock:
                    if self.outbox and self.outbox[0][1] is status:
                        self.outbox.pop(0)
            else:
                time.sleep(0.5)

    # ----- recovery and views -------------------------------------------------------------

    def recover(self) -> None:
        """Executors of the checkpointed agent that are still running are adopted again."""
        if self.agent.id is None:
            return
        root = self.work_dir / "meta" / "slaves" / str(self.agent.id) / "frameworks"
        for path in sorted(root.glob(f"*/executors/*/runs/*/{CHECKPOINT}")):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            item = Run(data["framework"], data["task"], data["container_id"],
                       Path(data["sandbox"]), path.parent, data["user"], data["state"],
                       list(data.get("statuses") or []), data.get("pid"))
            if item.terminal:
                continue
            self.runs[(item.framework_id, item.task_id)] = item
            if item.pid is not None and _is_executor(item.pid):
                glog.info("slave.cpp:7521", f"Recovering executor '{item.task_id}' of framework "
                                            f"{item.framework_id}")
                threading.Thread(target=self._reap, args=(item,), daemon=True).start()
            else:
                item.pid = None
                self.send(item.framework_id, agent_status(
                    item.task_id, str(self.agent.id), "TASK_FAILED",
                    reason="REASON_EXECUTOR_REREGISTRATION_TIMEOUT",
                    message="Executor did not reregister within 2secs",
                    container_id=item.container_id))

    def reported_tasks(self) -> list[dict[str, Any]]:
        """What a (re-)registration tells the master runs here."""
        with self.lock:
            return [{"framework_id": r.framework_id, "framework": r.framework, "task": r.task,
                     "state": r.state, "statuses": r.statuses}
                    for r in self.runs.values() if not r.terminal]

    def frameworks_json(self) -> list[dict[str, object]]:
        agent_id = str(self.agent.id)
        with self.lock:
            by_framework: dict[str, list[Run]] = {}
            for item in self.runs.values():
                by_framework.setdefault(item.framework_id, []).append(item)
            out = []
            for framework_id, items in by_framework.items():
                info = items[0].framework
                out.append({
                    "id": framework_id, "name": info.get("name", ""), "user": info.get("user", ""),
                    "failover_timeout": 0.0, "checkpoint": bool(info.get("checkpoint")),
                    "hostname": info.get("hostname", ""), "role": "*",
                    "executors": [r.executor_json(agent_id) for r in items if not r.terminal],
                    "completed_executors": [r.executor_json(agent_id) for r in items
                                            if r.terminal],
                })
            return out

    def counts(self) -> dict[str, float]:
        with self.lock:
            states = [r.state for r in self.runs.values()]
            used = ResourceSet()
            for item in self.runs.values():
                if not item.terminal:
                    used = used.plus(ResourceSet.from_json(item.task.get("resources")))
        out: dict[str, float] = {}
        for state in states:
            key = f"slave/{state.lower().replace('task_', 'tasks_', 1)}"
            out[key] = out.get(key, 0.0) + 1
        out["slave/executors_running"] = float(sum(s not in TERMINAL_STATES for s in states))
        out["slave/executors_terminated"] = float(sum(s in TERMINAL_STATES for s in states))
        for name in ("cpus", "mem", "disk", "gpus"):
            out[f"slave/{name}_used"] = used.scalars.get(name, 0.0)
        return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _is_executor(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"mesos-executor" in handle.read() and _alive(pid)
    except OSError:
        return False
