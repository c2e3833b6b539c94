"""Live health of a stack's services, asked from the control machine (`smack status`).

Where to look comes from the stack's generated inventory: hosts and groups from hosts.yml,
ports and versions from group_vars/all.yml (else the roles' defaults), Mesos and Marathon
credentials from the stack's credentials file. Every check is a real request to the service:
ZooKeeper `srvr`, Kafka cluster metadata, CQL, the Mesos, Marathon and Spark HTTP endpoints.

Mesos and Marathon builds that are smack's TEST STAND-INS (tests/standins, which the local
stack installs where no real package can be had) say so in their version fields (/version
build_user, /v2/info buildref); their rows and the closing line are marked "stand-in".

The work is split in three so the logic can be tested without a cluster:
`plan_probes` lists the network calls, `run_probes` makes them concurrently (each bounded by
a short timeout), and the `*_status` functions turn their answers into table rows without
touching the network.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import socket
import ssl
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from infra.cassandra_access import client_options as cassandra_client_options
from infra.credentials import credentials_file
from infra.endpoints import role_defaults
from infra.errors import SmackError
from infra.kafka_access import client_options
from infra.paths import PROJECT_DIR, inventory_dir

T = TypeVar("T")
TIMEOUT_SECONDS = 3.0
MAX_WORKERS = 32

# Service key (also the role whose defaults hold its knobs), its inventory group, its title.
SERVICES: tuple[tuple[str, str, str], ...] = (
    ("zookeeper", "zookeeper", "ZooKeeper"),
    ("mesos_master", "mesos_masters", "Mesos masters"),
    ("mesos_agent", "mesos_agents", "Mesos agents"),
    ("marathon", "marathon", "Marathon"),
    ("kafka", "kafka", "Kafka"),
    ("cassandra", "cassandra", "Cassandra"),
    ("spark", "spark", "Spark"),
)
ZOOKEEPER_MODES = ("leader", "follower", "standalone", "observer", "read-only")
STANDIN_SUFFIX = " (stand-in)"
# What the stand-ins put where the real builds name their builder and source commit.
STANDIN_MARK = "smack-standin"


class ProbeError(Exception):
    """A service answered, but not the way a healthy one does; the message is the state shown."""


# ------------------------------------------------------------------------------ inventory


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    vars: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StackInventory:
    """What `smack status` needs from a stack's inventory and credentials file."""

    stack: str
    path: Path
    hosts: dict[str, Host]
    groups: dict[str, list[str]]
    group_vars: dict[str, Any]
    credentials: dict[str, Any] = field(default_factory=dict)

    def members(self, group: str) -> list[Host]:
        return [self.hosts[name] for name in self.groups.get(group, []) if name in self.hosts]

    def value(self, role: str, key: str, host: Host | None = None) -> Any:
        """A role variable as this stack sets it: host vars, group_vars, then the role default.

        Values that are still Jinja expressions are only meaningful inside Ansible; they are
        skipped so the next source (in the end the plain default) decides.
        """
        for source in (host.vars if host else {}, self.group_vars):
            if key in source and not _templated(source[key]):
                return source[key]
        default = role_defaults(role).get(key)
        return None if _templated(default) else default

    def port(self, role: str, key: str, host: Host | None = None) -> int:
        raw = self.value(role, key, host)
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise SmackError(f"stack {self.stack}: {key} has no usable port ({raw!r}) in "
                             f"{_shown(self.path.parent / 'group_vars' / 'all.yml')} or the "
                             f"{role} role's defaults") from None

    def text(self, role: str, key: str, host: Host | None = None) -> str:
        raw = self.value(role, key, host)
        return "" if raw is None else str(raw)

    def enabled(self, role: str, key: str) -> bool:
        raw = self.value(role, key)
        return raw if isinstance(raw, bool) else str(raw).strip().lower() in ("true", "yes", "1")


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def _shown(path: Path) -> str:
    return str(path.relative_to(PROJECT_DIR)) if path.is_relative_to(PROJECT_DIR) else str(path)


def require_inventory(stack: str, inventory: Path | None = None) -> Path:
    """The stack's hosts.yml; a SmackError saying what to do when there is none."""
    path = inventory or inventory_dir(stack) / "hosts.yml"
    if not path.is_file():
        raise SmackError(f"stack {stack} has no inventory ({_shown(path)}); "
                         f"run `smack up -s {stack}` first")
    return path


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SmackError(f"{_shown(path)} is not valid YAML: {err}") from None


def load_inventory(stack: str, inventory: Path | None = None) -> StackInventory:
    path = require_inventory(stack, inventory)
    doc = _read_yaml(path) or {}
    top = doc.get("all") or {}
    hosts: dict[str, Host] = {}
    for name, hostvars in (top.get("hosts") or {}).items():
        hv = dict(hostvars or {})
        address = str(hv.get("smack_node_address") or hv.get("ansible_host") or name)
        hosts[str(name)] = Host(str(name), address, hv)
    groups = {str(group): [str(h) for h in ((body or {}).get("hosts") or {})]
              for group, body in (top.get("children") or {}).items()}
    vars_path = path.parent / "group_vars" / "all.yml"
    group_vars = dict((_read_yaml(vars_path) or {}) if vars_path.is_file() else {})
    return StackInventory(stack, path, hosts, groups, group_vars,
                          _read_credentials(stack, path.parent, group_vars))


