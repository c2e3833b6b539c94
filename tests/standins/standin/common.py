"""Facts and helpers shared by the Mesos stand-ins (smack test stand-in, not Apache Mesos).

Version/build fields carry the values the real clusterd 1.11.0 build reports (/version sample),
except build_user, which says what this is.
"""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

VERSION = "1.11.0"
BUILD = {
    "build_date": "2026-11-26 03:35:31 UTC",
    "build_time": 1795664131.0,
    "build_user": "smack-standin",
    "git_branch": "refs/heads/master",
    "git_sha": "5ce2c80bddd689c28a8b4579468ac062fa337408",
    "version": VERSION,
}
MASTER_CAPABILITIES = ["AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"]
AGENT_CAPABILITIES = [
    "MULTI_ROLE",
    "HIERARCHICAL_ROLE",
    "RESERVATION_REFINEMENT",
    "RESOURCE_PROVIDER",
    "RESIZE_VOLUME",
    "AGENT_OPERATION_FEEDBACK",
    "AGENT_DRAINING",
    "TASK_RESOURCE_LIMITS",
]
# The private agent/framework <-> master protocol lives under this prefix. Product code never
# uses it; the real daemons speak libprocess messages instead.
PRIVATE = "/__standin__"


def version_json() -> dict[str, object]:
    """Body of GET /version (keys in the real order)."""
    return dict(BUILD)


def state_header() -> dict[str, object]:
    """The leading keys of /master/state and the agent's /state."""
    return {
        k: BUILD[k]
        for k in ("version", "git_sha", "git_branch", "build_date", "build_time", "build_user")
    }


def ip_to_uint32(ip: str) -> int:
    """MasterInfo.ip: the IPv4 address in network byte order read as a little-endian uint32."""
    return int(struct.unpack("<I", socket.inet_aton(ip))[0])


def advertised_ip(flags: dict[str, str]) -> str:
    """The address a daemon tells others about (--advertise_ip, --ip, else the host's)."""
    for key in ("advertise_ip", "ip"):
        if flags.get(key):
            return flags[key]
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def resolve_hostname(flags: dict[str, str], ip: str) -> str:
    """--hostname, else the reverse lookup of the IP (hostname_lookup), else the IP itself."""
    if flags.get("hostname"):
        return flags["hostname"]
    if flags.get("hostname_lookup", "true") == "true":
        try:
            return socket.gethostbyaddr(ip)[0]
        except OSError:
            return ip
    return ip


@dataclass(frozen=True)
class ZkUrl:
    hosts: str
    path: str
    auth: str | None  # "user:password" for digest auth

    @property
    def text(self) -> str:
        creds = f"{self.auth}@" if self.auth else ""
        return f"zk://{creds}{self.hosts}{self.path}"


def parse_zk_url(url: str) -> ZkUrl:
    """zk://[user:pass@]host:port[,host:port...]/path, or file:///path holding such a URL."""
    url = url.strip()
    if url.startswith("file://"):
        url = Path(url[len("file://") :]).read_text().strip()
    if not url.startswith("zk://"):
        raise ValueError(f"Expecting 'zk://' at the beginning of the URL: {url!r}")
    rest = url[len("zk://") :]
    auth = None
    if "@" in rest.split("/", 1)[0]:
        auth, rest = rest.split("@", 1)
    hosts, slash, path = rest.partition("/")
    if not hosts or not slash:
        raise ValueError(f"Failed to parse ZooKeeper URL {url!r}")
    return ZkUrl(hosts=hosts, path="/" + path.rstrip("/"), auth=auth)


def read_text_or_file(value: str) -> str:
    """Flags like --credentials take a path, optionally with a file:// prefix."""
    path = value[len("file://") :] if value.startswith("file://") else value
    return Path(path).read_text()


def load_credentials(value: str) -> dict[str, str]:
    """principal -> secret from a --credentials file (JSON {"credentials": [...]} or text lines)."""
    text = read_text_or_file(value)
    try:
        data = json.loads(text)
    except ValueError:
        pairs = (line.split(None, 1) for line in text.splitlines() if line.strip())
        return {p[0]: p[1].strip() for p in pairs if len(p) == 2}
    return {c["principal"]: c.get("secret", "") for c in data.get("credentials", [])}


def load_credential(value: str) -> tuple[str, str]:
    """(principal, secret) from an agent --credential file (JSON object or 'principal secret')."""
    text = read_text_or_file(value)
    try:
        data = json.loads(text)
    except ValueError:
        principal, _, secret = text.strip().partition(" ")
        return principal, secret.strip()
    return data["principal"], data.get("secret", "")
