"""The network calls of the checks: HTTP and TCP, the Mesos and Marathon endpoints, CQL.

Each call is bounded by a short timeout; a failed connection becomes short words for the
state column (`reason`).
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from infra.status.results import ProbeError

TIMEOUT_SECONDS = 3.0


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