def _read_credentials(stack: str, directory: Path, group_vars: Mapping[str, Any]
                      ) -> dict[str, Any]:
    """The stack's credentials; empty when there are none this program can read.

    A hand-written inventory may keep them in an ansible-vault file: that stays closed here,
    and the Mesos and Marathon checks then report the refused credential.
    """
    configured = str(group_vars.get("smack_credentials_file") or "")
    configured = re.sub(r"\{\{\s*inventory_dir\s*\}\}", str(directory), configured)
    path = Path(configured) if configured and not _templated(configured) \
        else credentials_file(stack)
    try:
        values = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return values if isinstance(values, dict) else {}


def _mesos_operator(inv: StackInventory) -> tuple[str, str] | None:
    entry = ((inv.credentials.get("mesos") or {}).get("operator")) or {}
    if entry.get("principal") and entry.get("secret"):
        return str(entry["principal"]), str(entry["secret"])
    return None


def _kafka_client(inv: StackInventory) -> dict[str, Any]:
    """smack's admin login over TLS when Kafka runs with security; nothing otherwise."""
    if not inv.members("kafka") or not inv.enabled("kafka", "kafka_security"):
        return {}
    ca = str((inv.credentials.get("ca") or {}).get("cert") or "")
    return client_options(inv.credentials, ca)


def _cassandra_client(inv: StackInventory) -> dict[str, Any]:
    """smack's superuser over TLS when Cassandra runs with security; nothing otherwise."""
    if not inv.members("cassandra") or not inv.enabled("cassandra", "cassandra_security"):
        return {}
    ca = str((inv.credentials.get("ca") or {}).get("cert") or "")
    return cassandra_client_options(inv.credentials, ca)


def _marathon_user(inv: StackInventory) -> tuple[str, str] | None:
    entry = inv.credentials.get("marathon_http") or {}
    if entry.get("user") and entry.get("password"):
        return str(entry["user"]), str(entry["password"])
    return None


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Row:
    node: str
    role: str
    state: str
    version: str
    endpoint: str
    healthy: bool


@dataclass
class ServiceStatus:
    service: str
    title: str
    rows: list[Row]
    # Findings about the service as a whole (no leader, two leaders), not about one node.
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems and all(row.healthy for row in self.rows)


@dataclass
class StackStatus:
    stack: str
    services: list[ServiceStatus]
    seconds: float = 0.0

    @property
    def standins(self) -> list[str]:
        """Services whose answering daemons are smack's test stand-ins."""
        return [s.service for s in self.services
                if any(row.version.endswith(STANDIN_SUFFIX) for row in s.rows)]

    @property
    def healthy(self) -> bool:
        return all(service.healthy for service in self.services)

    def unhealthy(self) -> list[str]:
        """One line per unhealthy node and per service-wide problem."""
        out: list[str] = []
        for service in self.services:
            out += [f"{service.service} {row.node} ({row.role}): {row.state}"
                    for row in service.rows if not row.healthy]
            out += [f"{service.service}: {problem}" for problem in service.problems]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "healthy": self.healthy,
            "seconds": round(self.seconds, 2),
            "standins": self.standins,
            "services": {s.service: {"healthy": s.healthy, "problems": list(s.problems),
                                     "rows": [asdict(r) for r in s.rows]}
                         for s in self.services},
        }


@dataclass(frozen=True)
class Outcome:
    """What one probe gave: its value, or why it failed (as shown in the state column)."""

    value: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def _down(outcome: Outcome | None) -> str:
    if outcome is None:
        return "not checked"
    return outcome.error or "down"


def _viewed(outcome: Outcome | None, view: Callable[[Any], T]) -> tuple[T | None, str]:
    """(the probe's answer read by `view`, "") or (None, the state to show for the node)."""
    if outcome is None or not outcome.ok:
        return None, _down(outcome)
    try:
        return view(outcome.value), ""
    except ProbeError as err:
        return None, str(err)


# ------------------------------------------------------------------------------ network calls


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes = b""
    location: str = ""
    # Set when an HA peer answered for another: Marathon's X-Marathon-Via.
    via: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise ProbeError(f"answered {self.status} with a body that is not JSON") from None


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    # A standby Mesos master answers leader-only endpoints with 307 to the leader: that
    # answer is what tells a standby from the leader, so it must not be followed.
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


# No proxies: the nodes are reached directly, like Ansible reaches them.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _KeepRedirects())


