"""mesos-master: smack TEST STAND-IN for the Apache Mesos 1.11 master.

What it reproduces (see tests/standins/README.md and real-mesos-samples/):
- flags exactly as the real binary (flags.py), start-up checks with the real EXIT messages;
- ZooKeeper contention: EPHEMERAL_SEQUENTIAL `json.info_` znodes with MasterInfo JSON and
  `log_replicas/` children; the lowest sequence leads; a leader waits until --quorum log
  replicas are present before it recovers (and gives up after --registry_fetch_timeout);
- HTTP endpoints, status codes, headers, Basic auth realms, 307 redirects from standbys;
- agents (stand-in mesos-agent) and frameworks (stand-in Marathon, the stand-in scheduler
  driver in libmesos-java.so) register through a private HTTP protocol under /__standin__
  that product code never uses (PROTOCOL.md); offers, task launches and status updates go the
  same way (master_scheduling.py), and the agents run the tasks;
- maintenance schedule / machine down / machine up, in memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path

from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NoNodeError

from . import glog, zk
from .acls import from_flags as acls_from_flags
from .auth import verify
from .client import Unreachable, post_json, request
from .common import (
    BUILD,
    MASTER_CAPABILITIES,
    PRIVATE,
    VERSION,
    advertised_ip,
    ip_to_uint32,
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
    method_not_allowed,
    not_found,
    redirect_response,
    text_response,
    unauthorized,
)
from .lifecycle import catch_signals, run_until_signal, start_thread
from .maintenance import Maintenance, MaintenanceError, machine_key
from .master_model import Agent, Framework
from .master_registry import PULL_INTERVAL, Registry
from .master_scheduling import Scheduling
from .metrics import master_keys, snapshot
from .resources import Resources

READONLY = "mesos-master-readonly"
READWRITE = "mesos-master-readwrite"
# endpoint -> (auth realm or None, served only by the leader: a standby answers 307)
ENDPOINTS = {
    "webui": (None, False),
    "version": (None, False),
    "metrics/snapshot": (READONLY, False),
    "health": (None, False),
    "redirect": (None, False),
    "flags": (READONLY, False),
    "state": (READONLY, True),
    "slaves": (READONLY, True),
    "frameworks": (READONLY, True),
    "state-summary": (READONLY, True),
    "tasks": (READONLY, True),
    "maintenance/schedule": (READWRITE, True),
    "maintenance/status": (READONLY, True),
    "machine/down": (READWRITE, True),
    "machine/up": (READWRITE, True),
    "teardown": (READWRITE, True),
}
DISCONNECTED_AFTER = 3.0  # seconds without agent heartbeat; stands in for libprocess' socket EOF


class Master(Scheduling):
    def __init__(self, flags: dict[str, str]) -> None:
        self.flags = flags
        self.id = str(uuid.uuid4())
        self.port = int(flags["port"])
        ip = advertised_ip(flags)
        adv_port = int(flags.get("advertise_port") or self.port)
        self.hostname = resolve_hostname(flags, ip)
        self.pid = f"master@{ip}:{adv_port}"
        self.info = {
            "address": {"hostname": self.hostname, "ip": ip, "port": adv_port},
            "capabilities": [{"type": c} for c in MASTER_CAPABILITIES],
            "hostname": self.hostname,
            "id": self.id,
            "ip": ip_to_uint32(ip),
            "pid": self.pid,
            "port": adv_port,
            "version": VERSION,
        }
        self.start_time = time.time()
        self.lock = threading.RLock()
        self.leader: dict | None = None
        self.elected_time: float | None = None
        self.recovered = False
        self.agents: dict[str, Agent] = {}
        self.agent_count = 0
        self.unreachable = 0
        self.frameworks: dict[str, Framework] = {}
        self.completed_frameworks: list[Framework] = []
        self.framework_count = 0
        self.shutdowns: dict[str, str] = {}
        self.maintenance = Maintenance()
        self.credentials = (
            load_credentials(flags["credentials"]) if flags.get("credentials") else None
        )
        self.acls = acls_from_flags(flags)
        self.counters: Counter[str] = Counter()
        self.replicas = 0
        self.registry = Registry.in_work_dir(flags.get("work_dir"),
                                             flags.get("registry") == "in_memory")
        self.init_scheduling()

    # ----- leadership -------------------------------------------------------------------

    def is_leader(self) -> bool:
        return self.leader is not None and self.leader.get("id") == self.id

    def become_leader(self) -> None:
        with self.lock:
            self.elected_time = time.time()
        glog.info("zookeeper.cpp:262", f"A new leading master (UPID={self.pid}) is detected")
        glog.info("master.cpp:2178", "Elected as the leading master!")
        glog.info("master.cpp:1674", "Recovering from registrar")

    def check_recovery(self) -> None:
        """The registrar recovers once --quorum log replicas are up (replicated_log)."""
        quorum = int(self.flags.get("quorum") or 1)
        if self.flags.get("registry") == "in_memory" or self.replicas >= quorum:
            timeout = self.flags.get("agent_reregister_timeout", "10mins")
            with self.lock:
                self.recovered = True
                count = self.registry.recover(parse_duration(timeout))
                size = len(json.dumps(self.registry.json()))
            glog.info(
                "master.cpp:1827",
                f"Recovered {count} agents from the registry ({size}B); allowing {timeout} for "
                "agents to reregister",
            )
            return
        waited = time.time() - (self.elected_time or time.time())
        timeout = self.flags.get("registry_fetch_timeout", "1mins")
        if waited > parse_duration(timeout):
            reason = f"Failed to recover registrar: Failed to perform fetch within {timeout}"
            glog.exit_with("master.cpp:2040", f"Recovery failed: {reason}")

    def run_standalone(self) -> None:
        self.leader = self.info
        self.replicas = 1
        self.become_leader()
        self.check_recovery()

    def run_zookeeper(self) -> None:
        url = parse_zk_url(self.flags["zk"])
        session = parse_duration(self.flags.get("zk_session_timeout", "10secs"))
        client = zk.connect(url, session, on_lost=self.lost_session)
        glog.info(
            "group.cpp:341",
            f"Group process (zookeeper-group(1)@{self.pid[7:]}) connected to ZooKeeper",
        )
        if self.flags.get("registry", "replicated_log") == "replicated_log":
            self.join_group(
                client,
                f"{url.path}/log_replicas/",
                f"log-replica(1)@{self.pid[7:]}".encode(),
            )
        data = json.dumps(self.info, separators=(",", ":")).encode()
        mine = self.join_group(client, f"{url.path}/{zk.MASTER_LABEL}", data)
        me = mine.rsplit("/", 1)[-1]
        glog.info(
            "contender.cpp:268",
            f"New candidate (id='{zk.sequence_of(me)}') has entered the contest for leadership",
        )
        wakeup = zk.Wakeup(client, url.path)
        while True:
            zk.tolerant(lambda: self.zk_round(client, url.path, me), "leader detection")
            wakeup.wait(0.5)

    @staticmethod
    def join_group(client: KazooClient, prefix: str, data: bytes) -> str:
        """An EPHEMERAL_SEQUENTIAL member znode. A path whose ACL refuses these credentials
        (another digest user's /mesos, a wrong password) ends the master, as a failed
        candidacy does; the wording follows Mesos' sources (no captured sample has it)."""
        try:
            return str(client.create(prefix, data, ephemeral=True, sequence=True, makepath=True))
        except NoAuthError:
            glog.exit_with(
                "master.cpp:2121",
                f"Failed to contend: Failed to create ephemeral node at '{prefix}' in "
                "ZooKeeper: not authenticated",
            )

    def zk_round(self, client: KazooClient, path: str, me: str) -> None:
        nodes = zk.master_nodes(client, path)
        if me not in nodes:
            glog.exit_with("master.cpp:2162", "Lost candidacy as a leading master")
        leading = zk.leading_master(client, path)
        was_leader = self.is_leader()
        if leading is not None and leading[1] != self.leader:
            glog.info(
                "detector.cpp:152", f"Detected a new leader: (id='{zk.sequence_of(leading[0])}')"
            )
        self.leader = leading[1] if leading else None
        if was_leader and not self.is_leader():
            glog.exit_with("master.cpp:2174", "Lost leadership... committing suicide!")
        if self.is_leader() and not was_leader:
            self.become_leader()
        try:
            self.replicas = len(client.get_children(f"{path}/log_replicas"))
        except NoNodeError:  # no log replicas with the in-memory registry
            self.replicas = 0
        if self.is_leader() and not self.recovered:
            self.check_recovery()

    def lost_session(self) -> None:
        glog.exit_with(
            "master.cpp:2162", "Lost candidacy as a leading master: ZooKeeper session expired"
        )

    # ----- agent and framework bookkeeping ----------------------------------------------

    def pull_registry(self) -> None:
        """A standby's copy of the leader's registry (the replicated log's stand-in)."""
        leader = self.leader
        if leader is None or self.is_leader():
            return
        if time.monotonic() - self.registry.last_pull < PULL_INTERVAL:
            return
        self.registry.last_pull = time.monotonic()
        address = leader.get("address") or {}
        with contextlib.suppress(Unreachable, ValueError, OSError):
            status, _, body = request(str(address.get("ip")), int(address.get("port", 5050)),
                                      "GET", f"{PRIVATE}/registry", timeout=2)
            if status == 200:
                with self.lock:
                    self.registry.replace(json.loads(body))

    def monitor(self) -> None:
        """Mark silent agents/frameworks disconnected; remove agents after the ping timeouts."""
        limit = parse_duration(self.flags.get("agent_ping_timeout", "15secs")) * int(
            self.flags.get("max_agent_ping_timeouts", "5")
        )
        while True:
            time.sleep(0.5)
            self.pull_registry()
            now = time.monotonic()
            with self.lock:
                for agent in list(self.agents.values()):
                    silent = now - agent.last_ping
                    if silent > limit:
                        glog.info(
                            "master.cpp:8251",
                            f"Marking agent {agent.id} unreachable: health check timed out",
                        )
                        del self.agents[agent.id]
                        self.registry.mark_unreachable(agent.id)
                        self.unreachable += 1
                        self.lose_tasks_of(agent, "health check timed out", unreachable=True)
                    elif silent > DISCONNECTED_AFTER and agent.active:
                        glog.info(
                            "master.cpp:1617",
                            f"Agent {agent.id} at {agent.pid} ({agent.hostname}) disconnected",
                        )
                        agent.active = False
                if self.is_leader():
                    for agent_id in self.registry.overdue():
                        glog.info("master.cpp:2313", f"Marking agent {agent_id} unreachable: "
                                  "did not reregister within the timeout")
                        self.registry.mark_unreachable(agent_id)
                        self.unreachable += 1
                for framework in self.frameworks.values():
                    if framework.active and now - framework.last_ping > DISCONNECTED_AFTER:
                        framework.active = False
                        self.rescind_offers(framework)

    def register_agent(self, body: dict) -> Response:
        if not self.is_leader() or not self.recovered:
            return json_response(
                {"action": "retry", "message": "not the recovered leading master"}, 503
            )
        self.counters[
            "messages_register_slave" if not body.get("id") else "messages_reregister_slave"
        ] += 1
        agent_pid = f"slave(1)@{body['ip']}:{body['port']}"
        principal = None
        if body.get("credential"):
            glog.info("master.cpp:9801", f"Authenticating {agent_pid}")
            principal = verify(body["credential"], self.credentials)
            if principal is None:
                glog.info(
                    "master.cpp:9838",
                    f"Authentication of {agent_pid} was unsuccessful: Invalid credentials",
                )
                return json_response(
                    {"action": "exit", "message": f"Master {self.pid} refused authentication"}, 403
                )
            glog.info(
                "master.cpp:9833",
                f"Successfully authenticated principal '{principal}' at {agent_pid}",
            )
        elif is_true(self.flags, "authenticate_agents"):
            glog.warning(
                "master.cpp:6275",
                f"Refusing registration of agent at {agent_pid} because it is not authenticated",
            )
            return json_response({"action": "retry", "message": "agent is not authenticated"}, 403)
        if not self.authorized("register_agents", principal, None):
            glog.warning(
                "master.cpp:6275",
                f"Refusing registration of agent at {agent_pid}: principal '{principal}' is not "
                "authorized to register agents",
            )
            return json_response({"action": "retry", "message": "agent is not authorized"}, 403)
        machine = (str(body["hostname"]).lower(), str(body["ip"]))
        if self.maintenance.is_down(machine):
            reason = f"Agent attempted to register on a machine '{body['hostname']}' that is `DOWN`"
            glog.warning(
                "master.cpp:6290", f"Refusing registration of agent at {agent_pid}: {reason}"
            )
            return json_response({"action": "shutdown", "reason": reason}, 403)
        return self._admit(body, principal)

    def _admit(self, body: dict, principal: str | None) -> Response:
        now = time.time()
        with self.lock:
            known = self.agents.get(str(body.get("id") or ""))
            if body.get("id"):
                agent_id = str(body["id"])
                registered = known.registered_time if known else now
                reregistered: float | None = now
            else:
                agent_id = f"{self.id}-S{self.agent_count}"
                self.agent_count += 1
                registered, reregistered = now, None
            agent = Agent(
                id=agent_id,
                hostname=str(body["hostname"]),
                ip=str(body["ip"]),
                port=int(body["port"]),
                resources=Resources.from_json(body["resources"]),
                attributes=dict(body.get("attributes") or {}),
                registered_time=registered,
                reregistered_time=reregistered,
                principal=principal,
            )
            if known is not None:
                for framework in self.frameworks.values():
                    self.rescind_offers(framework, agent_id)
            self.agents[agent_id] = agent
            self.registry.admit(agent_id, agent.hostname)
            self.shutdowns.pop(agent_id, None)
            self.reconcile_agent(agent, list(body.get("tasks") or []))
        if reregistered is None:
            self.counters["slave_registrations"] += 1
            glog.info(
                "master.cpp:6540",
                f"Registered agent {agent_id} at {agent.pid} ({agent.hostname}) "
                f"with {agent.describe()}",
            )
        else:
            self.counters["slave_reregistrations"] += 1
            glog.info(
                "master.cpp:7189",
                f"Re-registered agent {agent_id} at {agent.pid} ({agent.hostname}) "
                f"with {agent.describe()}",
            )
        return json_response(
            {
                "id": agent_id,
                "master": self.pid,
                "master_hostname": self.hostname,
                "reregistered": reregistered is not None,
            }
        )

    def reconcile_agent(self, agent: Agent, reported: list[dict]) -> None:
        """What the master knows runs on `agent` against what the agent reports (lock held)."""
        running = {(str(e["framework_id"]), str(e["task"]["task_id"]["value"]))
                   for e in reported}
        for framework in list(self.frameworks.values()):
            for task in [t for t in framework.tasks.values() if t.agent_id == agent.id]:
                if (framework.id, task.id) in running:
                    agent.used = agent.used.plus(task.resources)
                    continue
                state = "TASK_DROPPED" if framework.partition_aware else "TASK_LOST"
                self.master_update(framework, task, state, "REASON_RECONCILIATION",
                                   "Task is unknown to the agent")
        self.learn_tasks(agent, reported)

    def agent_ping(self, body: dict) -> Response:
        agent_id = str(body.get("id", ""))
        with self.lock:
            if agent_id in self.shutdowns:
                return json_response({"action": "shutdown", "reason": self.shutdowns.pop(agent_id)})
            agent = self.agents.get(agent_id)
            if agent is None or not self.is_leader():
                return json_response({"action": "reregister"}, 404)
            agent.last_ping = time.monotonic()
            agent.active = True
        return json_response({})

    def agent_disconnected(self, body: dict) -> Response:
        with self.lock:
            agent = self.agents.get(str(body.get("id", "")))
            if agent is not None:
                agent.active = False
                glog.info(
                    "master.cpp:1617",
                    f"Agent {agent.id} at {agent.pid} ({agent.hostname}) disconnected",
                )
        return json_response({})

    def register_framework(self, body: dict) -> Response:
        if not self.is_leader() or not self.recovered:
            return json_response(
                {"action": "retry", "message": "not the recovered leading master"}, 503
            )
        principal = None
        if body.get("credential"):
            principal = verify(body["credential"], self.credentials)
            if principal is None:
                return json_response(
                    {"action": "exit", "message": f"Master {self.pid} refused authentication"}, 403
                )
        elif is_true(self.flags, "authenticate_frameworks"):
            message = (
                f"Refusing subscription of framework '{body.get('name')}': it is not authenticated"
            )
            glog.warning("master.cpp:2598", message)
            return json_response({"action": "exit", "message": message}, 403)
        roles = [str(r) for r in body.get("roles") or [body.get("role", "*")]]
        refused = [r for r in roles if not self.authorized("register_frameworks", principal, r)]
        if refused:
            message = (
                f"Refusing subscription of framework '{body.get('name')}': principal "
                f"'{principal}' is not authorized to use the roles {', '.join(refused)}"
            )
            glog.warning("master.cpp:2598", message)
            return json_response({"action": "exit", "message": message}, 403)
        now = time.time()
        with self.lock:
            framework_id = str(body.get("id") or "")
            reregistered = now if framework_id else None
            if not framework_id:
                framework_id = f"{self.id}-{self.framework_count:04d}"
                self.framework_count += 1
            if any(f.id == framework_id for f in self.completed_frameworks):
                return json_response(
                    {"action": "exit", "message": "Framework has been removed"}, 403
                )
            known = self.frameworks.get(framework_id)
            framework = Framework(
                id=framework_id,
                name=str(body.get("name", "")),
                hostname=str(body.get("hostname", "")),
                webui_url=str(body.get("webui_url", "")),
                user=str(body.get("user", "root")),
                role=str(body.get("role", "*")),
                failover_timeout=float(body.get("failover_timeout", 0)),
                checkpoint=bool(body.get("checkpoint", False)),
                principal=principal,
                registered_time=known.registered_time if known and not known.recovered else now,
                reregistered_time=reregistered,
                pid=str(body.get("pid", "")),
                capabilities=[str(c) for c in body.get("capabilities") or []],
            )
            if known is not None:
                # A failed-over scheduler keeps its tasks; offers made to the old one are gone.
                self.rescind_offers(known)
                framework.tasks = known.tasks
                framework.completed_tasks = known.completed_tasks
                framework.events = known.events
            self.frameworks[framework_id] = framework
        verb = "Re-registered" if reregistered else "Registered"
        glog.info("master.cpp:3073", f"{verb} framework {framework_id} ({body.get('name')})")
        return json_response({"id": framework_id, "master": self.pid, "master_info": self.info})

    # ----- HTTP ---------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        if req.path.startswith(PRIVATE + "/"):
            return self.private(req)
        agent = req.headers.get("User-Agent", "")
        glog.info(
            "http.cpp:1436",
            f"HTTP {req.method} for {req.path} from {req.client} with User-Agent='{agent}'",
        )
        endpoint = endpoint_name(req.path)
        if endpoint is None:
            return not_found()
        realm, leader_only = ENDPOINTS[endpoint]
        if realm is not None and not self.authenticated(req, realm):
            return unauthorized(realm)
        if endpoint == "redirect" or (leader_only and not self.is_leader()):
            return self.redirect(req, endpoint)
        return self.serve(endpoint, req)

    def authorized(self, action: str, principal: str | None, obj: str | None) -> bool:
        return self.acls is None or self.acls.allows(action, principal, obj)

    @staticmethod
    def http_principal(req: Request) -> str | None:
        given = req.basic_auth()
        return given[0] if given else None

    def machines_allowed(self, action: str, req: Request, machines: list[dict]) -> list[dict]:
        principal = self.http_principal(req)
        return [m for m in machines
                if self.authorized(action, principal, machine_object(m))]

    def authenticated(self, req: Request, realm: str) -> bool:
        flag = "authenticate_http_readonly" if realm == READONLY else "authenticate_http_readwrite"
        if not is_true(self.flags, flag):
            return True
        given = req.basic_auth()
        return bool(given and self.credentials and self.credentials.get(given[0]) == given[1])

    def redirect(self, req: Request, endpoint: str) -> Response:
        leader = self.leader
        if leader is None:
            return text_response(503, "No leader elected")
        host = leader.get("hostname") or leader["address"]["ip"]
        base = f"//{host}:{leader['port']}"
        return redirect_response(base if endpoint == "redirect" else base + req.path)

    def serve(self, endpoint: str, req: Request) -> Response:
        simple = {
            "health": empty_response,
            "webui": self.webui,
            "version": lambda: json_response(version_json()),
            "metrics/snapshot": lambda: json_response(self.metrics()),
            "flags": lambda: json_response({"flags": self.flags}),
        }
        if endpoint in simple:
            return simple[endpoint]()
        views = {
            "state": self.state,
            "slaves": self.slaves,
            "frameworks": self.frameworks_view,
            "state-summary": self.summary,
            "tasks": lambda: {"tasks": [t.json() for t in self.all_tasks()]},
        }
        if endpoint in views:
            with self.lock:
                return json_response(views[endpoint]())
        if endpoint.startswith("maintenance/"):
            return self.maintenance_endpoint(endpoint, req)
        if endpoint.startswith("machine/"):
            return self.machine_endpoint(endpoint, req)
        return self.teardown(req)

    def private(self, req: Request) -> Response:
        handlers = {
            "/agent/register": self.register_agent,
            "/agent/ping": self.agent_ping,
            "/agent/update": self.agent_update,
            "/agent/disconnect": self.agent_disconnected,
            "/framework/register": self.register_framework,
            "/framework/poll": self.framework_poll,
            "/framework/accept": self.framework_accept,
            "/framework/decline": self.framework_decline,
            "/framework/revive": self.framework_revive,
            "/framework/suppress": self.framework_suppress,
            "/framework/kill": self.framework_kill,
            "/framework/reconcile": self.framework_reconcile,
            "/framework/teardown": self.framework_teardown,
        }
        if req.path == f"{PRIVATE}/registry" and req.method == "GET":
            with self.lock:
                return json_response(self.registry.json())
        handler = handlers.get(req.path[len(PRIVATE) :])
        if handler is None or req.method != "POST":
            return not_found()
        try:
            body = req.json()
        except ValueError:
            return text_response(400, "bad JSON")
        return handler(body)

    def webui(self) -> Response:
        index = Path(self.flags.get("webui_dir", "/usr/share/mesos/webui")) / "index.html"
        if not index.is_file():
            return not_found()
        return Response(200, index.read_bytes(), "text/html")

    # ----- views ----------------------------------------------------------------------

    def state(self) -> dict[str, object]:
        out: dict[str, object] = state_header()
        out["start_time"] = self.start_time
        if self.elected_time is not None and self.is_leader():
            out["elected_time"] = self.elected_time
        out.update({"id": self.id, "pid": self.pid, "hostname": self.hostname})
        if self.flags.get("cluster"):
            out["cluster"] = self.flags["cluster"]
        active = sum(1 for a in self.agents.values() if a.active)
        out.update(
            {
                "capabilities": list(MASTER_CAPABILITIES),
                "activated_slaves": float(active),
                "deactivated_slaves": float(len(self.agents) - active),
                "unreachable_slaves": float(self.unreachable),
            }
        )
        if self.leader is not None:
            out["leader"] = self.leader["pid"]
            out["leader_info"] = {
                k: self.leader[k] for k in ("id", "pid", "port", "hostname") if k in self.leader
            }
        for key in ("log_dir", "external_log_file"):
            if self.flags.get(key):
                out[key] = self.flags[key]
        out.update(
            {
                "flags": self.flags,
                "slaves": [a.state_json() for a in self.agents.values()],
                "recovered_slaves": [],
                "frameworks": [f.json(self.agents) for f in self.frameworks.values()],
                "completed_frameworks": [f.json(self.agents) for f in self.completed_frameworks],
                "orphan_tasks": [],
                "unregistered_frameworks": [],
            }
        )
        return out

    def all_tasks(self) -> list:
        out = []
        for framework in self.frameworks.values():
            out += list(framework.tasks.values()) + framework.completed_tasks
        return out

    def tasks_on(self, agent_id: str) -> list:
        return [t for t in self.all_tasks() if t.agent_id == agent_id]

    def slaves(self) -> dict[str, object]:
        return {"slaves": [a.slaves_json() for a in self.agents.values()], "recovered_slaves": []}

    def frameworks_view(self) -> dict[str, object]:
        return {
            "frameworks": [f.json(self.agents) for f in self.frameworks.values()],
            "completed_frameworks": [f.json(self.agents) for f in self.completed_frameworks],
            "unregistered_frameworks": [],
        }

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"hostname": self.hostname}
        if self.flags.get("cluster"):
            out["cluster"] = self.flags["cluster"]
        out["slaves"] = [a.summary_json(self.tasks_on(a.id)) for a in self.agents.values()]
        out["frameworks"] = [
            {
                k: v
                for k, v in f.json().items()
                if k not in ("tasks", "unreachable_tasks", "completed_tasks", "offers", "executors")
            }
            for f in self.frameworks.values()
        ]
        return out

    def metrics(self) -> dict[str, float]:
        with self.lock:
            agents = list(self.agents.values())
            frameworks = list(self.frameworks.values())
            tasks = self.all_tasks()
            offers = sum(len(f.offers) for f in frameworks)
        active = sum(1 for a in agents if a.active)
        values: dict[str, float] = {
            "master/elected": 1.0 if self.is_leader() else 0.0,
            "master/uptime_secs": time.time() - self.start_time,
            "master/slaves_active": active,
            "master/slaves_inactive": len(agents) - active,
            "master/slaves_connected": active,
            "master/slaves_disconnected": len(agents) - active,
            "master/slaves_unreachable": self.unreachable,
            "master/frameworks_active": sum(1 for f in frameworks if f.active),
            "master/frameworks_inactive": sum(1 for f in frameworks if not f.active),
            "master/frameworks_connected": sum(1 for f in frameworks if f.active),
            "master/frameworks_disconnected": sum(1 for f in frameworks if not f.active),
            "registrar/log/recovered": 1.0 if self.recovered else 0.0,
            "registrar/log/ensemble_size": float(self.replicas),
        }
        for name in ("cpus", "mem", "disk", "gpus"):
            total = sum(a.resources.totals().get(name, 0.0) for a in agents)
            used = sum(a.used.scalars.get(name, 0.0) for a in agents)
            values[f"master/{name}_total"] = total
            values[f"master/{name}_used"] = used
            values[f"master/{name}_percent"] = used / total if total else 0.0
            if name != "gpus":
                values[f"allocator/mesos/resources/{name}/total"] = total
                values[f"allocator/mesos/resources/{name}/offered_or_allocated"] = used + sum(
                    a.offered.scalars.get(name, 0.0) for a in agents)
        for state, count in Counter(t.state for t in tasks).items():
            values[f"master/{state.lower().replace('task_', 'tasks_', 1)}"] = count
        values["master/outstanding_offers"] = offers
        for key, count in self.counters.items():
            values[f"master/{key}"] = count
        return snapshot(master_keys(), values)

    # ----- operator endpoints -----------------------------------------------------------

    def maintenance_endpoint(self, endpoint: str, req: Request) -> Response:
        # Reads show only the machines the principal may see; writes on any other are 403.
        if endpoint == "maintenance/status":
            return json_response(self.visible_status(req))
        if req.method == "GET":
            return json_response(self.visible_schedule(req))
        if req.method != "POST":
            return method_not_allowed(["GET", "POST"], req.method)
        return self.update_schedule(req)

    def update_schedule(self, req: Request) -> Response:
        try:
            schedule = req.json() or {}
            machines = [m for w in schedule.get("windows", []) or []
                        for m in w.get("machine_ids", [])]
            if len(self.machines_allowed("update_maintenance_schedules", req, machines)) \
                    < len(machines):
                return empty_response(403)
            self.maintenance.set_schedule(schedule)
        except MaintenanceError as exc:
            return text_response(400, str(exc))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return text_response(
                400, f"Failed to convert JSON into MaintenanceSchedule protobuf: {exc}"
            )
        return empty_response()

    def machine_endpoint(self, endpoint: str, req: Request) -> Response:
        if req.method != "POST":
            return method_not_allowed(["POST"], req.method)
        try:
            machines = req.json()
            action = "stop_maintenances" if endpoint == "machine/up" else "start_maintenances"
            if len(self.machines_allowed(action, req, list(machines))) < len(machines):
                return empty_response(403)
            if endpoint == "machine/up":
                self.maintenance.machines_up(machines)
                return empty_response()
            keys = self.maintenance.machines_down(machines)
        except MaintenanceError as exc:
            return text_response(400, str(exc))
        except (ValueError, TypeError, AttributeError) as exc:
            return text_response(400, f"Failed to convert JSON into MachineIDs protobuf: {exc}")
        for key in keys:
            self.shut_down_machine(key)
        return empty_response()

    def visible_schedule(self, req: Request) -> dict:
        windows = []
        for window in self.maintenance.schedule_json().get("windows", []):
            shown = self.machines_allowed("get_maintenance_schedules", req, window["machine_ids"])
            if shown:
                windows.append({**window, "machine_ids": shown})
        return {"windows": windows} if windows else {}

    def visible_status(self, req: Request) -> dict:
        status = self.maintenance.status_json()
        draining = [d for d in status.get("draining_machines", [])
                    if self.machines_allowed("get_maintenance_statuses", req, [d["id"]])]
        down = self.machines_allowed("get_maintenance_statuses", req,
                                     status.get("down_machines", []))
        return {**({"draining_machines": draining} if draining else {}),
                **({"down_machines": down} if down else {})}

    def shut_down_machine(self, machine: tuple[str, str]) -> None:
        reason = "Operator initiated 'Machine DOWN'"
        with self.lock:
            doomed = [a for a in self.agents.values() if a.machine == machine]
            for agent in doomed:
                glog.info(
                    "master.cpp:10815",
                    f"Removing agent {agent.id} at {agent.pid} ({agent.hostname}): {reason}",
                )
                del self.agents[agent.id]
                self.registry.remove(agent.id)
                self.shutdowns[agent.id] = reason
                self.counters["slave_removals"] += 1
                self.lose_tasks_of(agent, reason)
        for agent in doomed:  # tell it now, like the real ShutdownMessage; pings are the fallback
            threading.Thread(target=self._push_shutdown, args=(agent, reason), daemon=True).start()

    def _push_shutdown(self, agent: Agent, reason: str) -> None:
        body = {"master": self.pid, "reason": reason}
        with contextlib.suppress(Unreachable):
            post_json(agent.ip, agent.port, f"{PRIVATE}/shutdown", body, timeout=2)

    def teardown(self, req: Request) -> Response:
        if req.method != "POST":
            return method_not_allowed(["POST"], req.method)
        form = urllib.parse.parse_qs(req.body.decode())
        framework_id = (form.get("frameworkId") or [""])[0]
        with self.lock:
            framework = self.frameworks.get(framework_id)
            if framework is None:
                return text_response(400, f"No framework found with specified ID: '{framework_id}'")
        if not self.authorized("teardown_frameworks", self.http_principal(req),
                               framework.principal):
            return empty_response(403)
        self.remove_framework(framework, notify=True)
        return empty_response()


