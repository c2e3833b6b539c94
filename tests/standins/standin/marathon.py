"""marathon: smack TEST STAND-IN for Marathon 1.11. It stores apps but launches nothing.

- options: Scallop-style (marathon_flags.py), MARATHON_* environment via the launcher;
- HA: Curator-style leader latch `_c_<uuid>-latch-<seq>` (data "host:port") under
  <--zk path>/leader-curator; the lowest sequence leads; standbys proxy /v2/* to the leader;
- Mesos: finds the leading master through --master (zk://.../mesos or host:port) and registers
  as framework --framework_name (default "marathon") through the stand-ins' private protocol;
  /v2/info.frameworkId stays null until then (that is "not ready");
- HTTP: /ping, /v2/info, /v2/leader, /v2/apps[/<id>], /v2/deployments, /v2/groups, /v2/tasks,
  /metrics; --http_credentials user:password guards every endpoint including /ping (as
  Marathon 1.x does: mesosphere/marathon issue #7207), realm --http_realm.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import sys
import threading
import time
import uuid
from functools import partial
from pathlib import Path

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError

from . import glog, zk
from .auth import sign
from .client import Unreachable, post_json, request
from .common import PRIVATE, ZkUrl, parse_zk_url
from .httpd import HttpServer, Request, Response, json_response, text_response
from .lifecycle import run_until_signal, start_thread
from .marathon_api import AppsApi
from .marathon_apps import AppStore
from .marathon_flags import ScallopError, env_arguments, help_text, parse

VERSION = "1.11.24"
LATCH = "leader-curator"


class Marathon:
    def __init__(self, conf: dict[str, object]) -> None:
        self.conf = conf
        self.port = int(str(conf["http_port"]))
        self.hostname = str(conf.get("hostname") or socket.gethostname())
        self.me = f"{self.hostname}:{self.port}"
        self.zk_url: ZkUrl = parse_zk_url(str(conf["zk"]))
        self.leader: str | None = None
        self.elected = False
        self.framework_id: str | None = None
        self.mesos_leader: str | None = None
        self.store: AppStore | None = None
        self.api = AppsApi(self)
        user, _, password = str(conf.get("http_credentials") or "").partition(":")
        self.http_user = (user, password) if user else None
        self.abdicate = threading.Event()

    # ----- ZooKeeper: state and leader latch -----------------------------------------------

    def run(self) -> None:
        session = int(str(self.conf.get("zk_session_timeout", 10000))) / 1000
        client = zk.connect(self.zk_url, session, on_lost=self.lost_session)
        self.store = AppStore(client, f"{self.zk_url.path}/state")
        start_thread(self.mesos_loop, "mesos")
        if not self.conf.get("ha", True):
            self.take_leadership()
            return
        latch = f"{self.zk_url.path}/{LATCH}"
        wakeup = zk.Wakeup(client, latch)
        while True:
            mine = self.join_latch(client, latch)
            while not self.abdicate.is_set():
                zk.tolerant(partial(self.latch_round, client, latch, mine), "leader latch")
                wakeup.wait(0.5)
            self.abdicate.clear()
            self.elected = False
            with contextlib.suppress(KazooException):
                client.delete(mine)
            glog.info("ElectionServiceImpl", "Abdicated leadership; rejoining the leader latch")

    def join_latch(self, client: KazooClient, latch: str) -> str:
        node = f"{latch}/_c_{uuid.uuid4()}-latch-"
        return client.create(node, self.me.encode(), ephemeral=True, sequence=True, makepath=True)

    def latch_round(self, client: KazooClient, latch: str, mine: str) -> None:
        children = sorted(client.get_children(latch), key=zk.sequence_of)
        if mine.rsplit("/", 1)[-1] not in children:
            glog.exit_with("ElectionServiceImpl", "Lost leadership (latch node gone); exiting")
        try:
            data, _ = client.get(f"{latch}/{children[0]}")
            self.leader = data.decode()
        except NoNodeError:  # the leader just left; the next round sees the new one
            self.leader = None
        if children[0] == mine.rsplit("/", 1)[-1] and not self.elected:
            self.take_leadership()

    def take_leadership(self) -> None:
        assert self.store is not None
        self.api.load(self.store.load())
        self.framework_id = self.store.framework_id()
        self.leader = self.me
        self.elected = True
        glog.info("ElectionServiceImpl", f"Elected as leader: {self.me}")

    def lost_session(self) -> None:
        if self.elected:
            glog.exit_with(
                "ElectionServiceImpl", "ZooKeeper session lost while leading; abdicating"
            )

    # ----- Mesos: find the leading master, register, heartbeat -----------------------------

    def mesos_master(self) -> tuple[str, int, str] | None:
        """(ip, port, pid) of the leading Mesos master, found like the scheduler driver does."""
        spec = str(self.conf["master"]).removeprefix("http://").removeprefix("https://").rstrip("/")
        if not spec.startswith("zk://"):
            host, _, port = spec.rpartition(":")
            return host, int(port or 5050), f"master@{host}:{port or 5050}"
        url = parse_zk_url(spec)
        client = self.mesos_zk(url)
        leading = zk.leading_master(client, url.path)
        if leading is None:
            return None
        info = leading[1]
        return info["address"]["ip"], int(info["port"]), str(info["pid"])

    _mesos_client: KazooClient | None = None

    def mesos_zk(self, url: ZkUrl) -> KazooClient:
        if self._mesos_client is None:
            self._mesos_client = zk.connect(url, 10.0)
        return self._mesos_client

    def mesos_loop(self) -> None:
        registered_with = None
        while True:
            time.sleep(1.0 if registered_with else 0.5)
            if not self.elected:
                registered_with = None
                continue
            try:
                master = self.mesos_master()
            except KazooException:
                continue  # the Mesos ZooKeeper ensemble is reconnecting
            if master is None:
                self.mesos_leader = None
                registered_with = None
                continue
            if master[2] != registered_with:
                registered_with = master[2] if self.register(master) else None
            elif not self.ping(master):
                registered_with = None

    def framework_body(self) -> dict[str, object]:
        body: dict[str, object] = {
            "id": self.framework_id,
            "name": self.conf.get("framework_name", "marathon"),
            "hostname": self.hostname,
            "webui_url": self.conf.get("webui_url") or f"http://{self.me}",
            "user": self.conf.get("mesos_user") or getpass.getuser(),
            "role": self.conf.get("mesos_role") or "*",
            "failover_timeout": float(str(self.conf.get("failover_timeout", 604800))),
            "checkpoint": bool(self.conf.get("checkpoint", True)),
            "pid": f"scheduler-{uuid.uuid4()}@{self.hostname}",
        }
        if self.conf.get("mesos_authentication"):
            principal = str(self.conf.get("mesos_authentication_principal") or "")
            secret = str(self.conf.get("mesos_authentication_secret") or "")
            if self.conf.get("mesos_authentication_secret_file"):
                secret = (
                    Path(str(self.conf["mesos_authentication_secret_file"])).read_text().strip()
                )
            body["credential"] = sign(principal, secret)
        return body

    def register(self, master: tuple[str, int, str]) -> bool:
        try:
            status, answer = post_json(
                master[0], master[1], f"{PRIVATE}/framework/register", self.framework_body()
            )
        except Unreachable:
            return False
        if status == 403 and (answer or {}).get("action") == "exit":
            glog.exit_with("MarathonScheduler", f"Mesos error: {answer.get('message')}")
        if status != 200:
            return False
        self.framework_id = str(answer["id"])
        self.mesos_leader = master[2]
        if self.store is not None:
            self.store.set_framework_id(self.framework_id)
        glog.info("MarathonScheduler", f"Registered as {self.framework_id} to master '{master[2]}'")
        return True

    def ping(self, master: tuple[str, int, str]) -> bool:
        try:
            status, answer = post_json(
                master[0], master[1], f"{PRIVATE}/framework/ping", {"id": self.framework_id}
            )
        except Unreachable:
            return False
        if status == 403:
            glog.error(
                "MarathonScheduler",
                f"Mesos error: {(answer or {}).get('message')}; removing framework id",
            )
            if self.store is not None:
                self.store.set_framework_id(None)
            glog.exit_with("MarathonScheduler", "Framework has been removed; exiting")
        return status == 200

    # ----- HTTP ---------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        if self.http_user is not None and req.basic_auth() != self.http_user:
            realm = self.conf.get("http_realm", "Mesosphere")
            body = {"message": "Invalid username or password."}
            return json_response(body, 401, [("WWW-Authenticate", f'Basic realm="{realm}"')])
        local = {
            "/ping": lambda: text_response(200, "pong"),
            "/v2/info": lambda: json_response(self.info()),
            "/metrics": lambda: json_response(self.metrics()),
            "/v2/leader": lambda: self.leader_endpoint(req),
        }
        if req.path in local:
            return local[req.path]()
        if not req.path.startswith("/v2/"):
            return json_response({"message": f"Unknown path {req.path}"}, 404)
        if not self.elected:
            return self.proxy(req)
        response = self.api.handle(req)
        response.headers.append(("X-Marathon-Leader", f"http://{self.me}"))
        return response

    def leader_endpoint(self, req: Request) -> Response:
        if req.method == "DELETE":
            if not self.elected:
                return self.proxy(req)
            self.abdicate.set()
            return json_response({"message": "Leadership abdicated"})
        if self.leader is None:
            return json_response({"message": "There is no leader"}, 404)
        return json_response({"leader": self.leader})

    def proxy(self, req: Request) -> Response:
        """Forward to the leader like Marathon's LeaderProxyFilter."""
        if self.leader is None or self.leader == self.me:
            return json_response({"message": "Could not determine the current leader"}, 503)
        host, _, port = self.leader.rpartition(":")
        query = "&".join(f"{k}={v}" for k, values in req.query.items() for v in values)
        path = req.path + (f"?{query}" if query else "")
        headers = {
            k: v for k, v in req.headers.items() if k.lower() in ("authorization", "content-type")
        }
        try:
            status, answer_headers, body = request(
                host,
                int(port),
                req.method,
                path,
                body=req.body or None,
                headers=headers,
                timeout=10,
            )
        except Unreachable:
            return json_response({"message": "Could not reach the current leader"}, 502)
        keep = [(k, v) for k, v in answer_headers if k.lower() in ("location", "x-marathon-leader")]
        content_type = dict((k.lower(), v) for k, v in answer_headers).get("content-type")
        return Response(status, body, content_type, [*keep, ("X-Marathon-Via", f"1.1 {self.me}")])

    def info(self) -> dict[str, object]:
        conf = self.conf
        return {
            "name": "marathon",
            "version": VERSION,
            "buildref": "smack-standin",
            "elected": self.elected,
            "leader": self.leader,
            "frameworkId": self.framework_id if self.elected else None,
            "marathon_config": {
                "master": conf["master"],
                "failover_timeout": int(str(conf.get("failover_timeout", 604800))),
                "framework_name": conf.get("framework_name", "marathon"),
                "ha": conf.get("ha", True),
                "checkpoint": conf.get("checkpoint", True),
                "local_port_min": int(str(conf.get("local_port_min", 10000))),
                "local_port_max": int(str(conf.get("local_port_max", 20000))),
                "executor": conf.get("executor", "//cmd"),
                "hostname": self.hostname,
                "webui_url": conf.get("webui_url"),
                "mesos_role": conf.get("mesos_role"),
                "task_launch_timeout": int(str(conf.get("task_launch_timeout", 300000))),
                "reconciliation_initial_delay": int(
                    str(conf.get("reconciliation_initial_delay", 15000))
                ),
                "reconciliation_interval": int(str(conf.get("reconciliation_interval", 600000))),
                "mesos_user": conf.get("mesos_user") or getpass.getuser(),
                "leader_proxy_connection_timeout_ms": int(
                    str(conf.get("leader_proxy_connection_timeout", 5000))
                ),
                "leader_proxy_read_timeout_ms": int(
                    str(conf.get("leader_proxy_read_timeout", 10000))
                ),
                "features": [f for f in str(conf.get("enable_features") or "").split(",") if f],
                "mesos_leader_ui_url": f"http://{self.mesos_leader[7:]}/"
                if self.mesos_leader
                else None,
            },
            "zookeeper_config": {
                "zk": conf["zk"],
                "zk_timeout": int(str(conf.get("zk_timeout", 10000))),
                "zk_connection_timeout": int(str(conf.get("zk_connection_timeout", 10000))),
                "zk_session_timeout": int(str(conf.get("zk_session_timeout", 10000))),
                "zk_max_versions": int(str(conf.get("zk_max_versions", 50))),
            },
            "http_config": {
                "http_port": self.port,
                "https_port": int(str(conf.get("https_port", 8443))),
            },
        }

    def metrics(self) -> dict[str, object]:
        prefix = self.conf.get("metrics_name_prefix", "marathon")
        return {
            "version": "4.0.0",
            "gauges": {
                f"{prefix}.apps.active.gauge": {"value": len(self.api.apps)},
                f"{prefix}.instances.running.gauge": {"value": 0},
                f"{prefix}.leadership.is-leader.gauge": {"value": 1 if self.elected else 0},
            },
            "counters": {},
            "histograms": {},
            "meters": {},
            "timers": {},
        }


def main(argv: list[str]) -> int:
    try:
        conf = parse(env_arguments(dict(os.environ)) + argv)
    except ScallopError as exc:
        sys.stderr.write(f"[scallop] Error: {exc}\n")
        return 1
    if conf.get("help"):
        sys.stdout.write(help_text())
        return 0
    if conf.get("version"):
        print(VERSION)
        return 0
    marathon = Marathon(conf)
    address = str(conf.get("http_address") or "0.0.0.0")  # noqa: S104 - Marathon's default
    try:
        server = HttpServer(address, marathon.port, marathon.handle)
    except OSError as exc:
        glog.exit_with("MarathonHttpService", f"Failed to bind {address}:{marathon.port}: {exc}")
    glog.info("Main", f"Starting Marathon {VERSION} (smack test stand-in) with {' '.join(argv)}")
    server.start()
    start_thread(marathon.run, "zookeeper")
    return run_until_signal()