def reason(err: BaseException) -> str:
    """Short words for a failed connection, for the state column."""
    if isinstance(err, ProbeError):
        return str(err)
    if isinstance(err, urllib.error.URLError) and isinstance(err.reason, BaseException):
        err = err.reason
    if isinstance(err, TimeoutError):
        return "down (timed out)"
    if isinstance(err, ConnectionRefusedError):
        return "down (connection refused)"
    if isinstance(err, ConnectionResetError):
        return "down (connection reset)"
    if isinstance(err, OSError) and err.strerror:
        return f"down ({err.strerror.lower()})"
    return f"down ({err or type(err).__name__})"


def http_get(url: str, *, auth: tuple[str, str] | None = None,
             timeout: float = TIMEOUT_SECONDS) -> HttpAnswer:
    # Only http:// URLs built from the inventory come here. JSON wanted, but not only: Marathon
    # answers /ping in text and refuses a request that accepts JSON alone where it has none.
    request = urllib.request.Request(url, headers={"Accept": "application/json, */*"})  # noqa: S310
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return HttpAnswer(response.status, response.read(),
                              via=response.headers.get("X-Marathon-Via", "") or "")
    except urllib.error.HTTPError as err:
        return HttpAnswer(err.code, err.read(), err.headers.get("Location", "") or "",
                          err.headers.get("X-Marathon-Via", "") or "")


def tcp_ask(address: str, port: int, payload: bytes, timeout: float = TIMEOUT_SECONDS) -> bytes:
    """Send `payload`, read until the server closes the connection."""
    chunks: list[bytes] = []
    with socket.create_connection((address, port), timeout=timeout) as sock:
        sock.sendall(payload)
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def tcp_open(address: str, port: int, timeout: float = TIMEOUT_SECONDS) -> None:
    with socket.create_connection((address, port), timeout=timeout):
        pass


def _quiet(logger: str) -> None:
    # The client libraries log connection errors themselves; without a handler of their own
    # Python would print them to stderr in the middle of the table.
    log = logging.getLogger(logger)
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())


KAFKA_API_VERSIONS = 18  # the ApiVersions request's key in the Kafka protocol
KAFKA_CLIENT_ID = b"smack-status"


def kafka_api_versions_request(correlation_id: int) -> bytes:
    """ApiVersions v0, framed: every broker answers it, whatever versions it supports."""
    body = struct.pack(">hhih", KAFKA_API_VERSIONS, 0, correlation_id, len(KAFKA_CLIENT_ID))
    body += KAFKA_CLIENT_ID
    return struct.pack(">i", len(body)) + body


def parse_api_versions(frame: bytes, correlation_id: int) -> dict[int, tuple[int, int]]:
    """api key -> (min, max) version from an ApiVersions v0 answer (without its size prefix)."""
    try:
        answered, error = struct.unpack_from(">ih", frame, 0)
        if answered != correlation_id:
            raise ProbeError("down (answer is not Kafka's: wrong correlation id)")
        (count,) = struct.unpack_from(">i", frame, 6)
        keys = [struct.unpack_from(">hhh", frame, 10 + 6 * i) for i in range(count)]
    except struct.error:
        raise ProbeError("down (answer is not Kafka's: truncated)") from None
    if error:
        raise ProbeError(f"ApiVersions refused with Kafka error code {error}")
    return {key: (low, high) for key, low, high in keys}


def kafka_api_versions(address: str, port: int, timeout: float = TIMEOUT_SECONDS,
                       tls: ssl.SSLContext | None = None) -> dict[int, tuple[int, int]]:
    """ApiVersions needs no login, also on a SASL listener: it only proves the broker (and its
    certificate, with `tls`) answers."""
    with socket.create_connection((address, port), timeout=timeout) as raw:
        try:
            sock = tls.wrap_socket(raw, server_hostname=address) if tls else raw
            sock.sendall(kafka_api_versions_request(1))
            (size,) = struct.unpack(">i", _read_exactly(sock, 4))
            return parse_api_versions(_read_exactly(sock, size), 1)
        except ssl.SSLError as err:
            # TLS 1.3 reports a refused client certificate only on the first read.
            raise ProbeError(f"down (TLS refused: {err.reason or err})") from None


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ProbeError("down (closed the connection without an answer)")
        data += chunk
    return data


