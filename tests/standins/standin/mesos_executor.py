"""mesos-executor: smack TEST STAND-IN of Mesos' command executor (not Apache Mesos).

The stand-in agent starts one per task (agent_tasks.py), as root in the task's sandbox:
- it makes `stdout` and `stderr` in the sandbox, then becomes the task's user; like the real
  containerizer it is already IN the sandbox when it does (the agent starts it there), so the
  task's working directory is the sandbox even where the user could not walk the path to it
  (a task then sees its own files by relative path only: issue 13's 404s);
- fetches CommandInfo.uris into the sandbox as the Mesos fetcher does (http(s), file:// or a
  path; archives unpacked when `extract`, `executable` made executable); a failed fetch ends
  the task TASK_FAILED "Failed to launch container: Failed to fetch all URIs for container
  '<container>': exited with status 1" (real-marathon-samples, lastTaskFailure);
- runs the command (`/bin/sh -c <value>`, or value + arguments when `shell` is false) in a
  process group of its own with the sandbox as working directory, its own environment
  (MESOS_SANDBOX, MESOS_*) plus CommandInfo.environment;
- reports TASK_STARTING and TASK_RUNNING (with the container id and the agent's address as
  real-marathon-samples/hello-mesos-master-frameworks.json shows), then TASK_FINISHED /
  TASK_FAILED ("Command exited with status N", "Command terminated with signal NAME");
- SIGTERM from the agent is a kill: SIGTERM to the command's group, SIGKILL after the kill
  policy's grace period (3 s by default), then TASK_KILLED;
- runs the task's Mesos health check (HTTP, TCP or COMMAND; MESOS_HTTP/MESOS_TCP in Marathon)
  and reports health changes; too many consecutive failures after the grace period kill it.
Updates go to the agent (POST /__standin__/executor/update) and are retried while the agent
restarts; the executor ends once its final update is taken (or after --recovery_timeout).
"""

from __future__ import annotations

import base64
import bz2
import contextlib
import gzip
import json
import lzma
import os
import pwd
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Any

from .client import Unreachable, post_json, request
from .common import PRIVATE

DEFAULT_GRACE = 3.0
RECOVERY_TIMEOUT = 15 * 60.0  # --recovery_timeout default


def _log(line: str) -> None:
    stamp = time.strftime("%m%d %H:%M:%S", time.localtime())
    micros = int((time.time() % 1) * 1_000_000)
    sys.stderr.write(f"I{stamp}.{micros:06d} {os.getpid():5d} {line}\n")
    sys.stderr.flush()


