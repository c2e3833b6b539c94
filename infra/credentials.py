"""Service credentials of a stack: generated once, kept in a 0600 file, never printed.

The inventory does not hold them: its group_vars read the file on the control machine through
a lookup (`smack_credentials`), so a hand-run `ansible-playbook` sees them too, and the Pulumi
state keeps a copy as secrets (encrypted with the stack's passphrase).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, ClassVar

import bcrypt
import pulumi
import pulumi.dynamic as dyn
import yaml

from infra.cassandra_access import ADMIN_ROLE, JMX_USER, LOGIN_ROLES
from infra.kafka_access import ADMIN_PRINCIPAL
from infra.paths import remove_if_empty, state_dir
from infra.pki import is_authority, new_authority

# Mesos principals (framework, agent and operator authentication) and Marathon's HTTP user.
MESOS_PRINCIPALS = {
    "operator": "smack-operator",   # health checks and day-2 calls to the masters and agents
    "agent": "smack-agent",         # agents registering with the masters
    "marathon": "marathon",         # the Marathon framework
    "spark": "spark",               # Spark drivers in Mesos mode
}
MARATHON_HTTP_USER = "smack"
# Prometheus' web login (UI, API, dashboards); the server keeps only a bcrypt hash of it.
PROMETHEUS_USER = "smack"
# ZooKeeper digest users: the Mesos masters and agents, and Marathon (its state znodes).
ZOOKEEPER_USERS = ("mesos", "marathon")


def credentials_file(stack: str) -> Path:
    return state_dir(stack) / "credentials.yml"


def _secret() -> str:
    return secrets.token_urlsafe(24)


def complete(existing: dict[str, Any], stack: str = "",
             kafka_principals: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """`existing` with every credential this version of smack needs; kept values stay.

    Kafka passwords follow `kafka_principals`: a new principal gets one, a principal no longer
    declared loses its own (the kafka role then deletes that user from the cluster).
    """
    mesos = dict(existing.get("mesos") or {})
    for role, principal in MESOS_PRINCIPALS.items():
        entry = dict(mesos.get(role) or {})
        entry.setdefault("principal", principal)
        entry.setdefault("secret", _secret())
        mesos[role] = entry
    http = dict(existing.get("marathon_http") or {})
    http.setdefault("user", MARATHON_HTTP_USER)
    http.setdefault("password", _secret())
    spark = dict(existing.get("spark") or {})
    spark.setdefault("secret", _secret())
    kafka = dict(existing.get("kafka") or {})
    admin = dict(kafka.get("admin") or {})
    admin.setdefault("user", ADMIN_PRINCIPAL)
    admin.setdefault("password", _secret())
    known = dict(kafka.get("principals") or {})
    kafka = {"admin": admin, "principals": {
        name: known.get(name) or _secret() for name in sorted(kafka_principals)}}
    cassandra = dict(existing.get("cassandra") or {})
    for key, user in (("admin", ADMIN_ROLE), ("jmx", JMX_USER)):
        entry = dict(cassandra.get(key) or {})
        entry.setdefault("user", user)
        entry.setdefault("password", _secret())
        cassandra[key] = entry
    roles = dict(cassandra.get("roles") or {})
    cassandra["roles"] = {name: roles.get(name) or _secret() for name in LOGIN_ROLES}
    zookeeper = dict(existing.get("zookeeper") or {})
    for user in ZOOKEEPER_USERS:
        entry = dict(zookeeper.get(user) or {})
        entry.setdefault("user", user)
        entry.setdefault("password", _secret())
        zookeeper[user] = entry
    prometheus = dict(existing.get("prometheus") or {})
    prometheus.setdefault("user", PROMETHEUS_USER)
    prometheus.setdefault("password", _secret())
    if not _hash_matches(prometheus.get("password_bcrypt"), prometheus["password"]):
        prometheus["password_bcrypt"] = bcrypt.hashpw(
            prometheus["password"].encode(), bcrypt.gensalt(rounds=10)).decode()
    ca = existing.get("ca") if is_authority(existing.get("ca")) else new_authority(stack or "stack")
    return {"mesos": mesos, "marathon_http": http, "spark": spark, "kafka": kafka,
            "cassandra": cassandra, "zookeeper": zookeeper, "prometheus": prometheus, "ca": ca}


def _hash_matches(hashed: Any, password: str) -> bool:
    """Whether a kept bcrypt hash is still the password's: made once, so the server's web
    configuration does not change (and Prometheus does not reload) on every run."""
    if not isinstance(hashed, str) or not hashed.startswith("$2"):
        return False
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:
        return False


def _shape(values: Any) -> Any:
    return {k: _shape(v) for k, v in values.items()} if isinstance(values, dict) else None


def incomplete(values: dict[str, Any] | None,
               kafka_principals: list[str] | tuple[str, ...] = ()) -> bool:
    """Whether this version of smack would change `values` (after an upgrade, or because the
    Kafka principals changed)."""
    current = dict(values or {})
    if not is_authority(current.get("ca")):
        return True
    return bool(_shape(complete(current, kafka_principals=kafka_principals)) != _shape(current))


def _write_private(path: Path, values: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_name(path.name + ".tmp")
    # 0600 from the first byte: no window in which another user could read it.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Generated by smack; secrets of this stack. Do not share.\n")
        yaml.safe_dump(values, handle, sort_keys=True)
    tmp.replace(path)


def ensure_credentials(path: Path, known: dict[str, Any] | None = None,
                       kafka_principals: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Read the file (or start from `known`), add what is missing, write it back 0600."""
    current: dict[str, Any] = dict(known or {})
    if path.exists():
        current = yaml.safe_load(path.read_text()) or {}
    values = complete(current, path.parent.name, kafka_principals)
    if values != current or not path.exists() or path.stat().st_mode & 0o077:
        _write_private(path, values)
    return values