def kafka_cluster(address: str, port: int, timeout: float = TIMEOUT_SECONDS,
                  client: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The cluster as the broker at address:port describes it.

    `client`: kafka-python's security settings (infra.kafka_access.client_options). A plain
    ApiVersions exchange comes first: a dead or foreign port fails there quickly, before
    kafka-python starts its I/O thread (which a failed bootstrap leaves running).
    """
    client = dict(client or {})
    kafka_api_versions(address, port, timeout, client.get("ssl_context"))
    from kafka import KafkaAdminClient  # type: ignore[import-untyped]  # noqa: PLC0415
    from kafka.errors import KafkaError  # type: ignore[import-untyped]  # noqa: PLC0415

    _quiet("kafka")
    millis = int(timeout * 1000)
    try:
        admin = KafkaAdminClient(bootstrap_servers=f"{address}:{port}",
                                 client_id=KAFKA_CLIENT_ID.decode(),
                                 bootstrap_timeout_ms=millis, request_timeout_ms=millis,
                                 **client)
    except KafkaError as err:
        raise ProbeError(f"down (no Kafka answer: {type(err).__name__})") from None
    try:
        return dict(admin.describe_cluster())
    except KafkaError as err:
        raise ProbeError(f"no cluster metadata ({type(err).__name__})") from None
    finally:
        admin.close()


def cql_local(address: str, port: int, timeout: float = TIMEOUT_SECONDS,
              client: dict[str, Any] | None = None) -> dict[str, Any]:
    """This node's own row of system.local over CQL."""
    tcp_open(address, port, timeout)
    from cassandra.cluster import (  # type: ignore[import-untyped]  # noqa: PLC0415
        EXEC_PROFILE_DEFAULT,
        Cluster,
        ExecutionProfile,
    )
    from cassandra.policies import (  # type: ignore[import-untyped]  # noqa: PLC0415
        WhiteListRoundRobinPolicy,
    )

    _quiet("cassandra")
    # Only this node: the driver would otherwise answer from whichever peer it likes.
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([address]),
                               request_timeout=timeout)
    cluster = Cluster([address], port=port, execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                      connect_timeout=timeout, control_connection_timeout=timeout,
                      schema_metadata_enabled=False, token_metadata_enabled=False,
                      **(client or {}))
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version, data_center, rack FROM system.local").one()
    except Exception as err:  # the driver raises many unrelated types
        raise ProbeError(f"down (no CQL answer: {type(err).__name__})") from None
    finally:
        cluster.shutdown()
    if row is None:
        raise ProbeError("system.local is empty")
    return {"release_version": row.release_version, "data_center": row.data_center,
            "rack": row.rack}


@dataclass(frozen=True)
class MesosMasterAnswer:
    health: HttpAnswer
    version: HttpAnswer | None = None
    state: HttpAnswer | None = None


def mesos_master_probe(base: str, auth: tuple[str, str] | None,
                       timeout: float = TIMEOUT_SECONDS) -> MesosMasterAnswer:
    health = http_get(f"{base}/master/health", timeout=timeout)
    if health.status != 200:
        return MesosMasterAnswer(health)
    return MesosMasterAnswer(health, http_get(f"{base}/version", timeout=timeout),
                             http_get(f"{base}/master/state", auth=auth, timeout=timeout))


@dataclass(frozen=True)
class MesosAgentAnswer:
    health: HttpAnswer
    version: HttpAnswer | None = None


def mesos_agent_probe(base: str, timeout: float = TIMEOUT_SECONDS) -> MesosAgentAnswer:
    health = http_get(f"{base}/health", timeout=timeout)
    if health.status != 200:
        return MesosAgentAnswer(health)
    return MesosAgentAnswer(health, http_get(f"{base}/version", timeout=timeout))


def marked(version: str, build: Mapping[str, Any]) -> str:
    """The version, marked when the build says it is a smack stand-in."""
    if STANDIN_MARK in (str(build.get("build_user", "")), str(build.get("buildref", ""))):
        return f"{version}{STANDIN_SUFFIX}"
    return version


@dataclass(frozen=True)
class MarathonAnswer:
    ping: HttpAnswer
    info: HttpAnswer | None = None


def marathon_probe(base: str, auth: tuple[str, str] | None,
                   timeout: float = TIMEOUT_SECONDS) -> MarathonAnswer:
    ping = http_get(f"{base}/ping", auth=auth, timeout=timeout)
    if ping.status != 200:
        return MarathonAnswer(ping)
    return MarathonAnswer(ping, http_get(f"{base}/v2/info", auth=auth, timeout=timeout))


# ------------------------------------------------------------------------------ probes

ProbeKey = tuple[str, str]  # (what, node)


def _spark_master(inv: StackInventory) -> Host | None:
    members = inv.members("spark")
    chosen = inv.text("spark", "spark_master_host")
    return next((h for h in members if h.name == chosen), members[0] if members else None)


