"""`smack status` and `smack verify`.

Parsing is checked against captured answers: the real Mesos 1.11 samples in
tests/reference/real-mesos-samples (read through tests.standins.harness, as the stand-ins'
tests read them) and ZooKeeper 3.9.5's own `srvr` answer (tests/unit/data/status, see
PROVENANCE.txt there). A leader's or follower's `srvr` differs from the standalone one only in
the lines ZooKeeper's StatCommand writes differently, so those variants are derived here.
Kafka's cluster description is built with kafka-python's own response type, so the keys are
the ones the client returns.

Whole runs go against small servers on 127.0.0.1-3 (one "node" per loopback address): a TCP
server answering `srvr`, and HTTP servers answering the Mesos, Marathon and Spark paths, with
basic auth where the real services require it. The inventory is the one smack renders.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from infra import cli, status
from infra.ansible import HostStats, PlaybookResult
from infra.config import parse_settings
from infra.credentials import credentials_file, ensure_credentials
from infra.errors import AnsibleRunError, SmackError
from infra.inventory import render_inventory, write_inventory
from infra.nodes.model import Node
from infra.status import (
    HttpAnswer,
    MarathonAnswer,
    MesosAgentAnswer,
    MesosMasterAnswer,
    Outcome,
    ProbeError,
    StackInventory,
    collect_status,
)
from tests.standins.harness import free_port, sample_headers, sample_json, samples
from tests.support.settings import parse_only

pytestmark = [
    pytest.mark.unit,
    # kafka-python loads its protocol schemas through importlib.resources' legacy calls.
    pytest.mark.filterwarnings("ignore:(read|open)_text is deprecated:DeprecationWarning"),
]

DATA = Path(__file__).parent / "data" / "status"
STACK = "statustest"
ADDRESSES = {"node-1": "127.0.0.1", "node-2": "127.0.0.2", "node-3": "127.0.0.3"}
MESOS_PLUS = ("zookeeper", "mesos_master", "mesos_agent", "marathon", "spark")


def standalone_srvr() -> str:
    return (DATA / "zookeeper-3.9.5-srvr-standalone.txt").read_text()


def srvr_as(mode: str) -> str:
    """The captured answer as a node of an ensemble gives it (a leader adds proposal sizes)."""
    text = standalone_srvr().replace("Mode: standalone", f"Mode: {mode}")
    if mode == "leader":
        text += "Proposal sizes last/min/max: -1/-1/-1\n"
    return text


def raw(name: str) -> bytes:
    return (samples() / name).read_bytes()


def marathon_raw(name: str) -> bytes:
    return (samples().parent / "real-marathon-samples" / name).read_bytes()


# ------------------------------------------------------------------------------ parsing


def test_srvr_of_a_real_standalone_server() -> None:
    assert status.parse_srvr(standalone_srvr()) == ("standalone", "3.9.5")


@pytest.mark.parametrize("mode", ["leader", "follower", "observer"])
def test_srvr_of_ensemble_members(mode: str) -> None:
    assert status.parse_srvr(srvr_as(mode)) == (mode, "3.9.5")


@pytest.mark.parametrize(("answer", "state"), [
    ("This ZooKeeper instance is not currently serving requests\n", "not serving requests"),
    ((DATA / "zookeeper-3.9.5-ruok-not-allowed.txt").read_text().replace("ruok", "srvr"),
     "not an allowed four-letter word"),
    ("", "unexpected srvr answer"),
    ("HTTP/1.1 400 Bad Request\r\n", "unexpected srvr answer: HTTP/1.1 400"),
])
def test_srvr_that_does_not_serve_names_the_reason(answer: str, state: str) -> None:
    with pytest.raises(ProbeError, match=state):
        status.parse_srvr(answer)


@pytest.mark.parametrize(("modes", "members", "problem"), [
    (["leader", "follower", "follower"], 3, None),
    (["standalone"], 1, None),
    (["follower", "follower"], 3, "0 of the 2 answering nodes lead"),
    (["leader", "leader", "follower"], 3, "2 of the 3 answering nodes lead"),
    ([], 3, None),  # nobody answered: the rows say so already
])
def test_an_ensemble_needs_one_leader(modes: list[str], members: int,
                                      problem: str | None) -> None:
    found = status.zookeeper_problems(modes, members)
    assert found == ([] if problem is None else [found[0]])
    if problem:
        assert problem in found[0]


def real_leader_answer() -> MesosMasterAnswer:
    return MesosMasterAnswer(
        health=HttpAnswer(int(raw("master-health.status")), raw("master-health.body")),
        version=HttpAnswer(int(raw("master-version.status")), raw("master-version.raw.json")),
        state=HttpAnswer(int(raw("master-state.status")), raw("master-state.raw.json")))


def test_a_real_leading_master() -> None:
    role, state, version, leader_state = status.mesos_master_view(real_leader_answer())
    assert (role, state, version) == ("leader", "up", "1.11.0")
    assert leader_state is not None
    assert leader_state["pid"] == leader_state["leader"] == "master@127.0.0.1:5050"


def test_a_real_standby_master_redirects_to_the_leader() -> None:
    code, headers = sample_headers("follower-master-state")
    answer = MesosMasterAnswer(
        health=HttpAnswer(int(raw("follower-master-health.status"))),
        version=HttpAnswer(200, raw("master-version.raw.json")),
        state=HttpAnswer(code, raw("follower-master-state.body"), dict(headers)["Location"]))
    assert status.mesos_master_view(answer)[:3] == ("standby", "up", "1.11.0")


def test_a_refused_operator_credential_is_the_state() -> None:
    code, _ = sample_headers("auth-master-state-wrongpw")
    answer = MesosMasterAnswer(
        health=HttpAnswer(int(raw("auth-master-health-noauth.status"))),
        version=HttpAnswer(200, raw("master-version.raw.json")),
        state=HttpAnswer(code, raw("auth-master-state-wrongpw.body")))
    with pytest.raises(ProbeError, match=r"operator credential refused \(401\)"):
        status.mesos_master_view(answer)


def test_a_master_without_health_is_unhealthy() -> None:
    with pytest.raises(ProbeError, match="/master/health answered 503"):
        status.mesos_master_view(MesosMasterAnswer(HttpAnswer(503)))


def test_agents_are_found_in_the_real_leader_state_by_pid() -> None:
    agents = sample_json("master-state.json")["slaves"]
    found = status.find_agent(agents, "127.0.0.1", 5051)
    assert found is not None and found["id"].endswith("-S0")
    assert status.find_agent(agents, "127.0.0.1", 5052) is None
    assert status.find_agent(agents, "127.0.0.2", 5051) is None
    after_failover = sample_json("fo-master2-slaves-after.json")["slaves"]
    assert status.find_agent(after_failover, "127.0.0.1", 5067) is not None


def inventory_of(groups: dict[str, list[str]], **group_vars: Any) -> StackInventory:
    hosts = {name: status.Host(name, ADDRESSES[name]) for name in ADDRESSES}
    return StackInventory(STACK, Path("/nonexistent/hosts.yml"), hosts, groups,
                          dict(group_vars))


def test_agent_rows_from_the_leader_state() -> None:
    slave = sample_json("master-state.json")["slaves"][0]
    registered = [
        {**slave, "pid": "slave(1)@127.0.0.1:5051"},
        {**slave, "pid": "slave(1)@127.0.0.2:5051", "active": False},
    ]
    inv = inventory_of({"mesos_agents": ["node-1", "node-2", "node-3"]})
    real = HttpAnswer(200, raw("agent-version.json"))
    outcomes = {("mesos_agent", n): Outcome(MesosAgentAnswer(HttpAnswer(200), real))
                for n in ADDRESSES}
    rows = status.mesos_agent_status(inv, outcomes, {"slaves": registered}).rows
    assert [(r.state, r.version, r.healthy) for r in rows] == [
        ("up", "1.11.0", True),
        ("registered but inactive", "1.11.0", False),
        ("not registered at the leader", "1.11.0", False),
    ]
    # The stand-in names itself where the real build names its builder.
    standin = {**json.loads(raw("agent-version.json")), "build_user": "smack-standin"}
    outcomes[("mesos_agent", "node-1")] = Outcome(MesosAgentAnswer(
        HttpAnswer(200), HttpAnswer(200, json.dumps(standin).encode())))
    rows = status.mesos_agent_status(inv, outcomes, {"slaves": registered}).rows
    assert rows[0].version == "1.11.0 (stand-in)" and rows[1].version == "1.11.0"
    without_leader = status.mesos_agent_status(inv, outcomes, None).rows
    assert {r.state for r in without_leader} == {"unknown (no leading master to ask)"}


def marathon_info(by_leader: bool, leader: str | None = "127.0.0.1:8080",
                  framework: str | None = "fw-1") -> dict[str, Any]:
    # The fields of Marathon 1.11's /v2/info that status reads. A standby forwards the request
    # to the leader, so every instance that knows a leader says elected: true.
    return {"name": "marathon", "version": "1.11.24", "elected": bool(leader),
            "leader": leader, "frameworkId": framework if leader else None,
            "answered_by_leader": by_leader}


@pytest.mark.parametrize(("infos", "problems"), [
    ({"a": marathon_info(True), "b": marathon_info(False)}, []),
    ({"a": marathon_info(True), "b": marathon_info(False, "127.0.0.2:8080")},
     ["instances disagree on the leader (127.0.0.1:8080, 127.0.0.2:8080)"]),
    ({"a": marathon_info(False), "b": marathon_info(False)},
     ["0 answering instances lead (none); exactly one must"]),
    ({"a": marathon_info(True), "b": marathon_info(True)},
     ["2 answering instances lead (a, b); exactly one must"]),
    ({"a": marathon_info(True, framework=None)},
     ["the leader a is not registered with Mesos (no frameworkId)"]),
])
def test_marathon_needs_one_registered_leader(infos: dict[str, dict[str, Any]],
                                              problems: list[str]) -> None:
    assert status.marathon_problems(infos) == problems


def test_marathon_answers() -> None:
    """A real leader's /v2/info; the same body forwarded by a standby (X-Marathon-Via)."""
    info = marathon_raw("v2-info.raw.json")
    pong = HttpAnswer(200, marathon_raw("ping.body"))
    leader = status.marathon_view(MarathonAnswer(pong, HttpAnswer(200, info)))
    assert leader["version"] == "1.11.24" and leader["answered_by_leader"] is True
    standby = status.marathon_view(
        MarathonAnswer(pong, HttpAnswer(200, info, via="1.1 198.19.78.11:8080")))
    assert standby["elected"] is True and standby["answered_by_leader"] is False
    assert status.marked("1.11.24", leader) == "1.11.24"
    assert status.marked("1.11.24", {"buildref": "smack-standin"}) == "1.11.24 (stand-in)"
    with pytest.raises(ProbeError, match=r"credential refused \(401\)"):
        status.marathon_view(MarathonAnswer(HttpAnswer(401)))
    with pytest.raises(ProbeError, match="not JSON"):
        status.marathon_view(MarathonAnswer(HttpAnswer(200), HttpAnswer(200, b"<html>")))