def remove_credentials(path: Path) -> None:
    path.unlink(missing_ok=True)
    # The stack's state directory goes too once nothing else of the stack is in it.
    remove_if_empty(path.parent)


def _principals(props: dict[str, Any]) -> list[str]:
    return list(props.get("kafka_principals") or [])


class StackCredentialsProvider(dyn.ResourceProvider):
    KEYS: ClassVar[list[str]] = ["file"]

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        values = ensure_credentials(Path(props["file"]), kafka_principals=_principals(props))
        return dyn.CreateResult(props["file"], {**props, "values": values})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        moved = olds.get("file") != news.get("file")
        # A newer smack may need more credentials (the CA), the settings more or fewer Kafka
        # principals: an update adds or drops those, keeping the rest. A lost file (a fresh
        # clone, a deleted .smack/) is written back from the values kept in the state.
        return dyn.DiffResult(
            changes=moved or incomplete(olds.get("values"), _principals(news))
            or _principals(olds) != _principals(news) or not Path(news["file"]).is_file(),
            replaces=["file"] if moved else [])

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        values = ensure_credentials(Path(news["file"]), olds.get("values"), _principals(news))
        return dyn.UpdateResult({**news, "values": values})

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        # A refresh puts back a deleted file from the values kept (encrypted) in the state.
        values = ensure_credentials(Path(props["file"]), props.get("values"), _principals(props))
        return dyn.ReadResult(id_, {**props, "values": values})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        remove_credentials(Path(props["file"]))


class StackCredentials(dyn.Resource):
    """The stack's generated credentials; `values` is a Pulumi secret."""

    values: pulumi.Output[dict[str, Any]]

    def __init__(self, name: str, stack: str, kafka_principals: list[str] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["values"]))
        super().__init__(StackCredentialsProvider(), name,
                         {"file": str(credentials_file(stack)), "values": None,
                          "kafka_principals": sorted(kafka_principals or [])}, opts)
