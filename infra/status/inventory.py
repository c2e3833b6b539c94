"""Where `smack status` looks: the stack's generated inventory and credentials file.

Hosts and groups come from hosts.yml, ports and versions from group_vars/all.yml (else the
roles' defaults), Mesos and Marathon credentials from the stack's credentials file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.cassandra_access import client_options as cassandra_client_options
from infra.credentials import credentials_file
from infra.endpoints import role_defaults
from infra.errors import SmackError
from infra.kafka_access import client_options
from infra.paths import PROJECT_DIR, inventory_dir


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


def _login(inv: StackInventory, section: str) -> tuple[str, str] | None:
    """(user, password) of a `user`/`password` section of the credentials file."""
    entry = inv.credentials.get(section) or {}
    if entry.get("user") and entry.get("password"):
        return str(entry["user"]), str(entry["password"])
    return None


def _marathon_user(inv: StackInventory) -> tuple[str, str] | None:
    return _login(inv, "marathon_http")


def _spark_master(inv: StackInventory) -> Host | None:
    members = inv.members("spark")
    chosen = inv.text("spark", "spark_master_host")
    return next((h for h in members if h.name == chosen), members[0] if members else None)


def _endpoint(host: Host, port: int, scheme: str = "") -> str:
    return f"{scheme}{host.address}:{port}"