def describe_cluster(*brokers: tuple[int, str, int, bool]) -> dict[str, Any]:
    """What kafka-python's KafkaAdminClient.describe_cluster() returns, built by its own type."""
    from kafka.protocol.admin.cluster import DescribeClusterResponse

    entry = DescribeClusterResponse.DescribeClusterBroker
    response = DescribeClusterResponse(
        throttle_time_ms=0, error_code=0, error_message=None, endpoint_type=1, cluster_id="c",
        controller_id=brokers[0][0],
        brokers=[entry(broker_id=i, host=h, port=p, rack=None, is_fenced=f)
                 for i, h, p, f in brokers])
    out = response.to_dict()
    for key in ("error_code", "error_message", "endpoint_type", "throttle_time_ms"):
        out.pop(key)  # describe_cluster() drops these too
    return dict(out)


def test_kafka_rows_from_the_cluster_description() -> None:
    cluster = describe_cluster((1, "127.0.0.1", 9092, False), (2, "127.0.0.2", 9092, True))
    inv = inventory_of({"kafka": list(ADDRESSES)}, kafka_version="4.1.1")
    outcomes = {("kafka", n): Outcome(cluster) for n in ADDRESSES}
    rows = status.kafka_status(inv, outcomes).rows
    assert [(r.role, r.state, r.version, r.healthy) for r in rows] == [
        ("broker 1", "up", "4.1.1", True),
        ("broker 2", "fenced", "4.1.1", False),
        ("broker", "not in the cluster metadata", "4.1.1", False),
    ]


