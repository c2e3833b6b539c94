"""Helpers for the stand-ins' tests (tests/unit/test_standins_*.py): ZooKeeper, processes,
HTTP, and comparing answers with the real samples by shape (keys and JSON types).

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.standins.build import build_packages

BUNDLE = Path(os.environ.get("SMACK_BUNDLE_DIR", "/root/.cache/smack/bundle"))
# The interpreter that runs the stand-ins (it needs kazoo and jsonschema). Point it at Debian's
# /usr/bin/python3 with PYTHONPATH to check against bookworm's python3-kazoo/-jsonschema.
STANDIN_PYTHON = os.environ.get("SMACK_STANDIN_PYTHON", sys.executable)
ZOOKEEPER_TARBALL = "zookeeper-3.9.5.tar.gz"


def reference_dir() -> Path:
    path = Path(os.environ.get("SMACK_REFERENCE_DIR")
                or Path(__file__).resolve().parents[1] / "reference")
    if not (path / "real-mesos-samples").is_dir():
        raise RuntimeError(f"reference samples not found in {path} (set SMACK_REFERENCE_DIR)")
    return path


def samples() -> Path:
    return reference_dir() / "real-mesos-samples"


def marathon_samples() -> Path:
    return reference_dir() / "real-marathon-samples"


def sample_json(name: str) -> Any:
    return json.loads((samples() / name).read_text())


def sample_headers(name: str, folder: Path | None = None) -> tuple[int, list[tuple[str, str]]]:
    """(status, headers) of a captured `<name>.headers` file."""
    lines = ((folder or samples()) / f"{name}.headers").read_text().strip().splitlines()
    status = int(lines[0].split()[1])
    headers = [
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:] if line)
    ]
    return status, headers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail with the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


# ----- ZooKeeper ----------------------------------------------------------------------------


class ZooKeeper:
    """A standalone ZooKeeper from the bundle's jars on a free loopback port.

    tickTime 500 ms lets the stand-ins use 1-2 s session timeouts, so failovers are quick.
    """

    def __init__(self, workdir: Path) -> None:
        tarball = BUNDLE / ZOOKEEPER_TARBALL
        if not tarball.is_file():
            raise RuntimeError(f"{tarball} missing: run `smack bundle` first")
        self.home = workdir / "zookeeper"
        with tarfile.open(tarball) as tar:
            members = [m for m in tar.getmembers() if "/lib/" in m.name and m.name.endswith(".jar")]
            tar.extractall(self.home, members=members, filter="data")
        self.lib = next(self.home.glob("*/lib"))
        self.data = workdir / "zk-data"
        self.data.mkdir()
        self.port = free_port()
        self.log = (workdir / "zookeeper.log").open("wb")
        self.proc = subprocess.Popen(
            [
                "java",
                "-Xmx256m",
                "-Dzookeeper.admin.enableServer=false",
                "-Dzookeeper.jmx.log4j.disable=true",
                "-cp",
                f"{self.lib}/*",
                "org.apache.zookeeper.server.ZooKeeperServerMain",
                str(self.port),
                str(self.data),
                "500",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self._answers, timeout=30)

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"ZooKeeper exited with {self.proc.returncode}")
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"srvr")
            return b"Zookeeper version" in sock.recv(4096)

    def url(self, path: str) -> str:
        return f"zk://127.0.0.1:{self.port}{path}"

    def client(self) -> Any:
        from kazoo.client import KazooClient

        client = KazooClient(hosts=f"127.0.0.1:{self.port}")
        client.start(timeout=10)
        return client

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


# ----- the installed packages and their daemons ----------------------------------------------


def install_tree(root: Path, *, jni: bool = True) -> list[Path]:
    """Build the packages and unpack them under `root` (as dpkg would lay them out)."""
    debs = build_packages(root / "debs", jni=jni)
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root / "fs")], check=True)
    return debs


@dataclass
class Daemon:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def wait(self, timeout: float = 10) -> int:
        return self.proc.wait(timeout)


@dataclass
class Processes:
    """Starts stand-in programs from the unpacked packages and kills what is left at the end."""

    fs: Path
    workdir: Path
    started: list[Daemon] = field(default_factory=list)
    # Where the agents' sandboxes are (besides workdir): the executors and tasks the stand-in
    # agents start live in sessions of their own and outlive their agent, as the real ones do.
    task_roots: list[Path] = field(default_factory=list)

    def program(self, name: str) -> Path:
        return {
            "mesos-master": self.fs / "usr/bin/mesos-master",
            "mesos-agent": self.fs / "usr/bin/mesos-agent",
            "marathon": self.fs / "usr/bin/marathon",
        }[name]

    def base_environment(self) -> dict[str, str]:
        """This process' environment without Mesos/Marathon settings, and a view of the host's
        mounts without the cgroup2 mount of a hybrid host: the real samples were captured with
        it unmounted (real-mesos-samples/PROVENANCE.txt), and the agent refuses it."""
        mounts = self.workdir / "mounts-without-cgroup2"
        if not mounts.exists():
            lines = Path("/proc/self/mounts").read_text().splitlines()
            mounts.write_text("".join(f"{line}\n" for line in lines
                                      if line.split()[2:3] != ["cgroup2"]))
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "MARATHON_"))}
        environ["SMACK_STANDIN_MOUNTS"] = str(mounts)
        # What Marathon needs to start at all (the marathon role writes the same): the Mesos
        # library with the Java bindings, and on Java 17 java.lang opened. Tests of what
        # happens without them override these.
        environ["MESOS_NATIVE_JAVA_LIBRARY"] = str(self.fs / "usr/lib/libmesos-java.so")
        environ["JAVA_OPTS"] = "--add-opens java.base/java.lang=ALL-UNNAMED"
        return environ

    def start(
        self, name: str, args: list[str], env: dict[str, str] | None = None, port: int = 0
    ) -> Daemon:
        log_path = self.workdir / f"{name}-{len(self.started)}.log"
        environ = self.base_environment()
        environ.update(env or {})
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [STANDIN_PYTHON, str(self.program(name)), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environ,
                start_new_session=True,
            )
        daemon = Daemon(name, proc, log_path, port)
        self.started.append(daemon)
        return daemon

    def run(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """Run to completion (CLI checks): stdout and stderr kept apart."""
        environ = self.base_environment()
        environ.update(env or {})
        return subprocess.run(
            [STANDIN_PYTHON, str(self.program(name)), *args],
            capture_output=True,
            check=False,
            env=environ,
            timeout=30,
        )

    def stop_all(self) -> None:
        for daemon in self.started:
            if daemon.proc.poll() is None:
                os.killpg(daemon.proc.pid, signal.SIGKILL)
                daemon.proc.wait()
        for pid in self.task_processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def task_processes(self) -> list[int]:
        """Executors and tasks the agents of this test started: their working directory is a
        sandbox below one of our directories."""
        roots = [str(self.workdir.resolve()), *(str(r.resolve()) for r in self.task_roots)]
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if any(cwd == root or cwd.startswith(root + "/") for root in roots):
                found.append(int(entry.name))
        return found


# ----- HTTP ------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def fetch(
    port: int,
    path: str,
    method: str = "GET",
    body: object = None,
    *,
    auth: tuple[str, str] | None = None,
    raw: bytes | None = None,
) -> Answer:
    """One request to 127.0.0.1:port; redirects are not followed."""
    import base64

    headers = {"User-Agent": "smack-standin-tests"}
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if auth is not None:
        headers["Authorization"] = (
            "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return Answer(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


IGNORED_HEADERS = {"date", "content-length"}


def header_names(headers: list[tuple[str, str]]) -> list[str]:
    return [k.lower() for k, _ in headers if k.lower() not in IGNORED_HEADERS]


def assert_like_sample(answer: Answer, name: str, folder: Path | None = None) -> None:
    """Same status, same header names in the same order (ignoring Date/Content-Length), same
    Content-Type and WWW-Authenticate values, and a Location of the same form."""
    status, headers = sample_headers(name, folder)
    assert answer.status == status, (name, answer.status, answer.body[:200])
    assert header_names(answer.headers) == header_names(headers), (name, answer.headers, headers)
    expected = dict((k.lower(), v) for k, v in headers)
    for key in ("content-type", "www-authenticate"):
        if key in expected:
            assert answer.header(key) == expected[key], (name, key)
    if "location" in expected:
        form = re.sub(r"\d+", r"\\d+", re.escape(expected["location"]))
        assert re.fullmatch(form, answer.header("location") or ""), (
            name,
            answer.header("location"),
        )


# ----- JSON shape comparison ----------------------------------------------------------------


def _kind(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value) if value is None else "bool"
    return {int: "int", float: "float", str: "str", list: "list", dict: "dict"}[type(value)]


def shape_differences(expected: object, actual: object, path: str = "$") -> list[str]:
    """Where `actual` differs from `expected` in keys (recursively) or JSON types. Lists are
    compared element-wise by their first element (both sides must be empty or non-empty)."""
    if _kind(expected) != _kind(actual):
        return [f"{path}: expected {_kind(expected)}, got {_kind(actual)}"]
    if isinstance(expected, dict) and isinstance(actual, dict):
        problems = [f"{path}: missing key {k!r}" for k in expected if k not in actual]
        problems += [f"{path}: extra key {k!r}" for k in actual if k not in expected]
        for key in expected:
            if key in actual:
                problems += shape_differences(expected[key], actual[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list) and isinstance(actual, list):
        if bool(expected) != bool(actual):
            return [f"{path}: expected {len(expected)} items, got {len(actual)}"]
        return shape_differences(expected[0], actual[0], f"{path}[0]") if expected else []
    return []


def assert_same_shape(expected: object, actual: object) -> None:
    problems = shape_differences(expected, actual)
    assert not problems, "\n".join(problems)


GLOG_PREFIX = re.compile(r"^[IWE]\d{8} \d\d:\d\d:\d\d\.\d{6} +\d+ ", re.MULTILINE)


def without_glog_prefix(text: str) -> str:
    """'E20261126 05:03:50.560014  3872 main.cpp:493] EXIT ...' -> 'main.cpp:493] EXIT ...'."""
    return GLOG_PREFIX.sub("", text)


@contextmanager
def zk_session(zookeeper: ZooKeeper) -> Iterator[Any]:
    client = zookeeper.client()
    try:
        yield client
    finally:
        client.stop()
        client.close()


# ----- a scheduler speaking the stand-ins' private protocol (PROTOCOL.md) ----------------------


class FrameworkClient:
    """The framework side of PROTOCOL.md, for tests that launch tasks on stand-in agents
    without Marathon: register, take offers, launch, kill, collect status updates."""

    def __init__(self, master_port: int, user: str = "root",
                 capabilities: tuple[str, ...] = ("PARTITION_AWARE",)) -> None:
        self.port = master_port
        answer = fetch(master_port, "/__standin__/framework/register",
                       "POST", {"name": "smack-tests", "user": user,
                                "capabilities": list(capabilities)})
        assert answer.status == 200, answer.body
        self.id = answer.json()["id"]
        self.user, self.capabilities = user, capabilities
        self.offers: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []

    def reregister(self, master_port: int) -> None:
        """Fail over to another master with the same framework ID (the driver's re-register)."""
        answer = fetch(master_port, "/__standin__/framework/register", "POST",
                       {"id": self.id, "name": "smack-tests", "user": self.user,
                        "capabilities": list(self.capabilities)})
        assert answer.status == 200, answer.body
        self.port = master_port

    def reconcile(self, statuses: list[dict[str, Any]]) -> None:
        answer = fetch(self.port, "/__standin__/framework/reconcile", "POST",
                       {"id": self.id, "statuses": statuses})
        assert answer.status == 200, answer.body

    def poll(self) -> None:
        answer = fetch(self.port, "/__standin__/framework/poll", "POST",
                       {"id": self.id, "wait": 0.5})
        assert answer.status == 200, answer.body
        for event in answer.json()["events"]:
            if event["type"] == "offers":
                self.offers += event["offers"]
            elif event["type"] == "update":
                self.updates.append(event["status"])

    def offer(self, timeout: float = 10.0) -> dict[str, Any]:
        def got() -> dict[str, Any] | None:
            self.poll()
            return self.offers.pop(0) if self.offers else None

        return wait_until(got, timeout=timeout)  # type: ignore[no-any-return]

    def launch(self, offer: dict[str, Any], task_id: str, command: str, *,
               user: str | None = None, env: dict[str, str] | None = None,
               **extra: Any) -> None:
        command_info: dict[str, Any] = {"value": command, "shell": True, "environment": {
            "variables": [{"name": k, "value": v} for k, v in (env or {}).items()]}}
        if user:
            command_info["user"] = user
        task = {"name": task_id, "task_id": {"value": task_id}, "slave_id": offer["slave_id"],
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
                "command": command_info, **extra}
        answer = fetch(self.port, "/__standin__/framework/accept", "POST",
                       {"id": self.id, "offer_ids": [offer["id"]], "tasks": [task]})
        assert answer.status == 200, answer.body

    def kill(self, task_id: str) -> None:
        fetch(self.port, "/__standin__/framework/kill", "POST",
              {"id": self.id, "task_id": {"value": task_id}})

    def state_of(self, task_id: str, wanted: str, timeout: float = 15.0) -> dict[str, Any]:
        """Wait for the update that puts `task_id` in state `wanted`; return it."""
        def seen() -> dict[str, Any] | None:
            self.poll()
            return next((u for u in self.updates if u["task_id"]["value"] == task_id
                         and u["state"] == wanted), None)

        return wait_until(seen, timeout=timeout)  # type: ignore[no-any-return]
