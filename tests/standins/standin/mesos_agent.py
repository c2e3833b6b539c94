"""mesos-agent: smack TEST STAND-IN for the Apache Mesos 1.11 agent.

It accepts the real agent's flags and refuses to start where the real one cannot
(agent_checks.py: systemd support without a usable systemd hierarchy, the Linux launcher or
cgroups isolators on read-only cgroups, cgroup2 at an unexpected place), finds the leading
master (zk://, host:port or file://), registers through the stand-ins' private protocol
(re-registering with its checkpointed agent ID and the tasks it runs after restarts and master
failovers), heartbeats, runs the command tasks the master sends (agent_tasks.py,
mesos_executor.py) and answers /state, /flags, /health, /version and /metrics/snapshot shaped
like real-mesos-samples/agent-*. With --credential it authenticates; a wrong secret ends the
process like the real agent ("Master ... refused authentication", status 1). A master's
machine/down shuts it down ("Agent terminating") after killing its tasks.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path

from kazoo.client import KazooClient

from . import glog, zk
from .agent_checks import check_isolation
from .agent_tasks import Containerizer
from .auth import sign
from .client import Unreachable, post_json
from .common import (
    AGENT_CAPABILITIES,
    BUILD,
    PRIVATE,
    VERSION,
    advertised_ip,
    load_credential,
    load_credentials,
    parse_zk_url,
    resolve_hostname,
    state_header,
    version_json,
)
from .flags import FlagError, FlagTable, fail_usage, is_true, load, parse_duration
from .httpd import (
    HttpServer,
    Request,
    Response,
    empty_response,
    json_response,
    not_found,
    unauthorized,
)
from .lifecycle import catch_signals, run_until_signal, start_thread
from .metrics import agent_keys, snapshot
from .resources import agent_resources, parse_attributes

READONLY = "mesos-agent-readonly"
HEARTBEAT = 1.0


class Agent:
    def __init__(self, flags: dict[str, str]) -> None:
        self.flags = flags
        self.port = int(flags["port"])
        self.ip = advertised_ip(flags)
        self.hostname = resolve_hostname(flags, self.ip)
        self.pid = f"slave(1)@{self.ip}:{self.port}"
        self.work_dir = Path(flags["work_dir"])
        self.resources = agent_resources(flags.get("resources"), str(self.work_dir))
        self.attributes = parse_attributes(flags.get("attributes"))
        self.start_time = time.time()
        self.id: str | None = self._checkpointed_id()
        self.registered = False
        self.master_pid: str | None = None
        self.master_hostname: str | None = None
        self.master_address: tuple[str, int] | None = None
        self.credential = load_credential(flags["credential"]) if flags.get("credential") else None
        self.http_credentials = (
            load_credentials(flags["http_credentials"]) if flags.get("http_credentials") else None
        )
        self.leader_changed = threading.Event()
        self.announced: str | None = None
        self.tasks = Containerizer(self)

    # ----- checkpointed agent ID (<work_dir>/meta/slaves/latest, as the real agent) --------

    def _meta(self) -> Path:
        return self.work_dir / "meta" / "slaves"

    def _checkpointed_id(self) -> str | None:
        latest = self._meta() / "latest"
        return latest.resolve().name if latest.is_symlink() else None

    def _checkpoint(self, agent_id: str) -> None:
        meta = self._meta()
        (meta / agent_id).mkdir(parents=True, exist_ok=True)
        latest = meta / "latest"
        latest.unlink(missing_ok=True)
        latest.symlink_to(agent_id)

    # ----- master detection -----------------------------------------------------------------

    def detect(self) -> None:
        """Keep self.master_address on the leading master; wake the registration loop on change."""
        master = self.flags["master"]
        if master.startswith("file://"):
            master = Path(master[len("file://") :]).read_text().strip()
        if not master.startswith("zk://"):
            host, _, port = master.rpartition(":")
            self.set_master(f"master@{host}:{port}", host, int(port), host)
            return
        url = parse_zk_url(master)
        session = parse_duration(self.flags.get("zk_session_timeout", "10secs"))
        client = zk.connect(url, session)
        glog.info(
            "group.cpp:341",
            f"Group process (zookeeper-group(1)@{self.pid[9:]}) connected to ZooKeeper",
        )
        wakeup = zk.Wakeup(client, url.path)
        current: list[str | None] = [None]  # znode of the master we follow
        while True:
            zk.tolerant(lambda: self.detect_round(client, url.path, current), "master detection")
            wakeup.wait(0.5)

    def detect_round(self, client: KazooClient, path: str, current: list[str | None]) -> None:
        leading = zk.leading_master(client, path)
        if leading is not None and leading[0] != current[0]:
            current[0] = leading[0]
            info = leading[1]
            glog.info(
                "detector.cpp:152", f"Detected a new leader: (id='{zk.sequence_of(leading[0])}')"
            )
            glog.info("zookeeper.cpp:262", f"A new leading master (UPID={info['pid']}) is detected")
            address = info.get("address", {})
            hostname = info.get("hostname", "")
            self.set_master(info["pid"], address.get("ip", ""), int(info["port"]), hostname)
        elif leading is None and current[0] is not None:
            current[0] = None
            message = "Master disconnected! Waiting for a new master to be elected"
            glog.warning("slave.cpp:6729", message)
            self.set_master(None, "", 0, None)

    def set_master(self, pid: str | None, ip: str, port: int, hostname: str | None) -> None:
        self.master_pid = pid
        self.master_address = (ip, port) if pid else None
        self.master_hostname = hostname
        self.registered = False
        self.announced = None
        if pid:
            glog.info("slave.cpp:1481", f"New master detected at {pid}")
        self.leader_changed.set()

    # ----- registration and heartbeats -----------------------------------------------------

    def run(self) -> None:
        backoff = parse_duration(self.flags.get("registration_backoff_factor", "1secs"))
        while True:
            address = self.master_address
            if address is None:
                self.leader_changed.wait(HEARTBEAT)
                self.leader_changed.clear()
                continue
            if not self.registered:
                if not self.register(address):
                    self.leader_changed.wait(backoff)
                    self.leader_changed.clear()
                continue
            self.heartbeat(address)
            self.leader_changed.wait(HEARTBEAT)
            self.leader_changed.clear()

    def register(self, address: tuple[str, int]) -> bool:
        body: dict[str, object] = {
            "id": self.id,
            "hostname": self.hostname,
            "ip": self.ip,
            "port": self.port,
            "resources": self.resources.to_json(),
            "attributes": self.attributes,
            "version": VERSION,
            "tasks": self.tasks.reported_tasks(),
        }
        announce = self.announced != self.master_pid  # log each attempt once per master
        self.announced = self.master_pid
        if self.credential is not None:
            if announce:
                glog.info("slave.cpp:1573", f"Authenticating with master {self.master_pid}")
            body["credential"] = sign(*self.credential)
        elif announce:
            message = "No credentials provided. Attempting to register without authentication"
            glog.info("slave.cpp:1535", message)
        try:
            status, answer = post_json(*address, f"{PRIVATE}/agent/register", body)
        except Unreachable:
            return False
        if status == 200:
            self.on_registered(answer)
            return True
        action = (answer or {}).get("action")
        if action == "exit":
            glog.exit_with("slave.cpp:1669", str(answer.get("message")))
        if action == "shutdown":
            self.terminate(str(self.master_pid), str(answer.get("reason")))
        return False

    def on_registered(self, answer: dict) -> None:
        first = self.id is None or not answer.get("reregistered")
        self.id = str(answer["id"])
        self.master_hostname = str(answer.get("master_hostname") or self.master_hostname)
        self._checkpoint(self.id)
        self.registered = True
        if first:
            glog.info(
                "slave.cpp:1706",
                f"Registered with master {answer['master']}; given agent ID {self.id}",
            )
        else:
            glog.info("slave.cpp:1838", f"Re-registered with master {answer['master']}")

    def heartbeat(self, address: tuple[str, int]) -> None:
        try:
            status, answer = post_json(*address, f"{PRIVATE}/agent/ping", {"id": self.id})
        except Unreachable:
            glog.info("slave.cpp:6724", f"Got exited event for {self.master_pid}")
            glog.warning(
                "slave.cpp:6729", "Master disconnected! Waiting for a new master to be elected"
            )
            self.registered = False
            return
        if (answer or {}).get("action") == "shutdown":
            self.terminate(str(self.master_pid), str(answer.get("reason")))
        if status != 200:
            self.registered = False

    def terminate(self, master: str, reason: str) -> None:
        glog.info("slave.cpp:1047", f"Agent asked to shut down by {master} because '{reason}'")
        self.tasks.kill_all(wait=5.0)
        glog.info("slave.cpp:1010", "Agent terminating")
        os._exit(0)

    def say_goodbye(self) -> None:
        """On SIGTERM the real master sees the agent's socket close; tell the stand-in master."""
        if self.master_address and self.id:
            with contextlib.suppress(Unreachable):
                body = {"id": self.id}
                post_json(*self.master_address, f"{PRIVATE}/agent/disconnect", body, timeout=0.5)

    # ----- HTTP ----------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        if req.path.startswith(f"{PRIVATE}/") and req.method == "POST":
            return self.private(req.path[len(PRIVATE):], req.json() or {})
        agent = req.headers.get("User-Agent", "")
        message = f"HTTP {req.method} for {req.path} from {req.client} with User-Agent='{agent}'"
        glog.info("http.cpp:1436", message)
        name = req.path[len("/slave(1)") :] if req.path.startswith("/slave(1)/") else req.path
        name = name.removesuffix(".json")
        open_endpoints = {
            "/health": empty_response,
            "/version": lambda: json_response(version_json()),
        }
        readonly = {
            "/state": lambda: json_response(self.state()),
            "/flags": lambda: json_response({"flags": self.flags}),
            "/metrics/snapshot": lambda: json_response(self.metrics()),
        }
        if name in open_endpoints:
            return open_endpoints[name]()
        if name not in readonly:
            return not_found()
        if is_true(self.flags, "authenticate_http_readonly") and not self.authenticated(req):
            return unauthorized(READONLY)
        return readonly[name]()

    def private(self, path: str, body: dict) -> Response:
        if path == "/shutdown":
            return self.shutdown_request(body)
        if path == "/run":
            threading.Thread(target=self.tasks.run, args=(body["framework"], body["task"]),
                             daemon=True).start()
        elif path == "/kill":
            self.tasks.kill(str(body["framework_id"]), str(body["task_id"]))
        elif path == "/shutdown_framework":
            self.tasks.kill_framework(str(body["framework_id"]))
        elif path == "/executor/update":
            self.tasks.executor_update(body)
        else:
            return not_found()
        return json_response({})

    def shutdown_request(self, body: dict) -> Response:
        """The master's ShutdownMessage (machine DOWN): answer, then terminate."""
        args = (str(body.get("master", "")), str(body.get("reason", "")))
        threading.Thread(target=self.terminate, args=args, daemon=True).start()
        return json_response({})

    def authenticated(self, req: Request) -> bool:
        given = req.basic_auth()
        return bool(
            given and self.http_credentials and self.http_credentials.get(given[0]) == given[1]
        )

    def state(self) -> dict[str, object]:
        out: dict[str, object] = state_header()
        out["start_time"] = self.start_time
        if self.id and self.registered:
            out["id"] = self.id
        out.update(
            {
                "pid": self.pid,
                "hostname": self.hostname,
                "capabilities": list(AGENT_CAPABILITIES),
                "resources": self.resources.summary(),
                "reserved_resources": self.resources.reserved_summary(),
                "unreserved_resources": self.resources.unreserved_summary(),
                "reserved_resources_full": {},
                "unreserved_resources_full": self.resources.full(),
                "reserved_resources_allocated": {},
                "unreserved_resources_allocated": {
                    "disk": 0.0,
                    "mem": 0.0,
                    "gpus": 0.0,
                    "cpus": 0.0,
                },
                "resource_providers": [],
                "attributes": self.attributes,
            }
        )
        if self.registered and self.master_hostname:
            out["master_hostname"] = self.master_hostname
        for key in ("log_dir", "external_log_file"):
            if self.flags.get(key):
                out[key] = self.flags[key]
        out.update({"flags": self.flags, "frameworks": self.tasks.frameworks_json(),
                    "completed_frameworks": []})
        return out

    def metrics(self) -> dict[str, float]:
        totals = self.resources.totals()
        values = {f"slave/{k}_total": totals.get(k, 0.0) for k in ("cpus", "mem", "disk", "gpus")}
        values.update(
            {
                "slave/registered": 1.0 if self.registered else 0.0,
                "slave/uptime_secs": time.time() - self.start_time,
                "slave/executor_directory_max_allowed_age_secs": 544320.0,
                "containerizer/fetcher/cache_size_total_bytes": 2147483648.0,
                **self.tasks.counts(),
            }
        )
        return snapshot(agent_keys(), values)


