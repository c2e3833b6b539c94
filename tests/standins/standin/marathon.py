"""marathon: smack TEST STAND-IN for Marathon 1.11 (not Marathon).

- start-up: as the real launcher and JVM (marathon_launcher.py): the start hook line, libmesos
  with the Java bindings (else exit 107), options from MARATHON_* variables and the command
  line (marathon_flags.py; Scallop errors exit 1), Java 16+ needs --add-opens in JAVA_OPTS
  (else exit 107), then the configuration listing in the log;
- HA: Curator-style leader latch `_c_<uuid>-latch-<seq>` (data "host:port") under
  <--zk path>/leader-curator; the lowest sequence leads. A standby forwards EVERY request to
  the leader, as Marathon's LeaderProxyFilter does ("/*"), and adds `X-Marathon-Via: 1.1
  <itself>` to the leader's answer -- so /v2/info says `elected: true` on every instance, and
  only the header tells who answered (issue 13);
- Mesos: the leader registers as framework --framework_name with the leading master and runs
  apps as tasks (marathon_scheduler.py); a refused framework credential exits 106;
- HTTP: the samples' headers (marathon_http.py); --http_credentials (or the
  MESOSPHERE_HTTP_CREDENTIALS variable) guards every endpoint, /ping included, with Jetty's
  401 page and realm "null".
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoAuthError, NoNodeError
from kazoo.security import READ_ACL_UNSAFE

from . import zk
from .auth import sign
from .client import Unreachable, request
from .common import ZkUrl, parse_zk_url
from .httpd import HttpServer, Request, Response
from .lifecycle import start_thread
from .marathon_api import AppsApi
from .marathon_apps import Store
from .marathon_flags import ScallopError, config_lines, env_arguments, help_text, parse
from .marathon_http import (
    accepts_json,
    answer,
    jetty_error,
    not_acceptable,
    pong,
    redirect,
    unauthorized,
)
from .marathon_launcher import after_options, before_options, log
from .marathon_scheduler import Scheduler

VERSION = "1.11.24"
# The real buildref is the source commit; the stand-in's says what it is.
BUILDREF = "smack-standin"
METRICS_TEMPLATE = Path(__file__).resolve().parent / "data" / "marathon-metrics.json"
LATCH = "leader-curator"
ELECTION = "mesosphere.marathon.core.election.CuratorElectionStream$:MarathonSchedulerService"


class Marathon:
    def __init__(self, conf: dict[str, object]) -> None:
        self.conf = conf
        self.started = time.monotonic()
        self.port = int(str(conf["http_port"]))
        self.hostname = str(conf.get("hostname") or socket.gethostname())
        self.me = f"{self.hostname}:{self.port}"
        self.zk_url: ZkUrl = parse_zk_url(str(conf["zk"]))
        self.leader: str | None = None
        self.elected = False
        self.mesos_leader: str | None = None
        self.store: Store | None = None
        self.scheduler = Scheduler(self)
        self.api = AppsApi(self)
        user, _, password = str(conf.get("http_credentials") or "").partition(":")
        self.http_user = (user, password) if user else None
        self.abdicate = threading.Event()
        self._mesos_client: KazooClient | None = None

    # ----- ZooKeeper: state and leader latch -------------------------------------------

    def run(self) -> None:
        session = int(str(self.conf.get("zk_session_timeout", 10000))) / 1000
        client = zk.connect(
            self.zk_url, session, on_lost=self.lost_session, acl=zk.marathon_acl(self.zk_url)
        )
        state = f"{self.zk_url.path}/state"
        latch = f"{self.zk_url.path}/{LATCH}"
        try:
            self.store = Store(client, state)
            client.get_children(state)
            client.ensure_path(latch, acl=self.latch_acl())
        except NoAuthError:
            # Another digest user's znodes, or a wrong password: Marathon cannot read its state.
            # Wording after Curator's KeeperException (no captured sample has this case).
            log("ERROR", "org.apache.zookeeper.KeeperException$NoAuthException: "
                f"KeeperErrorCode = NoAuth for {state}", "mesosphere.marathon.MarathonApp:main")
            self.abdicate_and_exit(1)
        start_thread(self.scheduler.mesos_loop, "mesos")
        start_thread(self.scheduler.tick_loop, "scheduling")
        if not self.conf.get("ha", True):
            self.take_leadership()
            return
        wakeup = zk.Wakeup(client, latch)
        log("INFO", "Starting leader latch", ELECTION)
        while True:
            mine = self.join_latch(client, latch)
            while not self.abdicate.is_set():
                zk.tolerant(partial(self.latch_round, client, latch, mine), "leader latch")
                wakeup.wait(0.5)
            self.abdicate.clear()
            self.elected = False
            with contextlib.suppress(KazooException):
                client.delete(mine)
            log("INFO", "Abdicated leadership; rejoining the leader latch", ELECTION)

    def join_latch(self, client: KazooClient, latch: str) -> str:
        node = f"{latch}/_c_{uuid.uuid4()}-latch-"
        return client.create(node, self.me.encode(), acl=self.latch_acl(), ephemeral=True,
                             sequence=True, makepath=True)

    def latch_acl(self) -> list:
        """Marathon lets the world read who leads; its state stays the creator's."""
        acl = zk.marathon_acl(self.zk_url)
        return acl if not self.zk_url.auth else [*acl, *READ_ACL_UNSAFE]

    def latch_round(self, client: KazooClient, latch: str, mine: str) -> None:
        children = sorted(client.get_children(latch), key=zk.sequence_of)
        if mine.rsplit("/", 1)[-1] not in children:
            log("ERROR", "Lost leadership (latch node gone); exiting", ELECTION)
            os._exit(1)
        try:
            data, _ = client.get(f"{latch}/{children[0]}")
            self.leader = data.decode()
        except NoNodeError:  # the leader just left; the next round sees the new one
            self.leader = None
        if children[0] == mine.rsplit("/", 1)[-1] and not self.elected:
            self.take_leadership()

    def take_leadership(self) -> None:
        self.scheduler.load()
        self.api.groups = {}
        for app_id, app in self.scheduler.apps.items():
            self.api.touch_groups(app_id, str(app.get("version")))
        self.leader = self.me
        self.elected = True
        log("INFO", "As new leader running the driver",
            "mesosphere.marathon.MarathonSchedulerService:pool-1-thread-1")

    def lost_session(self) -> None:
        if self.elected:
            log("ERROR", "ZooKeeper session lost while leading; abdicating", ELECTION)
            os._exit(1)

    def abdicate_and_exit(self, code: int) -> None:
        log("INFO", f"shutting down with exit code {code}",
            "mesosphere.marathon.core.base.RichRuntime:scala-execution-context-global-48")
        sys.stdout.flush()
        os._exit(code)

    # ----- Mesos --------------------------------------------------------------------------

    def mesos_master(self) -> tuple[str, int, str] | None:
        """(ip, port, pid) of the leading Mesos master, found like the scheduler driver does."""
        spec = str(self.conf["master"]).removeprefix("http://").removeprefix("https://").rstrip("/")
        if not spec.startswith("zk://"):
            host, _, port = spec.rpartition(":")
            return host, int(port or 5050), f"master@{host}:{port or 5050}"
        url = parse_zk_url(spec)
        if self._mesos_client is None:
            self._mesos_client = zk.connect(url, 10.0)
        leading = zk.leading_master(self._mesos_client, url.path)
        if leading is None:
            return None
        info = leading[1]
        return info["address"]["ip"], int(info["port"]), str(info["pid"])

    def credential(self) -> dict[str, str]:
        principal = str(self.conf.get("mesos_authentication_principal") or "")
        secret = str(self.conf.get("mesos_authentication_secret") or "")
        if self.conf.get("mesos_authentication_secret_file"):
            # Marathon reads the file as it is: a trailing newline is part of the secret.
            secret = Path(str(self.conf["mesos_authentication_secret_file"])).read_text()
        return sign(principal, secret)

    def features(self) -> list[str]:
        return [f for f in str(self.conf.get("enable_features") or "").split(",") if f]

    # ----- HTTP ---------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        if self.http_user is not None and req.basic_auth() != self.http_user:
            return unauthorized(req.path)
        if not self.elected:
            return self.proxy(req)
        if (req.path.startswith("/v2/") or req.path == "/metrics") and not accepts_json(req):
            return not_acceptable(self.me)
        routes: dict[str, Callable[[], Response]] = {
            "/ping": lambda: pong(self.me),
            "/": lambda: redirect(self.me, f"http://{self.me}/ui/"),
            "/v2/leader": lambda: self.leader_resource(req),
            "/metrics": lambda: answer(200, self.metrics(), self.me, vary=True, chunked=True),
        }
        if req.method == "GET":
            routes["/v2/info"] = lambda: answer(200, self.info(), self.me, vary=True)
        route = routes.get(req.path)
        return route() if route else self.api.handle(req)

    def leader_resource(self, req: Request) -> Response:
        if req.method == "DELETE":
            self.abdicate.set()
            return answer(200, {"message": "Leadership abdicated"}, self.me)
        return answer(200, {"leader": self.leader}, self.me, vary=True)

    def proxy(self, req: Request) -> Response:
        """Forward to the leader like Marathon's LeaderProxyFilter: same method, path, query,
        headers (but Host and Connection) and body; the leader's answer with every header it
        had, plus X-Marathon-Via."""
        leader = self.leader
        if leader is None or leader == self.me:
            return jetty_error(503, "Could not determine the current leader", req.path)
        via = f"1.1 {self.me}"
        if via in req.headers.get_all("X-Marathon-Via", []):
            return jetty_error(502, "Detected proxying loop.", req.path)
        host, _, port = leader.rpartition(":")
        query = "&".join(f"{k}={v}" for k, values in req.query.items() for v in values)
        path = req.path + (f"?{query}" if query else "")
        headers = {k: v for k, v in req.headers.items() if k.lower() not in ("host", "connection")}
        headers["X-Marathon-Via"] = via
        try:
            status, answer_headers, body = request(host, int(port), req.method, path,
                                                   body=req.body or None, headers=headers,
                                                   timeout=10)
        except Unreachable:
            return jetty_error(502, "Connection to leader refused.", req.path)
        kept = [(k, v) for k, v in answer_headers
                if k.lower() not in ("date", "content-length", "transfer-encoding")]
        return Response(status, body, None, [*kept, ("X-Marathon-Via", via)], order="given",
                        reason="" if status == 422 else None)

    def info(self) -> dict[str, object]:
        conf = self.conf

        def num(name: str, default: int) -> int:
            return int(str(conf.get(name, default)))

        mesos_ui = None
        if self.mesos_leader:
            mesos_ui = f"http://{self.mesos_leader.split('@', 1)[-1]}/"
        return {
            "name": "marathon",
            "version": VERSION,
            "buildref": BUILDREF,
            "elected": self.elected,
            "leader": self.leader,
            "frameworkId": self.scheduler.framework_id if self.elected else None,
            "marathon_config": {
                "access_control_allow_origin": conf.get("access_control_allow_origin"),
                "checkpoint": conf.get("checkpoint", True),
                "decline_offer_duration": num("decline_offer_duration", 120000),
                "default_network_name": conf.get("default_network_name"),
                "env_vars_prefix": conf.get("env_vars_prefix"),
                "executor": conf.get("executor", "//cmd"),
                "failover_timeout": num("failover_timeout", 604800),
                "features": self.features(),
                "framework_name": conf.get("framework_name", "marathon"),
                "ha": conf.get("ha", True),
                "hostname": self.hostname,
                "launch_token": num("launch_token", 100),
                "launch_token_refresh_interval": num("launch_token_refresh_interval", 30000),
                "leader_proxy_connection_timeout_ms": num("leader_proxy_connection_timeout",
                                                          5000),
                "leader_proxy_read_timeout_ms": num("leader_proxy_read_timeout", 10000),
                "local_port_max": num("local_port_max", 20000),
                "local_port_min": num("local_port_min", 10000),
                "master": conf["master"],
                "max_instances_per_offer": num("max_instances_per_offer", 5),
                "mesos_bridge_name": conf.get("mesos_bridge_name", "mesos-bridge"),
                "mesos_heartbeat_failure_threshold": num("mesos_heartbeat_failure_threshold", 5),
                "mesos_heartbeat_interval": num("mesos_heartbeat_interval", 15000),
                "mesos_leader_ui_url": mesos_ui,
                "mesos_role": conf.get("mesos_role") or "*",
                "mesos_user": conf.get("mesos_user") or _user(),
                "new_group_enforce_role": conf.get("new_group_enforce_role", "Off"),
                "min_revive_offers_interval": num("min_revive_offers_interval", 5000),
                "offer_matching_timeout": num("offer_matching_timeout", 3000),
                "on_elected_prepare_timeout": num("on_elected_prepare_timeout", 180000),
                "reconciliation_initial_delay": num("reconciliation_initial_delay", 15000),
                "reconciliation_interval": num("reconciliation_interval", 600000),
                "scale_apps_initial_delay": num("scale_apps_initial_delay", 15000),
                "scale_apps_interval": num("scale_apps_interval", 300000),
                "store_cache": conf.get("store_cache", True),
                "task_launch_confirm_timeout": num("task_launch_confirm_timeout", 300000),
                "task_launch_timeout": num("task_launch_timeout", 300000),
                "task_lost_expunge_initial_delay": num("task_lost_expunge_initial_delay", 300000),
                "task_lost_expunge_interval": num("task_lost_expunge_interval", 30000),
                "task_reservation_timeout": num("task_reservation_timeout", 20000),
                "webui_url": conf.get("webui_url"),
                "maintenance_mode": conf.get("maintenance_mode", True),
            },
            "zookeeper_config": {
                "zk": conf["zk"],
                "zk_compression": conf.get("zk_compression", True),
                "zk_compression_threshold": num("zk_compression_threshold", 65536),
                "zk_connection_timeout": num("zk_connection_timeout", 10000),
                "zk_max_node_size": num("zk_max_node_size", 1024000),
                "zk_max_versions": num("zk_max_versions", 50),
                "zk_session_timeout": num("zk_session_timeout", 10000),
                "zk_timeout": num("zk_timeout", 10000),
            },
            "http_config": {"http_port": self.port, "https_port": num("https_port", 8443)},
        }

    def metrics(self) -> dict[str, object]:
        """Real Marathon 1.11's /metrics key set (data/marathon-metrics.json, from the captured
        samples): every name from the start, 0 where the stand-in measures nothing. Names the
        real daemon does not have are never added."""
        prefix = self.conf.get("metrics_name_prefix", "marathon")
        s = self.scheduler
        with s.lock:
            running = sum(i.state == "TASK_RUNNING" for i in s.instances.values())
            staged = sum(i.state == "TASK_STAGING" for i in s.instances.values())
            apps = len(s.apps)
            counted = dict(s.counters)
        doc = json.loads(_metrics_template())
        doc.pop("_comment", None)
        for name, count in counted.items():
            if name in doc["counters"]:
                doc["counters"][name]["count"] = count
        measured = {
            "marathon.apps.active.gauge": apps,
            "marathon.instances.running.gauge": running,
            "marathon.instances.staged.gauge": staged,
            "marathon.deployments.active.gauge": len(s.deployments),
            "marathon.uptime.gauge.seconds": round(time.monotonic() - self.started, 3),
        }
        for name, value in measured.items():
            if name in doc["gauges"]:
                doc["gauges"][name]["value"] = value
        return {key: ({k.replace("marathon.", f"{prefix}.", 1): v for k, v in section.items()}
                      if isinstance(section, dict) else section)
                for key, section in doc.items()}