class FakeBroker:
    """Answers one ApiVersions request the way a broker does, using kafka-python's types."""

    def __init__(self, answer: Callable[[int], bytes]) -> None:
        self.requests: list[Any] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, args=(answer,), daemon=True)
        self.thread.start()

    def serve(self, answer: Callable[[int], bytes]) -> None:
        from kafka.protocol.metadata.api_versions import ApiVersionsRequest

        conn, _ = self.server.accept()
        with conn:
            size = int.from_bytes(conn.recv(4), "big")
            frame = size.to_bytes(4, "big") + conn.recv(size)
            request = ApiVersionsRequest.decode(frame, version=0, header=True, framed=True)
            self.requests.append(request.header)
            conn.sendall(answer(request.header.correlation_id))

    def close(self) -> None:
        self.thread.join(5)
        self.server.close()


def api_versions_answer(correlation_id: int, error: int = 0) -> bytes:
    from kafka.protocol.metadata.api_versions import ApiVersionsResponse

    key = ApiVersionsResponse.ApiVersion
    response = ApiVersionsResponse(error_code=error, version=0, api_keys=[
        key(api_key=3, min_version=0, max_version=12),
        key(api_key=60, min_version=0, max_version=2)])
    response.with_header(correlation_id=correlation_id)
    return bytes(response.encode(header=True, framed=True))


def test_kafka_api_versions_speaks_the_protocol() -> None:
    broker = FakeBroker(api_versions_answer)
    try:
        versions = status.kafka_api_versions("127.0.0.1", broker.port, timeout=2)
    finally:
        broker.close()
    assert versions == {3: (0, 12), 60: (0, 2)}
    header = broker.requests[0]
    assert (header.request_api_key, header.request_api_version, header.client_id) == \
        (18, 0, "smack-status")


@pytest.mark.parametrize(("answer", "state"), [
    (lambda cid: api_versions_answer(cid + 1), "wrong correlation id"),
    (lambda cid: api_versions_answer(cid, error=35), "Kafka error code 35"),
    (lambda cid: api_versions_answer(cid)[:12], "closed the connection"),
    (lambda cid: b"\x00\x00\x00\x02ok", "truncated"),
])
def test_kafka_answers_that_are_not_a_brokers(answer: Callable[[int], bytes],
                                               state: str) -> None:
    broker = FakeBroker(answer)
    try:
        with pytest.raises(ProbeError, match=state):
            status.kafka_api_versions("127.0.0.1", broker.port, timeout=2)
    finally:
        broker.close()