def plan_probes(inv: StackInventory, timeout: float = TIMEOUT_SECONDS
                ) -> dict[ProbeKey, Callable[[], Any]]:
    """Every network call `smack status` makes for this inventory, none of them made yet."""
    probes: dict[ProbeKey, Callable[[], Any]] = {}

    def add(what: str, host: Host, call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        probes[(what, host.name)] = lambda: call(*args, timeout=timeout, **kwargs)

    for h in inv.members("zookeeper"):
        add("zookeeper", h, tcp_ask, h.address,
            inv.port("zookeeper", "zookeeper_client_port", h), b"srvr")
    operator = _mesos_operator(inv)
    for h in inv.members("mesos_masters"):
        port = inv.port("mesos_master", "mesos_master_port", h)
        add("mesos_master", h, mesos_master_probe, f"http://{h.address}:{port}", operator)
    for h in inv.members("mesos_agents"):
        port = inv.port("mesos_agent", "mesos_agent_port", h)
        add("mesos_agent", h, mesos_agent_probe, f"http://{h.address}:{port}")
    user = _marathon_user(inv)
    for h in inv.members("marathon"):
        port = inv.port("marathon", "marathon_http_port", h)
        add("marathon", h, marathon_probe, f"http://{h.address}:{port}", user)
    kafka_client = _kafka_client(inv)
    for h in inv.members("kafka"):
        add("kafka", h, kafka_cluster, h.address, inv.port("kafka", "kafka_port", h),
            client=kafka_client)
    cassandra_client = _cassandra_client(inv)
    for h in inv.members("cassandra"):
        add("cassandra", h, cql_local, h.address,
            inv.port("cassandra", "cassandra_native_port", h), client=cassandra_client)
    master = _spark_master(inv)
    if master is not None:
        if inv.text("spark", "spark_cluster_manager") != "mesos":
            port = inv.port("spark", "spark_master_ui_port", master)
            add("spark_master", master, http_get, f"http://{master.address}:{port}/json/")
        if inv.enabled("spark", "spark_history_enabled"):
            port = inv.port("spark", "spark_history_ui_port", master)
            add("spark_history", master, http_get,
                f"http://{master.address}:{port}/api/v1/version")
    return probes


def run_probes(probes: Mapping[ProbeKey, Callable[[], Any]]) -> dict[ProbeKey, Outcome]:
    """Make every call at once; each one's own timeout bounds the whole run."""

    def guarded(call: Callable[[], Any]) -> Outcome:
        try:
            return Outcome(call())
        except Exception as err:  # any failure is a state to show, not a crash
            return Outcome(error=reason(err))

    if not probes:
        return {}
    workers = min(MAX_WORKERS, len(probes))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smack-status") as pool:
        futures = {key: pool.submit(guarded, call) for key, call in probes.items()}
        return {key: future.result() for key, future in futures.items()}


# ------------------------------------------------------------------------------ parsing


def parse_srvr(text: str) -> tuple[str, str]:
    """(mode, version) from ZooKeeper's `srvr` answer; ProbeError when it does not serve."""
    if "not currently serving requests" in text:
        raise ProbeError("not serving requests (no quorum)")
    if "not in the whitelist" in text:
        raise ProbeError("srvr is not an allowed four-letter word (4lw.commands.whitelist)")
    version = re.search(r"^Zookeeper version: ([^\s,-]+)", text, re.MULTILINE)
    mode = re.search(r"^Mode: (\S+)", text, re.MULTILINE)
    if not version or not mode:
        raise ProbeError("unexpected srvr answer: " + (text.strip().splitlines() or [""])[0][:60])
    return mode.group(1), version.group(1)


def _endpoint(host: Host, port: int, scheme: str = "") -> str:
    return f"{scheme}{host.address}:{port}"


def zookeeper_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]) -> ServiceStatus:
    rows: list[Row] = []
    modes: list[str] = []
    for h in inv.members("zookeeper"):
        endpoint = _endpoint(h, inv.port("zookeeper", "zookeeper_client_port", h))
        srvr, failed = _viewed(outcomes.get(("zookeeper", h.name)),
                               lambda raw: parse_srvr(raw.decode(errors="replace")))
        if srvr is None:
            rows.append(Row(h.name, "-", failed, "-", endpoint, False))
            continue
        mode, version = srvr
        modes.append(mode)
        rows.append(Row(h.name, mode, "up", version, endpoint, mode in ZOOKEEPER_MODES))
    return ServiceStatus("zookeeper", "ZooKeeper", rows, zookeeper_problems(modes, len(rows)))


def zookeeper_problems(modes: list[str], members: int) -> list[str]:
    """An ensemble needs exactly one leader; a single node runs standalone."""
    if members <= 1 or not modes:
        return []
    leaders = modes.count("leader")
    if leaders == 1:
        return []
    return [f"{leaders} of the {len(modes)} answering nodes lead; an ensemble needs exactly one"]


def mesos_master_view(answer: MesosMasterAnswer) -> tuple[str, str, str, dict[str, Any] | None]:
    """(role, state, version, leader's /master/state or None) of one master's answers."""
    if answer.health.status != 200:
        raise ProbeError(f"/master/health answered {answer.health.status}")
    version = ""
    if answer.version is not None and answer.version.status == 200:
        build = answer.version.json() or {}
        version = marked(str(build.get("version", "")), build) if build.get("version") else ""
    state = answer.state
    if state is None:
        raise ProbeError("/master/state not asked")
    if state.status == 200:
        body = state.json() or {}
        # The leader serves its state itself; pid == leader says it is that leader.
        if body.get("leader") and body.get("leader") == body.get("pid"):
            return "leader", "up", version or str(body.get("version", "")), body
        return "standby", "up", version, None
    if state.status in (301, 302, 307):
        return "standby", "up", version, None
    if state.status == 401:
        raise ProbeError("operator credential refused (401)")
    if state.status == 503:
        raise ProbeError("no leader elected (503)")
    raise ProbeError(f"/master/state answered {state.status}")