def check_startup(table: FlagTable, flags: dict[str, str]) -> None:
    """The real agent's early checks (main.cpp), in its order."""
    if not flags.get("master") and not flags.get("master_detector"):
        glog.exit_with("main.cpp:493", "Missing required option `--master` or `--master_detector`")
    if not flags.get("work_dir"):
        fail_usage(table, "Flag 'work_dir' is required, but it was not provided")
    glog.info("main.cpp:565", f"Build: {BUILD['build_date']} by {BUILD['build_user']}")
    glog.info("main.cpp:566", f"Version: {VERSION}")
    glog.info("main.cpp:573", f"Git SHA: {BUILD['git_sha']}")
    if is_true(flags, "authenticate_http_readonly") and not flags.get("http_credentials"):
        glog.exit_with(
            "main.cpp:611",
            "Failed to initialize HTTP authenticators: No credentials provided for the default "
            f"'basic' HTTP authenticator for realm '{READONLY}'",
        )


def main(argv: list[str]) -> int:
    table = FlagTable("mesos-agent")
    try:
        flags = load(table, argv, dict(os.environ))
    except FlagError as exc:
        fail_usage(table, str(exc))
    if is_true(flags, "help"):
        sys.stdout.write(table.help_text())
        return 0
    if is_true(flags, "version"):
        print(f"mesos {VERSION}")
        return 0
    glog.configure("mesos-agent", flags.get("log_dir"), is_true(flags, "quiet"))
    catch_signals()
    check_startup(table, flags)
    check_isolation(table, flags)
    try:
        agent = Agent(flags)
    except (OSError, ValueError, KeyError) as exc:
        glog.exit_with("main.cpp:620", f"Failed to initialize agent: {exc}")
    try:
        server = HttpServer(flags.get("ip") or "0.0.0.0", agent.port, agent.handle)  # noqa: S104 - like libprocess
    except OSError as exc:
        glog.exit_with(
            "process.cpp:1145",
            f"Failed to initialize: Failed to bind on {flags.get('ip')}:{agent.port}: {exc}",
        )
    glog.info("slave.cpp:288", f"Mesos agent started on (1)@{agent.pid[9:]}")
    glog.info(
        "slave.cpp:289", "Flags at startup: " + " ".join(f'--{k}="{v}"' for k, v in flags.items())
    )
    glog.info("slave.cpp:636", f"Agent resources: {json.dumps(agent.resources.full())}")
    glog.info("slave.cpp:653", f"Agent hostname: {agent.hostname}")
    agent.work_dir.mkdir(parents=True, exist_ok=True)
    agent.tasks.recover()
    server.start()
    start_thread(agent.detect, "detector")
    start_thread(agent.run, "registration")
    start_thread(agent.tasks.forwarder, "status updates")
    return run_until_signal(agent.say_goodbye)