@functools.cache
def _metrics_template() -> str:
    """Read once; every /metrics answer is a fresh document parsed from it."""
    return METRICS_TEMPLATE.read_text()


def _user() -> str:
    import getpass

    return getpass.getuser()


def main(argv: list[str]) -> int:
    environ = dict(os.environ)
    major = before_options(argv, environ)
    try:
        conf = parse(env_arguments(environ) + argv)
    except ScallopError as exc:
        sys.stdout.flush()
        sys.stderr.write(f"[scallop] Error: {exc}\n")
        return 1
    if conf.get("help"):
        sys.stdout.write(help_text())
        return 0
    if not conf.get("http_credentials") and environ.get("MESOSPHERE_HTTP_CREDENTIALS"):
        conf["http_credentials"] = environ["MESOSPHERE_HTTP_CREDENTIALS"]
    after_options(major, environ)
    marathon = Marathon(conf)
    address = str(conf.get("http_address") or "0.0.0.0")  # noqa: S104 - Marathon's default
    log("INFO", f"Starting Marathon {VERSION}/{BUILDREF} (smack test stand-in)")
    log("INFO", "Marathon configuration: (* suffix means value was explicitly supplied, and not "
                "defaulted)\n" + "\n".join(config_lines(conf)))
    try:
        server = HttpServer(address, marathon.port, marathon.handle)
    except OSError as exc:
        log("ERROR", f"Failed to bind {address}:{marathon.port}: {exc}")
        return 107
    server.start()
    start_thread(marathon.run, "zookeeper")
    received: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: received.append(signum))
    signal.signal(signal.SIGINT, lambda signum, _frame: received.append(signum))
    while not received:
        time.sleep(0.2)
    log("INFO", "Shutting down services", "mesosphere.marathon.MarathonApp:shutdownHook3")
    sys.stdout.flush()
    os._exit(128 + received[0])  # the JVM exits 143 on SIGTERM