class Executor:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.framework = config["framework"]
        self.task = config["task"]
        self.task_id = str(self.task["task_id"]["value"])
        self.container_id = str(config["container_id"])
        self.sandbox = Path(config["sandbox"])
        self.user = str(config["user"])
        self.agent = config["agent"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.killed = threading.Event()
        self.health_killed = threading.Event()
        self.updates: queue.Queue[dict | None] = queue.Queue()
        self.sent_all = threading.Event()
        self.healthy: bool | None = None

    # ----- status updates ---------------------------------------------------------------

    def status(self, state: str, *, message: str | None = None, reason: str | None = None,
               source: str = "SOURCE_EXECUTOR", healthy: bool | None = None) -> None:
        out: dict[str, object] = {"task_id": {"value": self.task_id}, "state": state,
                                  "source": source}
        if reason:
            out["reason"] = reason
        if message:
            out["message"] = message
        out["slave_id"] = {"value": str(self.agent["id"])}
        out["executor_id"] = {"value": self.task_id}
        out["timestamp"] = time.time()
        out["uuid"] = base64.b64encode(uuid.uuid4().bytes).decode()
        if healthy is not None:
            out["healthy"] = healthy
        out["container_status"] = {
            "container_id": {"value": self.container_id},
            "network_infos": [{"ip_addresses": [{"protocol": "IPv4",
                                                 "ip_address": str(self.agent["ip"])}]}],
        }
        self.updates.put(out)

    def sender(self) -> None:
        """Deliver updates in order; keep trying while the agent is away."""
        give_up = float(os.environ.get("SMACK_STANDIN_RECOVERY_TIMEOUT", RECOVERY_TIMEOUT))
        while True:
            update = self.updates.get()
            if update is None:
                self.sent_all.set()
                return
            body = {"framework_id": self.framework["id"], "executor_id": self.task_id,
                    "container_id": self.container_id, "status": update}
            deadline = time.monotonic() + give_up
            while True:
                try:
                    code, _ = post_json(str(self.agent["ip"]), int(self.agent["port"]),
                                        f"{PRIVATE}/executor/update", body, timeout=5)
                except Unreachable:
                    code = 0
                if code == 200:
                    break
                if time.monotonic() > deadline:
                    _log("executor.cpp:1] Agent did not come back; giving up")
                    self.stop_command(0.0)
                    os._exit(1)
                time.sleep(0.5)

    # ----- the task ---------------------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.kill())
        threading.Thread(target=self.sender, daemon=True).start()
        stdout, stderr = self._open_logs()
        self._become_user()
        sys.stderr = os.fdopen(os.dup(stderr.fileno()), "w", buffering=1)
        _log("exec.cpp:162] Version: 1.11.0 (smack test stand-in executor)")
        _log(f"executor.cpp:190] Received SUBSCRIBED event; starting task {self.task_id}")
        command = self.task.get("command") or {}
        if not self._fetch(command.get("uris") or []):
            self.status("TASK_FAILED", source="SOURCE_SLAVE",
                        reason="REASON_CONTAINER_LAUNCH_FAILED",
                        message=f"Failed to launch container: Failed to fetch all URIs for "
                                f"container '{self.container_id}': exited with status 1")
            return self._finish()
        if self.killed.is_set():
            self.status("TASK_KILLED", message="Command was killed before it started")
            return self._finish()
        self.status("TASK_STARTING")
        argv = (["/bin/sh", "-c", str(command.get("value", ""))] if command.get("shell", True)
                else [str(command.get("value", "")), *map(str, command.get("arguments") or [])])
        env = dict(os.environ)
        for variable in (command.get("environment") or {}).get("variables") or []:
            env[str(variable["name"])] = str(variable.get("value", ""))
        try:
            self.proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            self.status("TASK_FAILED", message=f"Failed to launch the command: {exc}")
            return self._finish()
        _log(f"executor.cpp:938] Forked command at {self.proc.pid}")
        self.status("TASK_RUNNING")
        if self.killed.is_set():
            self.stop_command(self._grace())
        if self.task.get("health_check"):
            threading.Thread(target=self.health_loop, daemon=True).start()
        code = self.proc.wait()
        if self.health_killed.is_set():
            self.status("TASK_KILLED", reason="REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
                        message="Task killed because of failing health checks", healthy=False)
        elif self.killed.is_set():
            self.status("TASK_KILLED", message=_outcome(code))
        elif code == 0:
            self.status("TASK_FINISHED", message=_outcome(code))
        else:
            self.status("TASK_FAILED", message=_outcome(code))
        _log(f"executor.cpp:1039] Command exited: {_outcome(code)}")
        return self._finish()

    def _finish(self) -> int:
        self.updates.put(None)
        self.sent_all.wait()
        return 0

    def _open_logs(self) -> tuple[Any, Any]:
        files = []
        for name in ("stdout", "stderr"):
            handle = (self.sandbox / name).open("ab")
            with contextlib.suppress(KeyError, PermissionError):
                entry = pwd.getpwnam(self.user)
                os.chown(self.sandbox / name, entry.pw_uid, entry.pw_gid)
            files.append(handle)
        return files[0], files[1]

    def _become_user(self) -> None:
        if os.geteuid() != 0:
            return
        entry = pwd.getpwnam(self.user)
        if entry.pw_uid == 0:
            return
        os.initgroups(entry.pw_name, entry.pw_gid)
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
        os.environ.setdefault("HOME", entry.pw_dir)

    def kill(self) -> None:
        if self.killed.is_set():
            return
        self.killed.set()
        threading.Thread(target=self.stop_command, args=(self._grace(),), daemon=True).start()

    def _grace(self) -> float:
        policy = self.task.get("kill_policy") or {}
        nanos = (policy.get("grace_period") or {}).get("nanoseconds")
        return float(nanos) / 1e9 if nanos is not None else DEFAULT_GRACE

    def stop_command(self, grace: float) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    # ----- the fetcher ------------------------------------------------------------------

    def _fetch(self, uris: list[dict]) -> bool:
        for uri in uris:
            value = str(uri.get("value", ""))
            _log(f"fetcher.cpp:562] Fetching URI '{value}'")
            try:
                # Relative to the sandbox, the working directory: the user may not be able to
                # walk the absolute path to it.
                path = _download(value, Path("."), uri.get("output_file"))
                if uri.get("extract", True) and _extract(path, Path(".")):
                    _log(f"fetcher.cpp:612] Extracted '{path}' into '{self.sandbox}'")
                if uri.get("executable"):
                    path.chmod(0o755)
            except (OSError, ValueError, tarfile.TarError, zipfile.BadZipFile) as exc:
                _log(f"fetcher.cpp:632] Failed to fetch '{value}': {exc}")
                return False
            _log(f"fetcher.cpp:618] Fetched '{value}' to '{path}'")
        return True

    # ----- Mesos health checks ----------------------------------------------------------

    def health_loop(self) -> None:
        check = self.task["health_check"]
        delay = float(check.get("delay_seconds", 15.0))
        interval = float(check.get("interval_seconds", 10.0))
        timeout = float(check.get("timeout_seconds", 20.0))
        allowed = int(check.get("consecutive_failures", 3))
        grace = float(check.get("grace_period_seconds", 10.0))
        started = time.monotonic()
        failures = 0
        time.sleep(delay)
        while self.proc is not None and self.proc.poll() is None and not self.killed.is_set():
            ok = _probe(check, timeout)
            if ok:
                failures = 0
                if self.healthy is not True:
                    self.healthy = True
                    self.status("TASK_RUNNING", healthy=True,
                                reason="REASON_TASK_HEALTH_CHECK_STATUS_UPDATED")
            elif self.healthy is not None or time.monotonic() - started > grace:
                failures += 1
                if self.healthy is not False:
                    self.healthy = False
                    self.status("TASK_RUNNING", healthy=False,
                                reason="REASON_TASK_HEALTH_CHECK_STATUS_UPDATED")
                if failures >= allowed:
                    _log(f"health_checker.cpp:1] Task '{self.task_id}' is unhealthy after "
                         f"{failures} consecutive failures; killing it")
                    self.health_killed.set()
                    self.killed.set()
                    self.stop_command(self._grace())
                    return
            time.sleep(interval)


def _outcome(code: int) -> str:
    if code < 0:
        return f"Command terminated with signal {_signal_text(-code)}"
    return f"Command exited with status {code}"


def _signal_text(number: int) -> str:
    """strsignal(3): what the real executor prints."""
    names = {signal.SIGTERM: "Terminated", signal.SIGKILL: "Killed", signal.SIGINT: "Interrupt",
             signal.SIGSEGV: "Segmentation fault", signal.SIGABRT: "Aborted",
             signal.SIGHUP: "Hangup", signal.SIGQUIT: "Quit"}
    return names.get(signal.Signals(number), signal.Signals(number).name)


def _download(value: str, sandbox: Path, output: object) -> Path:
    name = str(output) if output else (value.rstrip("/").rsplit("/", 1)[-1] or "download")
    target = sandbox / name
    if value.startswith(("http://", "https://")):
        with urllib.request.urlopen(value, timeout=60) as answer, target.open("wb") as out:  # noqa: S310
            shutil.copyfileobj(answer, out)
    elif value.startswith("file://") or value.startswith("/"):
        shutil.copyfile(value.removeprefix("file://"), target)
    else:
        raise ValueError(f"unsupported URI scheme in '{value}'")
    return target


def _extract(path: Path, sandbox: Path) -> bool:
    name = path.name
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")):
        with tarfile.open(path) as archive:
            archive.extractall(sandbox, filter="data")
        return True
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            archive.extractall(sandbox)  # noqa: S202 - the fetcher's own behaviour
        return True
    openers = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
    for suffix, opener in openers.items():
        if name.endswith(suffix):
            with opener(path, "rb") as src, (sandbox / name[: -len(suffix)]).open("wb") as dst:
                shutil.copyfileobj(src, dst)
            return True
    return False


def _probe(check: dict, timeout: float) -> bool:
    kind = check.get("type") or ("HTTP" if "http" in check else "TCP" if "tcp" in check
                                 else "COMMAND")
    try:
        if kind == "HTTP":
            http = check.get("http") or {}
            path = str(http.get("path") or "/")
            code, _, _ = request("127.0.0.1", int(http["port"]), "GET", path, timeout=timeout)
            wanted = http.get("statuses") or []
            return code in wanted if wanted else 200 <= code < 400
        if kind == "TCP":
            with socket.create_connection(("127.0.0.1", int(check["tcp"]["port"])), timeout):
                return True
        command = check.get("command") or {}
        done = subprocess.run(["/bin/sh", "-c", str(command.get("value", ""))], timeout=timeout,
                              capture_output=True, check=False)
        return done.returncode == 0
    except (Unreachable, OSError, subprocess.TimeoutExpired, KeyError, ValueError):
        return False


def main(argv: list[str]) -> int:
    if "--config" not in argv:
        sys.stderr.write("Usage: mesos-executor --config <file> (smack test stand-in)\n")
        return 1
    config = json.loads(Path(argv[argv.index("--config") + 1]).read_text())
    return Executor(config).run()