def mesos_master_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]
                        ) -> tuple[ServiceStatus, dict[str, Any] | None]:
    rows: list[Row] = []
    leaders: list[tuple[str, dict[str, Any]]] = []
    for h in inv.members("mesos_masters"):
        endpoint = _endpoint(h, inv.port("mesos_master", "mesos_master_port", h), "http://")
        view, failed = _viewed(outcomes.get(("mesos_master", h.name)), mesos_master_view)
        if view is None:
            rows.append(Row(h.name, "-", failed, "-", endpoint, False))
            continue
        role, state, version, leader_state = view
        if leader_state is not None:
            leaders.append((h.name, leader_state))
        rows.append(Row(h.name, role, state, version or "-", endpoint, True))
    problems = []
    if rows and len(leaders) != 1:
        named = ", ".join(name for name, _ in leaders) or "none"
        problems.append(f"{len(leaders)} of {len(rows)} masters lead ({named}); "
                        "exactly one must")
    leader_state = leaders[0][1] if len(leaders) == 1 else None
    return ServiceStatus("mesos_master", "Mesos masters", rows, problems), leader_state


def find_agent(agents: Iterable[Mapping[str, Any]], address: str, port: int
               ) -> Mapping[str, Any] | None:
    """The leader's record of the agent at address:port (its pid names both)."""
    for agent in agents:
        pid = str(agent.get("pid", ""))
        if pid.endswith(f"@{address}:{port}"):
            return agent
    for agent in agents:
        if agent.get("hostname") == address and int(agent.get("port") or 0) == port:
            return agent
    return None


def mesos_agent_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome],
                       leader_state: Mapping[str, Any] | None) -> ServiceStatus:
    rows: list[Row] = []
    registered = list((leader_state or {}).get("slaves") or [])
    configured = inv.text("mesos_agent", "mesos_agent_version")
    for h in inv.members("mesos_agents"):
        port = inv.port("mesos_agent", "mesos_agent_port", h)
        endpoint = _endpoint(h, port, "http://")
        outcome = outcomes.get(("mesos_agent", h.name))
        if outcome is None or not outcome.ok:
            rows.append(Row(h.name, "agent", _down(outcome), configured, endpoint, False))
            continue
        answer = outcome.value
        if answer.health.status != 200:
            rows.append(Row(h.name, "agent", f"/health answered {answer.health.status}",
                            configured, endpoint, False))
            continue
        build: Mapping[str, Any] = {}
        if answer.version is not None and answer.version.status == 200:
            with contextlib.suppress(ProbeError):
                build = answer.version.json() or {}
        if leader_state is None:
            rows.append(Row(h.name, "agent", "unknown (no leading master to ask)", configured,
                            endpoint, False))
            continue
        agent = find_agent(registered, h.address, port)
        if agent is None:
            rows.append(Row(h.name, "agent", "not registered at the leader", configured,
                            endpoint, False))
            continue
        version = marked(str(agent.get("version") or configured), build)
        if not agent.get("active", False):
            rows.append(Row(h.name, "agent", "registered but inactive", version, endpoint,
                            False))
            continue
        rows.append(Row(h.name, "agent", "up", version, endpoint, True))
    return ServiceStatus("mesos_agent", "Mesos agents", rows)


def marathon_view(answer: MarathonAnswer) -> dict[str, Any]:
    """/v2/info of one instance. A standby forwards the request to the leader (every instance
    then says `elected: true`); `answered_by_leader` tells whether this one answered itself."""
    if answer.ping.status == 401:
        raise ProbeError("credential refused (401)")
    if answer.ping.status != 200:
        raise ProbeError(f"/ping answered {answer.ping.status}")
    if answer.info is None or answer.info.status != 200:
        status = answer.info.status if answer.info is not None else "nothing"
        raise ProbeError(f"/v2/info answered {status}")
    info = answer.info.json()
    if not isinstance(info, dict):
        raise ProbeError("/v2/info is not an object")
    return {**info, "answered_by_leader": bool(info.get("elected")) and not answer.info.via}


def marathon_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]) -> ServiceStatus:
    rows: list[Row] = []
    infos: dict[str, dict[str, Any]] = {}
    for h in inv.members("marathon"):
        endpoint = _endpoint(h, inv.port("marathon", "marathon_http_port", h), "http://")
        info, failed = _viewed(outcomes.get(("marathon", h.name)), marathon_view)
        if info is None:
            rows.append(Row(h.name, "-", failed, "-", endpoint, False))
            continue
        infos[h.name] = info
        role = "leader" if info.get("answered_by_leader") else "standby"
        has_leader = bool(info.get("leader"))
        rows.append(Row(h.name, role, "up" if has_leader else "up, no leader known",
                        marked(str(info.get("version") or "-"), info), endpoint, has_leader))
    return ServiceStatus("marathon", "Marathon", rows, marathon_problems(infos))