def test_cassandra_rows_from_system_local() -> None:
    inv = inventory_of({"cassandra": ["node-1", "node-2"]})
    outcomes = {
        ("cassandra", "node-1"): Outcome({"release_version": "5.0.6", "data_center": "east",
                                          "rack": "r1"}),
        ("cassandra", "node-2"): Outcome(error="down (connection refused)"),
    }
    rows = status.cassandra_status(inv, outcomes).rows
    assert [(r.role, r.state, r.version, r.endpoint) for r in rows] == [
        ("east/r1", "up", "5.0.6", "127.0.0.1:9042"),
        ("-", "down (connection refused)", "5.0.6", "127.0.0.2:9042"),
    ]


def spark_master_json(*workers: tuple[str, str]) -> dict[str, Any]:
    # The fields Spark 3.5's standalone master writes on /json/ (JsonProtocol.writeMasterState).
    return {
        "url": "spark://127.0.0.1:7077", "aliveworkers": sum(s == "ALIVE" for _, s in workers),
        "cores": 2, "coresused": 0, "memory": 1024, "memoryused": 0, "activeapps": [],
        "completedapps": [], "activedrivers": [], "completeddrivers": [], "status": "ALIVE",
        "workers": [{"id": f"worker-{i}", "host": host, "port": 40000 + i,
                     "webuiaddress": f"http://{host}:8181", "cores": 2, "coresused": 0,
                     "memory": 1024, "memoryused": 0, "state": state, "lastheartbeat": 0}
                    for i, (host, state) in enumerate(workers)],
    }


def test_spark_workers_as_the_master_lists_them() -> None:
    # A restarted worker leaves a DEAD entry next to its new ALIVE one.
    master = spark_master_json(("127.0.0.1", "DEAD"), ("127.0.0.1", "ALIVE"),
                               ("127.0.0.2", "DEAD"))
    inv = inventory_of({"spark": list(ADDRESSES)}, spark_version="3.5.8",
                       spark_history_enabled=False)
    outcomes = {("spark_master", "node-1"): Outcome(HttpAnswer(200,
                                                               json.dumps(master).encode()))}
    rows = status.spark_status(inv, outcomes).rows
    assert [(r.node, r.role, r.state, r.healthy) for r in rows] == [
        ("node-1", "master", "up", True),
        ("node-1", "worker", "up", True),
        ("node-2", "worker", "dead", False),
        ("node-3", "worker", "not registered at the master", False),
    ]
    assert rows[0].endpoint == "spark://127.0.0.1:7077"


def test_spark_on_mesos_has_only_the_history_server() -> None:
    inv = inventory_of({"spark": ["node-2", "node-3"]}, spark_cluster_manager="mesos",
                       spark_version="3.5.8")
    probes = status.plan_probes(inv)
    assert list(probes) == [("spark_history", "node-2")]
    outcomes = {("spark_history", "node-2"): Outcome(HttpAnswer(200, b'{"spark": "3.5.8"}'))}
    rows = status.spark_status(inv, outcomes).rows
    assert [(r.node, r.role, r.state, r.version) for r in rows] == [
        ("node-2", "history", "up", "3.5.8")]


def test_templated_values_fall_back_to_the_role_defaults() -> None:
    inv = inventory_of({"spark": ["node-2", "node-3"]},
                       spark_master_host="{{ groups['spark'] | first }}",
                       zookeeper_client_port="{{ 2000 + 181 }}")
    assert status._spark_master(inv) == inv.hosts["node-2"]
    assert inv.port("zookeeper", "zookeeper_client_port") == 2181
    chosen = inventory_of({"spark": ["node-2", "node-3"]}, spark_master_host="node-3")
    assert status._spark_master(chosen) == chosen.hosts["node-3"]


def test_connection_failures_in_words() -> None:
    assert status.reason(ConnectionRefusedError(111, "Connection refused")) == \
        "down (connection refused)"
    assert status.reason(TimeoutError("timed out")) == "down (timed out)"
    assert status.reason(OSError(113, "No route to host")) == "down (no route to host)"
    assert status.reason(ProbeError("fenced")) == "fenced"


# ------------------------------------------------------------------------------ loopback servers


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # (user, password) the request must carry as basic auth, else 401.
    auth: tuple[str, str] | None = None
    realm: str = "mesos-master-readonly"