def machine_object(machine: dict) -> str:
    """A machine as the object of a maintenance ACL: its host name, or its IP without one."""
    hostname, ip = machine_key(machine)
    return hostname or ip


TOP_LEVEL = {"/": "webui", "/version": "version", "/metrics/snapshot": "metrics/snapshot"}


def endpoint_name(path: str) -> str | None:
    """'/master/state', '/state', '/state.json' ... -> 'state'; None if not a master endpoint.
    /version and /metrics/snapshot belong to other libprocess processes: top level only."""
    if path in TOP_LEVEL:
        return TOP_LEVEL[path]
    name = path[len("/master") :] if path.startswith("/master/") else path
    name = name.strip("/")
    if name.endswith(".json"):
        name = name[: -len(".json")]
    return name if name in ENDPOINTS and name not in TOP_LEVEL.values() else None


def check_startup(flags: dict[str, str]) -> None:
    """The real master's start-up checks and EXIT messages (main.cpp)."""
    glog.info("main.cpp:243", f"Build: {BUILD['build_date']} by {BUILD['build_user']}")
    glog.info("main.cpp:244", f"Version: {VERSION}")
    glog.info("main.cpp:251", f"Git SHA: {BUILD['git_sha']}")
    glog.info("main.cpp:345", f"Using '{flags.get('allocator', 'hierarchical').lower()}' allocator")
    replicated = flags.get("registry", "replicated_log") == "replicated_log"
    if replicated and not flags.get("work_dir"):
        glog.exit_with("main.cpp:360", "--work_dir needed for replicated log based registry")
    if replicated and flags.get("zk") and not flags.get("quorum"):
        glog.exit_with(
            "main.cpp:374",
            "Need to specify --quorum for replicated log based registry when using ZooKeeper",
        )
    for realm, flag in (
        (READONLY, "authenticate_http_readonly"),
        (READWRITE, "authenticate_http_readwrite"),
    ):
        if is_true(flags, flag) and not flags.get("credentials"):
            glog.exit_with(
                "main.cpp:520",
                "Failed to initialize HTTP authenticators: No credentials provided for the default "
                f"'basic' HTTP authenticator for realm '{realm}'",
            )
    if flags.get("work_dir"):
        Path(flags["work_dir"]).mkdir(parents=True, exist_ok=True)


def main(argv: list[str]) -> int:
    table = FlagTable("mesos-master")
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
    glog.configure("mesos-master", flags.get("log_dir"), is_true(flags, "quiet"))
    catch_signals()
    check_startup(flags)
    try:
        master = Master(flags)
    except (OSError, ValueError) as exc:
        glog.exit_with("main.cpp:483", f"Failed to initialize: {exc}")
    try:
        server = HttpServer(flags.get("ip") or "0.0.0.0", master.port, master.handle)  # noqa: S104 - like libprocess
    except OSError as exc:
        glog.exit_with(
            "process.cpp:1145",
            f"Failed to initialize: Failed to bind on {flags.get('ip')}:{master.port}: {exc}",
        )
    glog.info(
        "master.cpp:452", f"Master {master.id} ({master.hostname}) started on {master.pid[7:]}"
    )
    glog.info(
        "master.cpp:455", "Flags at startup: " + " ".join(f'--{k}="{v}"' for k, v in flags.items())
    )
    server.start()
    start_thread(master.monitor, "monitor")
    start_thread(master.allocator, "allocator")
    target = master.run_zookeeper if flags.get("zk") else master.run_standalone
    start_thread(target, "election")
    return run_until_signal()