def marathon_problems(infos: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One leader that every instance names, and that leader registered with Mesos."""
    if not infos:
        return []
    problems: list[str] = []
    named = sorted({str(i.get("leader")) for i in infos.values() if i.get("leader")})
    if len(named) > 1:
        problems.append(f"instances disagree on the leader ({', '.join(named)})")
    elected = [name for name, i in infos.items() if i.get("answered_by_leader")]
    if len(elected) != 1:
        problems.append(f"{len(elected)} answering instances lead "
                        f"({', '.join(elected) or 'none'}); exactly one must")
    for name in elected:
        if not infos[name].get("frameworkId"):
            problems.append(f"the leader {name} is not registered with Mesos (no frameworkId)")
    return problems


def kafka_broker(cluster: Mapping[str, Any], address: str, port: int
                 ) -> Mapping[str, Any] | None:
    """This node's entry in the cluster's broker list (brokers advertise their address)."""
    for broker in cluster.get("brokers") or []:
        if broker.get("host") == address and int(broker.get("port") or 0) == port:
            return dict(broker)
    return None


def kafka_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]) -> ServiceStatus:
    rows: list[Row] = []
    version = inv.text("kafka", "kafka_version")
    for h in inv.members("kafka"):
        port = inv.port("kafka", "kafka_port", h)
        endpoint = _endpoint(h, port)
        outcome = outcomes.get(("kafka", h.name))
        if outcome is None or not outcome.ok:
            rows.append(Row(h.name, "broker", _down(outcome), version, endpoint, False))
            continue
        broker = kafka_broker(outcome.value, h.address, port)
        if broker is None:
            rows.append(Row(h.name, "broker", "not in the cluster metadata", version,
                            endpoint, False))
            continue
        role = f"broker {broker.get('broker_id', broker.get('node_id', '?'))}"
        if broker.get("is_fenced"):
            rows.append(Row(h.name, role, "fenced", version, endpoint, False))
            continue
        rows.append(Row(h.name, role, "up", version, endpoint, True))
    return ServiceStatus("kafka", "Kafka", rows)


def cassandra_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]
                     ) -> ServiceStatus:
    rows: list[Row] = []
    for h in inv.members("cassandra"):
        endpoint = _endpoint(h, inv.port("cassandra", "cassandra_native_port", h))
        outcome = outcomes.get(("cassandra", h.name))
        configured = inv.text("cassandra", "cassandra_version")
        if outcome is None or not outcome.ok:
            rows.append(Row(h.name, "-", _down(outcome), configured, endpoint, False))
            continue
        local = outcome.value
        role = f"{local.get('data_center') or '?'}/{local.get('rack') or '?'}"
        rows.append(Row(h.name, role, "up", str(local.get("release_version") or configured),
                        endpoint, True))
    return ServiceStatus("cassandra", "Cassandra", rows)


def spark_workers(master_json: Mapping[str, Any], address: str) -> list[Mapping[str, Any]]:
    """The master's workers on `address`, ALIVE ones first (a restart leaves DEAD entries)."""
    on_host = [w for w in master_json.get("workers") or [] if w.get("host") == address]
    return sorted(on_host, key=lambda w: w.get("state") != "ALIVE")


def _spark_master_rows(inv: StackInventory, master: Host, outcome: Outcome | None
                       ) -> list[Row]:
    """The master's row and each worker's row as the master sees it."""
    version = inv.text("spark", "spark_version")
    endpoint = _endpoint(master, inv.port("spark", "spark_master_port", master), "spark://")
    master_json: Mapping[str, Any] | None = None
    if outcome is None or not outcome.ok:
        row = Row(master.name, "master", _down(outcome), version, endpoint, False)
    elif outcome.value.status != 200:
        row = Row(master.name, "master", f"/json/ answered {outcome.value.status}", version,
                  endpoint, False)
    else:
        try:
            master_json = outcome.value.json() or {}
        except ProbeError as err:
            row = Row(master.name, "master", str(err), version, endpoint, False)
        else:
            status = str(master_json.get("status", "?"))
            alive = status == "ALIVE"
            row = Row(master.name, "master", "up" if alive else status.lower(), version,
                      endpoint, alive)
    rows = [row]
    for h in inv.members("spark"):
        worker_ui = _endpoint(h, inv.port("spark", "spark_worker_ui_port", h), "http://")
        if master_json is None:
            rows.append(Row(h.name, "worker", "unknown (master not answering)", version,
                            worker_ui, False))
            continue
        found = spark_workers(master_json, h.address)
        if not found:
            rows.append(Row(h.name, "worker", "not registered at the master", version,
                            worker_ui, False))
            continue
        state = str(found[0].get("state", "?"))
        shown = str(found[0].get("webuiaddress") or worker_ui)
        rows.append(Row(h.name, "worker", "up" if state == "ALIVE" else state.lower(),
                        version, shown, state == "ALIVE"))
    return rows


def _spark_history_row(inv: StackInventory, master: Host, outcome: Outcome | None) -> Row:
    version = inv.text("spark", "spark_version")
    endpoint = _endpoint(master, inv.port("spark", "spark_history_ui_port", master), "http://")
    if outcome is None or not outcome.ok:
        return Row(master.name, "history", _down(outcome), version, endpoint, False)
    if outcome.value.status != 200:
        return Row(master.name, "history", f"/api/v1/version answered {outcome.value.status}",
                   version, endpoint, False)
    try:
        answered = str((outcome.value.json() or {}).get("spark") or version)
    except ProbeError as err:
        return Row(master.name, "history", str(err), version, endpoint, False)
    return Row(master.name, "history", "up", answered, endpoint, True)


def spark_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]) -> ServiceStatus:
    """Standalone: the master, every worker as the master lists it; the history server."""
    master = _spark_master(inv)
    if master is None:
        return ServiceStatus("spark", "Spark", [])
    rows: list[Row] = []
    if inv.text("spark", "spark_cluster_manager") != "mesos":
        rows += _spark_master_rows(inv, master, outcomes.get(("spark_master", master.name)))
    if inv.enabled("spark", "spark_history_enabled"):
        rows.append(_spark_history_row(inv, master, outcomes.get(("spark_history",
                                                                   master.name))))
    return ServiceStatus("spark", "Spark", rows)