class FakeHttp:
    """An HTTP server on address:port answering fixed replies per path; records auth headers."""

    def __init__(self, address: str, port: int, routes: dict[str, Reply],
                 delay: float = 0.0) -> None:
        self.routes = routes
        self.delay = delay
        self.authorizations: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                time.sleep(fake.delay)
                reply = fake.routes.get(self.path.split("?")[0], Reply(404, b"Not Found"))
                given = self.headers.get("Authorization", "")
                fake.authorizations.append(given)
                if reply.auth is not None:
                    expected = base64.b64encode(":".join(reply.auth).encode()).decode()
                    if given != f"Basic {expected}":
                        reply = Reply(401, b"401 Unauthorized.",
                                      {"WWW-Authenticate": f'Basic realm="{reply.realm}"'})
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeZooKeeper:
    """Answers any four-letter word with `answer`, then closes, as ZooKeeper does."""

    def __init__(self, address: str, port: int, answer: str, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.hang = threading.Event()  # set: accept and never answer
        self.stopped = threading.Event()
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.recv(4)
                if fake.hang.is_set():
                    fake.stopped.wait(10)
                    return
                time.sleep(fake.delay)
                self.request.sendall(fake.answer.encode())

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer((address, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Cluster:
    """Fake services of a three-node converged stack, and its rendered inventory."""

    ports: dict[str, int]
    credentials: dict[str, Any]
    zookeeper: dict[str, FakeZooKeeper] = field(default_factory=dict)
    masters: dict[str, FakeHttp] = field(default_factory=dict)
    agents: dict[str, FakeHttp] = field(default_factory=dict)
    marathon: dict[str, FakeHttp] = field(default_factory=dict)
    spark: dict[str, FakeHttp] = field(default_factory=dict)
    prometheus: FakeHttp | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def operator(self) -> tuple[str, str]:
        op = self.credentials["mesos"]["operator"]
        return op["principal"], op["secret"]

    @property
    def marathon_user(self) -> tuple[str, str]:
        http = self.credentials["marathon_http"]
        return http["user"], http["password"]

    @property
    def prometheus_login(self) -> tuple[str, str]:
        login = self.credentials["prometheus"]
        return login["user"], login["password"]

    def leader_state(self, agents: list[str]) -> bytes:
        """The real leader's /master/state, moved to node-1 and listing `agents`."""
        state = sample_json("master-state.json")
        pid = f"master@127.0.0.1:{self.ports['mesos_master']}"
        state.update(pid=pid, leader=pid, hostname="127.0.0.1")
        state["leader_info"].update(pid=pid, port=self.ports["mesos_master"],
                                    hostname="127.0.0.1")
        slave = state["slaves"][0]
        port = self.ports["mesos_agent"]
        state["slaves"] = [{**slave, "id": f"{slave['id'][:-1]}{i}", "hostname": ADDRESSES[n],
                            "port": port, "pid": f"slave(1)@{ADDRESSES[n]}:{port}"}
                           for i, n in enumerate(agents)]
        return json.dumps(state).encode()

    def marathon_info(self, by_leader: bool, framework: str | None = "fw-1") -> Reply:
        """node-1 leads: it answers itself, the standbys forward to it (X-Marathon-Via)."""
        leader = f"127.0.0.1:{self.ports['marathon']}"
        body = marathon_info(by_leader, leader, framework)
        del body["answered_by_leader"]
        headers = {"Content-Type": "application/json"}
        if not by_leader:
            headers["X-Marathon-Via"] = f"1.1 127.0.0.2:{self.ports['marathon']}"
        return Reply(200, json.dumps(body).encode(), headers, auth=self.marathon_user,
                     realm="Mesosphere")

    def close(self) -> None:
        for close in self.closers:
            close()


def free_ports(names: list[str]) -> dict[str, int]:
    """Ports free on all three loopback addresses."""
    ports: dict[str, int] = {}
    for name in names:
        while True:
            port = free_port()
            try:
                for address in ADDRESSES.values():
                    with socket.socket() as sock:
                        sock.bind((address, port))
            except OSError:
                continue
            if port not in ports.values():
                ports[name] = port
                break
    return ports


def write_stack_inventory(directory: Path, services: dict[str, tuple[str, ...]],
                          ports: dict[str, int]) -> Path:
    """The inventory smack renders for these nodes, with the fakes' ports as role vars."""
    port_vars = {
        "zookeeper": {"zookeeper_client_port": ports.get("zookeeper", 2181)},
        "mesos_master": {"mesos_master_port": ports.get("mesos_master", 5050)},
        "mesos_agent": {"mesos_agent_port": ports.get("mesos_agent", 5051)},
        "marathon": {"marathon_http_port": ports.get("marathon", 8080)},
        "kafka": {"kafka_port": ports.get("kafka", 9092)},
        "cassandra": {"cassandra_native_port": ports.get("cassandra", 9042)},
        "spark": {"spark_master_ui_port": ports.get("spark_master_ui", 8180),
                  "spark_history_ui_port": ports.get("spark_history", 18080),
                  "spark_worker_ui_port": ports.get("spark_worker_ui", 8181)},
    }
    settings = parse_settings(STACK, parse_only({
        "smack:target": "local",
        "smack:metrics": {"vars": {"metrics_prometheus_port": ports.get("prometheus", 9090)}},
        "smack:services": {name: {"vars": values} for name, values in port_vars.items()}}))
    nodes = [Node(name=name, address=address, ssh_user="smack", ssh_key_file="/k",
                  group="node", services=services[name], host_key="ssh-ed25519 AAAA",
                  node_id=name)
             for name, address in ADDRESSES.items() if name in services]
    write_inventory(directory, render_inventory(settings, nodes, directory))
    return directory / "hosts.yml"


@pytest.fixture
def stack_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """State and inventories of the test stack under tmp_path; the CLI finds them there."""
    monkeypatch.setenv("SMACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr("infra.status.inventory.inventory_dir",
                        lambda stack: tmp_path / "inventories" / stack)
    return tmp_path / "inventories" / STACK


# Prometheus' /api/v1/alerts entries: one firing, one still pending (not shown).
ALERT = {"labels": {"alertname": "CassandraNodeDown", "node": "node-3", "severity": "critical"},
         "annotations": {"summary": "Cassandra on node-3 is down"}, "state": "firing",
         "activeAt": "2026-12-05T10:00:00Z", "value": "0e+00"}
PENDING = {"labels": {"alertname": "TargetDown", "node": "node-2"}, "annotations": {},
           "state": "pending", "activeAt": "2026-12-05T10:00:10Z", "value": "0e+00"}


def prometheus_reply(c: Cluster, data: dict[str, Any]) -> Reply:
    return Reply(200, json.dumps({"status": "success", "data": data}).encode(),
                 {"Content-Type": "application/json"}, auth=c.prometheus_login,
                 realm="Prometheus")


@pytest.fixture
def cluster(stack_dirs: Path) -> Iterator[Cluster]:
    credentials = ensure_credentials(credentials_file(STACK))
    ports = free_ports(["zookeeper", "mesos_master", "mesos_agent", "marathon",
                        "spark_master_ui", "spark_history", "spark_worker_ui", "prometheus"])
    c = Cluster(ports, credentials)
    write_stack_inventory(stack_dirs, dict.fromkeys(ADDRESSES, MESOS_PLUS), ports)
    try:
        for name, address in ADDRESSES.items():
            mode = "leader" if name == "node-1" else "follower"
            c.zookeeper[name] = FakeZooKeeper(address, ports["zookeeper"], srvr_as(mode))
            c.closers.append(c.zookeeper[name].close)
            if name == "node-1":
                state = Reply(200, c.leader_state(list(ADDRESSES)),
                              {"Content-Type": "application/json"}, auth=c.operator)
            else:
                _, headers = sample_headers("follower-master-state")
                location = dict(headers)["Location"].replace(
                    "localhost:5050", f"127.0.0.1:{ports['mesos_master']}")
                state = Reply(307, b"", {"Location": location}, auth=c.operator)
            c.masters[name] = FakeHttp(address, ports["mesos_master"], {
                "/master/health": Reply(200, raw("master-health.body")),
                "/version": Reply(200, raw("master-version.raw.json"),
                                  {"Content-Type": "application/json"}),
                "/master/state": state,
            })
            c.closers.append(c.masters[name].close)
            c.agents[name] = FakeHttp(address, ports["mesos_agent"], {
                "/health": Reply(int(raw("agent-health.status")), raw("agent-health.body"))})
            c.closers.append(c.agents[name].close)
            c.marathon[name] = FakeHttp(address, ports["marathon"], {
                "/ping": Reply(200, b"pong", auth=c.marathon_user, realm="Mesosphere"),
                "/v2/info": c.marathon_info(by_leader=name == "node-1"),
            })
            c.closers.append(c.marathon[name].close)
        master = spark_master_json(*((a, "ALIVE") for a in ADDRESSES.values()))
        c.spark["master"] = FakeHttp("127.0.0.1", ports["spark_master_ui"], {
            "/json/": Reply(200, json.dumps(master).encode())})
        c.spark["history"] = FakeHttp("127.0.0.1", ports["spark_history"], {
            "/api/v1/version": Reply(200, b'{\n  "spark" : "3.5.8"\n}')})
        c.closers += [c.spark["master"].close, c.spark["history"].close]
        c.prometheus = FakeHttp("127.0.0.1", ports["prometheus"], {
            "/api/v1/targets": prometheus_reply(c, {"activeTargets": [
                {"labels": {"job": "kafka", "node": n}, "health": "up"} for n in ADDRESSES]}),
            "/api/v1/alerts": prometheus_reply(c, {"alerts": [ALERT, PENDING]})})
        c.closers.append(c.prometheus.close)
        yield c
    finally:
        c.close()


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    # The tables at a width where no cell wraps, so the output reads like on a terminal.
    monkeypatch.setattr(cli, "console", Console(width=220, soft_wrap=True))


def rows_of(report: status.StackStatus, service: str) -> list[tuple[str, str, str, str]]:
    found = next(s for s in report.services if s.service == service)
    return [(r.node, r.role, r.state, r.version) for r in found.rows]


@pytest.mark.usefixtures("wide")
def test_a_healthy_stack(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "-s", STACK]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    for title in ("ZooKeeper: healthy", "Mesos masters: healthy", "Mesos agents: healthy",
                  "Marathon: healthy", "Spark: healthy", "Metrics: healthy"):
        assert title in out
    # A firing alert is shown, a pending one not; neither makes the stack unhealthy.
    assert "Alerts firing (1):" in out
    assert "CassandraNodeDown on node-3: Cassandra on node-3 is down" in out
    assert "TargetDown" not in out
    for column in ("node", "role", "state", "version", "endpoint"):
        assert column in out
    assert f"stack {STACK}: 6 services, 18 checks healthy" in out
    secrets = [cluster.operator[1], cluster.marathon_user[1], cluster.prometheus_login[1],
               cluster.credentials["mesos"]["agent"]["secret"]]
    assert not any(secret in out for secret in secrets)

    report = collect_status(STACK)
    assert report.healthy and report.unhealthy() == []
    assert rows_of(report, "zookeeper") == [
        ("node-1", "leader", "up", "3.9.5"), ("node-2", "follower", "up", "3.9.5"),
        ("node-3", "follower", "up", "3.9.5")]
    assert rows_of(report, "mesos_master") == [
        ("node-1", "leader", "up", "1.11.0"), ("node-2", "standby", "up", "1.11.0"),
        ("node-3", "standby", "up", "1.11.0")]
    assert {r[1:] for r in rows_of(report, "mesos_agent")} == {("agent", "up", "1.11.0")}
    assert [r[1] for r in rows_of(report, "marathon")] == ["leader", "standby", "standby"]
    assert [r[1] for r in rows_of(report, "spark")] == ["master", "worker", "worker", "worker",
                                                        "history"]
    assert rows_of(report, "metrics") == [
        ("node-1", "prometheus", "up, 3/3 targets up", "Debian prometheus")]
    data = report.as_dict()
    assert data["healthy"] is True
    assert data["alerts"] == [{"name": "CassandraNodeDown", "node": "node-3",
                               "severity": "critical", "summary": "Cassandra on node-3 is down",
                               "since": "2026-12-05T10:00:00Z"}]
    assert data["services"]["mesos_master"]["rows"][0]["endpoint"] == \
        f"http://127.0.0.1:{cluster.ports['mesos_master']}"
    # The operator credential went with the state requests only; /master/health needs none.
    basic = "Basic " + base64.b64encode(":".join(cluster.operator).encode()).decode()
    assert basic in cluster.masters["node-1"].authorizations
    assert "" in cluster.masters["node-1"].authorizations


@pytest.mark.usefixtures("wide")
def test_an_unhealthy_stack_exits_1_and_says_why(cluster: Cluster,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cluster.zookeeper["node-3"].close()
    cluster.masters["node-1"].routes["/master/state"] = Reply(
        200, cluster.leader_state(["node-1", "node-3"]), auth=cluster.operator)
    cluster.marathon["node-1"].routes["/v2/info"] = cluster.marathon_info(True, framework=None)
    assert cli.main(["status", "-s", STACK]) == 1
    out = capsys.readouterr().out
    assert "ZooKeeper: unhealthy" in out and "Mesos masters: healthy" in out
    assert "down (connection refused)" in out
    assert "not registered at the leader" in out
    assert "the leader node-1 is not registered with Mesos (no frameworkId)" in out
    assert f"stack {STACK}: 3 problem(s)" in out
    report = collect_status(STACK)
    assert report.unhealthy() == [
        "zookeeper node-3 (-): down (connection refused)",
        "mesos_agent node-2 (agent): not registered at the leader",
        "marathon: the leader node-1 is not registered with Mesos (no frameworkId)",
    ]


def test_a_wrong_operator_credential(cluster: Cluster, stack_dirs: Path) -> None:
    path = credentials_file(STACK)
    values = yaml.safe_load(path.read_text())
    wrong = cluster.operator[1][::-1]
    values["mesos"]["operator"].update(secret=wrong)
    path.write_text(yaml.safe_dump(values))
    report = collect_status(STACK)
    assert {r[2] for r in rows_of(report, "mesos_master")} == {
        "operator credential refused (401)"}
    assert {r[2] for r in rows_of(report, "mesos_agent")} == {
        "unknown (no leading master to ask)"}
    assert "mesos_master: 0 of 3 masters lead (none); exactly one must" in report.unhealthy()
    assert not report.healthy
    assert not any(wrong in line for line in report.unhealthy())


def test_the_checks_run_at_once_and_a_silent_node_times_out(cluster: Cluster) -> None:
    for fake in [*cluster.masters.values(), *cluster.agents.values(),
                 *cluster.marathon.values(), *cluster.spark.values()]:
        fake.delay = 0.3
    for zk in cluster.zookeeper.values():
        zk.delay = 0.3
    cluster.zookeeper["node-2"].hang.set()
    started = time.monotonic()
    report = collect_status(STACK, timeout=1.0)
    elapsed = time.monotonic() - started
    # One after the other: 3 x 0.3 (ZooKeeper) + 3 x 0.9 (masters: three requests each)
    # + 3 x 0.3 (agents) + 3 x 0.6 (Marathon) + 2 x 0.3 (Spark) = 6.9 s, plus the timeout.
    assert elapsed < 3.0, elapsed
    assert rows_of(report, "zookeeper")[1][2] == "down (timed out)"
    assert rows_of(report, "mesos_master")[0][1] == "leader"


def test_kafka_and_cassandra_nodes_that_do_not_answer(stack_dirs: Path) -> None:
    ports = free_ports(["kafka", "cassandra"])
    write_stack_inventory(stack_dirs, {"node-1": ("kafka", "cassandra"),
                                       "node-2": ("kafka",)}, ports)
    # node-2's Kafka port accepts connections and says nothing.
    silent = socket.create_server(("127.0.0.2", ports["kafka"]))
    try:
        report = collect_status(STACK, timeout=0.5)
    finally:
        silent.close()
    assert rows_of(report, "kafka") == [
        ("node-1", "broker", "down (connection refused)", "4.1.1"),
        ("node-2", "broker", "down (timed out)", "4.1.1"),
    ]
    assert rows_of(report, "cassandra") == [
        ("node-1", "-", "down (connection refused)", "5.0.6")]
    # node-1 also runs Prometheus (the first node), which does not answer either.
    assert [s.service for s in report.services] == ["kafka", "cassandra", "metrics"]
    assert rows_of(report, "metrics") == [
        ("node-1", "prometheus", "down (connection refused)", "Debian prometheus")]
    assert not report.healthy


@pytest.mark.parametrize("command", ["status", "verify"])
def test_a_stack_without_inventory_exits_2(command: str, stack_dirs: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([command, "-s", STACK]) == 2
    err = capsys.readouterr().err
    assert f"stack {STACK} has no inventory" in err
    assert f"run `smack up -s {STACK}` first" in err
    assert "Traceback" not in err
    with pytest.raises(SmackError, match="has no inventory"):
        collect_status(STACK)


# ------------------------------------------------------------------------------ verify


@pytest.fixture
def inventory(stack_dirs: Path) -> Path:
    return write_stack_inventory(stack_dirs, {"node-1": ("zookeeper",),
                                              "node-2": ("zookeeper",)}, {})


@pytest.mark.usefixtures("wide")
def test_verify_prints_hosts_and_plays(inventory: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[tuple[str, Path, str]] = []

    def run(playbook: str, inv: Path, *, stack: str, **_: Any) -> PlaybookResult:
        calls.append((playbook, inv, stack))
        return PlaybookResult(playbook, {"node-1": HostStats(ok=12), "node-2": HostStats(ok=11)},
                              42.4, plays=[("Verify ZooKeeper", 3.25)])

    monkeypatch.setattr("infra.ansible.run_playbook", run)
    assert cli.main(["verify", "-s", STACK]) == 0
    assert calls == [("verify.yml", inventory, STACK)]
    out = capsys.readouterr().out
    assert "verify.yml: hosts" in out and "Verify ZooKeeper" in out and "3.2" in out
    assert f"stack {STACK}: verified 2 host(s), 0 changed, in 42 s" in out


@pytest.mark.usefixtures("wide", "inventory")
def test_verify_failure_names_host_task_and_message(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    failure = ("node-2: task 'Wait until zookeeper answers ruok with imok' "
               "(roles/zookeeper/tasks/health.yml:7): no imok after 60 polls")

    def run(playbook: str, *_: Any, **__: Any) -> PlaybookResult:
        raise AnsibleRunError(playbook, [failure])

    monkeypatch.setattr("infra.ansible.run_playbook", run)
    assert cli.main(["verify", "-s", STACK]) == 1
    out = capsys.readouterr().out
    assert failure in out
    assert f"stack {STACK}: verify.yml failed (1 failure(s) above)" in out


def test_status_output_fits_a_narrow_terminal(cluster: Cluster) -> None:
    # Cells fold instead of being cut off: every endpoint stays readable at 100 columns.
    buffer = io.StringIO()
    console = Console(file=buffer, width=100)
    for part in status.render(collect_status(STACK)):
        console.print(part)
    text = buffer.getvalue()
    assert f"http://127.0.0.1:{cluster.ports['marathon']}" in text
    assert "…" not in text


def test_prometheus_that_refuses_the_login_or_misses_targets(cluster: Cluster) -> None:
    assert cluster.prometheus is not None
    cluster.prometheus.routes["/api/v1/targets"] = prometheus_reply(cluster, {"activeTargets": [
        {"labels": {"job": "kafka", "node": "node-1"}, "health": "up"},
        {"labels": {"job": "cassandra", "node": "node-3"}, "health": "down"}]})
    report = collect_status(STACK)
    assert rows_of(report, "metrics") == [
        ("node-1", "prometheus", "up, 1/2 targets up (down: cassandra on node-3)",
         "Debian prometheus")]
    basic = "Basic " + base64.b64encode(":".join(cluster.prometheus_login).encode()).decode()
    assert cluster.prometheus.authorizations and \
        set(cluster.prometheus.authorizations) == {basic}

    cluster.credentials["prometheus"]["password"] = "not-it"  # noqa: S105 - a wrong one
    credentials_file(STACK).write_text(yaml.safe_dump(cluster.credentials))
    refused = collect_status(STACK)
    assert rows_of(refused, "metrics")[0][2] == "refused the stack's Prometheus login (401)"
    assert refused.alerts == [] and not refused.healthy