def assemble(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]) -> list[ServiceStatus]:
    """Rows and service-wide problems of every service the inventory has nodes for."""
    masters, leader_state = mesos_master_status(inv, outcomes)
    built = {
        "zookeeper": zookeeper_status(inv, outcomes),
        "mesos_master": masters,
        "mesos_agent": mesos_agent_status(inv, outcomes, leader_state),
        "marathon": marathon_status(inv, outcomes),
        "kafka": kafka_status(inv, outcomes),
        "cassandra": cassandra_status(inv, outcomes),
        "spark": spark_status(inv, outcomes),
    }
    return [built[key] for key, group, _ in SERVICES if inv.members(group)]


def collect_status(stack: str, *, inventory: Path | None = None,
                   timeout: float = TIMEOUT_SECONDS) -> StackStatus:
    """Check every service of the stack now. SmackError when the stack has no inventory."""
    started = time.monotonic()
    inv = load_inventory(stack, inventory)
    outcomes = run_probes(plan_probes(inv, timeout))
    return StackStatus(stack, assemble(inv, outcomes), time.monotonic() - started)


def standins_of(stack: str, *, inventory: Path | None = None,
                timeout: float = TIMEOUT_SECONDS) -> list[str]:
    """"Mesos" and/or "Marathon" when the stack's first master / Marathon instance answers as a
    smack stand-in (a quick look for `smack up`; `smack status` marks every row)."""
    inv = load_inventory(stack, inventory)
    found = []
    for h in inv.members("mesos_masters")[:1]:
        port = inv.port("mesos_master", "mesos_master_port", h)
        with contextlib.suppress(OSError, ProbeError):
            build = http_get(f"http://{h.address}:{port}/version", timeout=timeout).json() or {}
            if marked("", build):
                found.append("Mesos")
    for h in inv.members("marathon")[:1]:
        port = inv.port("marathon", "marathon_http_port", h)
        with contextlib.suppress(OSError, ProbeError):
            info = http_get(f"http://{h.address}:{port}/v2/info", auth=_marathon_user(inv),
                            timeout=timeout).json() or {}
            if marked("", info):
                found.append("Marathon")
    return found


# ------------------------------------------------------------------------------ display


def render(report: StackStatus) -> list[RenderableType]:
    """One table per service, its problems under it, and a closing line."""
    out: list[RenderableType] = []
    for service in report.services:
        mark = "[green]healthy[/green]" if service.healthy else "[red]unhealthy[/red]"
        table = Table(title=f"{service.title}: {mark}", title_justify="left")
        for column in ("node", "role", "state", "version", "endpoint"):
            table.add_column(column, overflow="fold")
        for row in service.rows:
            table.add_row(row.node, row.role,
                          Text(row.state, style="green" if row.healthy else "red"),
                          row.version, row.endpoint)
        out.append(table)
        out += [Text(f"  {problem}", style="red") for problem in service.problems]
    if report.standins:
        out.append(Text(f"  {', '.join(report.standins)}: smack's TEST STAND-INS "
                        "(tests/standins), not Apache Mesos / Marathon", style="yellow"))
    checks = sum(len(s.rows) for s in report.services)
    if not report.services:
        out.append(Text(f"stack {report.stack}: the inventory lists no service nodes"))
    elif report.healthy:
        out.append(Text(f"stack {report.stack}: {len(report.services)} services, {checks} "
                        f"checks healthy ({report.seconds:.2f} s)", style="green"))
    else:
        bad = report.unhealthy()
        out.append(Text(f"stack {report.stack}: {len(bad)} problem(s) "
                        f"({report.seconds:.2f} s):\n  " + "\n  ".join(bad), style="red"))
    return out
