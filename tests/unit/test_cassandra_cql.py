"""The cassandra role's cassandra-cql tool, rendered from its template and run against a fake
session: the parts whose behaviour does not need a ring (write retries, replication sums, which
failures are a refused login)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest
from cassandra import (  # type: ignore[import-untyped]
    AuthenticationFailed,
    ConsistencyLevel,
    WriteTimeout,
    WriteType,
)
from cassandra.cluster import NoHostAvailable  # type: ignore[import-untyped]

from infra.paths import PROJECT_DIR

pytestmark = pytest.mark.unit

TEMPLATE = PROJECT_DIR / "roles" / "cassandra" / "templates" / "cassandra-cql.j2"


def tool(security: bool = True) -> dict[str, Any]:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - a Python script
    env.filters.update({"to_json": json.dumps, "bool": bool})
    source = env.from_string(TEMPLATE.read_text()).render(
        ansible_managed="test", _cassandra_address="10.0.0.1", cassandra_native_port=9042,
        cassandra_dc="dc1", cassandra_security=security, _cassandra_cql_login="/login.json",
        _cassandra_tls_ca="/ca.crt")
    scope: dict[str, Any] = {"__name__": "cassandra_cql"}
    exec(compile(source, str(TEMPLATE), "exec"), scope)  # noqa: S102 - the role's own tool
    return scope


class Ring:
    """A session whose writes of some ids time out a given number of times."""

    def __init__(self, timeouts: dict[int, int]) -> None:
        self.timeouts = dict(timeouts)
        self.stored: dict[int, str] = {}

    def prepare(self, cql: str) -> str:
        return cql

    def write(self, row: tuple[int, str]) -> None:
        if self.timeouts.get(row[0], 0) > 0:
            self.timeouts[row[0]] -= 1
            raise WriteTimeout("Operation timed out - received only 1 responses.",
                               consistency=ConsistencyLevel.QUORUM, required_responses=2,
                               received_responses=1, write_type=WriteType.SIMPLE)
        self.stored[row[0]] = row[1]

    def execute(self, cql: str, params: Any = None) -> Any:
        if params is not None:
            self.write(params)
            return None
        if cql.startswith("SELECT id, value"):
            return [SimpleNamespace(id=i, value=v) for i, v in self.stored.items()]
        return None

    def concurrently(self, _session: Any, _insert: str, rows: list, **_kw: Any) -> list:
        results = []
        for row in rows:
            try:
                self.write(row)
                results.append((True, None))
            except WriteTimeout as exc:
                results.append((False, exc))
        return results


def roundtrip(timeouts: dict[int, int]) -> dict[str, Any]:
    cql = tool()
    ring = Ring(timeouts)
    cql["execute_concurrent_with_args"] = ring.concurrently
    args = SimpleNamespace(keyspace="ks", rows=10, member_dcs="dc1,dc1,dc1")
    return dict(cql["roundtrip"](ring, args))


def test_a_write_that_timed_out_is_sent_again_and_counted() -> None:
    result = roundtrip({3: 1, 7: 2})
    assert result["ok"] and result["written"] == result["read"] == 10
    assert result["write_retries"] == 3 and result["write_errors"] == []
    assert result["replication"] == {"dc1": 3}


def test_a_row_the_ring_keeps_refusing_fails_the_check() -> None:
    result = roundtrip({5: 4})
    assert not result["ok"] and result["written"] == 9 and result["read"] == 9
    assert result["missing_or_wrong"] == 1 and "timed out" in result["write_errors"][0]


def test_system_auth_replication_is_capped_per_datacenter() -> None:
    replication = tool()["auth_replication"]
    assert replication(["a", "a", "b", "a", "a"], 3) == {"a": 3, "b": 1}
    assert replication(["a"] * 5, 5) == {"a": 5}


def test_only_a_refused_login_counts_as_one() -> None:
    refused = tool()["login_refused"]
    login = AuthenticationFailed("Provided username x and/or password are incorrect")
    assert refused(login)
    assert refused(NoHostAvailable("no host", {"10.0.0.1:9042": login}))
    assert not refused(NoHostAvailable("no host", {"10.0.0.1:9042": OSError("refused")}))
    assert not refused(NoHostAvailable("no host", {}))


def test_the_security_switch_reaches_the_tool() -> None:
    assert tool()["SECURE"] is True and tool(security=False)["SECURE"] is False


class AuthRing:
    """Logins as a ring sees them: which users a coordinator lets in, and whether the default
    role it lets in is still a superuser."""

    def __init__(self, admin_refusals: int, default_is_superuser: bool) -> None:
        self.admin_refusals = admin_refusals
        self.default_is_superuser = default_is_superuser
        self.logins: list[str] = []

    def connect(self, _hosts: str, _port: int, login: tuple[str, str]) -> tuple[Any, Any]:
        from cassandra import AuthenticationFailed  # type: ignore[import-untyped]

        self.logins.append(login[0])
        if login[0] == "smack_admin" and self.admin_refusals > 0:
            self.admin_refusals -= 1
            raise AuthenticationFailed("Provided username smack_admin and/or password are "
                                       "incorrect")
        return SimpleNamespace(shutdown=lambda: None), SimpleNamespace(execute=self.execute)

    def execute(self, cql: str) -> Any:
        from cassandra import Unauthorized  # type: ignore[import-untyped]

        if self.logins[-1] == "cassandra" and not self.default_is_superuser:
            raise Unauthorized("User cassandra has no SELECT permission on <table "
                               "system_auth.roles> or any of its parents")
        return []


def superuser(ring: AuthRing, wait: float = 30) -> tuple[str, bool]:
    cql = tool()
    cql["connect"] = ring.connect
    cql["time"] = SimpleNamespace(monotonic=__import__("time").monotonic, sleep=lambda _s: None)
    args = SimpleNamespace(hosts="10.0.0.1", port=9042)
    _cluster, _session, as_default = cql["superuser_session"](
        args, ("smack_admin", "pw"), __import__("time").monotonic() + wait)
    return ring.logins[-1], as_default


def test_a_new_ring_is_set_up_as_the_default_superuser() -> None:
    assert superuser(AuthRing(admin_refusals=99, default_is_superuser=True)) == (
        "cassandra", True)


def test_a_default_role_no_longer_superuser_means_waiting_for_smacks_own() -> None:
    """CI: smack_admin not yet visible on the coordinator, the disabled default role still let
    in by the auth cache - the step must wait for smack_admin, not fail on the default role."""
    ring = AuthRing(admin_refusals=2, default_is_superuser=False)
    assert superuser(ring) == ("smack_admin", False)
    assert ring.logins == ["smack_admin", "cassandra", "smack_admin", "cassandra", "smack_admin"]
    with pytest.raises(RuntimeError, match="neither smack's superuser smack_admin nor the "
                                           "default superuser can log in as a superuser"):
        superuser(AuthRing(admin_refusals=10**6, default_is_superuser=False), wait=0)


class FlakyRolesRing:
    """A new ring whose coordinators learn the default superuser one by one: the probe passes,
    then one coordinator (stale role cache) refuses the first read of system_auth.roles."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.roles: dict[str, SimpleNamespace] = {
            "cassandra": SimpleNamespace(role="cassandra", is_superuser=True, can_login=True)}
        self.statements: list[str] = []
        self.logins: list[str] = []

    def connect(self, _hosts: str, _port: int, login: tuple[str, str]) -> tuple[Any, Any]:
        self.logins.append(login[0])
        if login[0] not in self.roles or not self.roles[login[0]].can_login:
            raise AuthenticationFailed(f"Provided username {login[0]} and/or password are "
                                       "incorrect")
        return SimpleNamespace(shutdown=lambda: None), SimpleNamespace(execute=self.execute)

    def execute(self, cql: str) -> Any:
        from cassandra import Unauthorized  # type: ignore[import-untyped]

        self.statements.append(cql)
        if cql.startswith("SELECT replication"):
            return SimpleNamespace(one=lambda: SimpleNamespace(replication={
                "class": "org.apache.cassandra.locator.SimpleStrategy",
                "replication_factor": "1"}))
        if cql.startswith("SELECT role, is_superuser") and self.refusals > 0:
            self.refusals -= 1
            raise Unauthorized("User cassandra has no SELECT permission on <table "
                               "system_auth.roles> or any of its parents")
        if cql.startswith("SELECT role"):
            return list(self.roles.values())
        if cql.startswith("CREATE ROLE IF NOT EXISTS"):
            name = cql.split('"')[1]
            self.roles.setdefault(name, SimpleNamespace(role=name, is_superuser="SUPERUSER = true"
                                                        in cql, can_login=True))
        if cql.startswith("ALTER ROLE cassandra"):
            self.roles["cassandra"].is_superuser = self.roles["cassandra"].can_login = False
        return []


def test_a_coordinator_refusing_the_new_superuser_for_a_while_is_waited_for(tmp_path: Any) -> None:
    """CI (Cassandra 5.0.5, new ring): the probe as `cassandra` passed on one coordinator, the
    next read of system_auth.roles was refused on another - the step must try again."""
    cql = tool()
    ring = FlakyRolesRing(refusals=2)
    cql["connect"] = ring.connect
    cql["time"] = SimpleNamespace(monotonic=__import__("time").monotonic, sleep=lambda _s: None)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"admin": {"user": "smack_admin", "password": "pw"},
                                "member_dcs": ["dc1", "dc1", "dc1"], "auth_replication": 3,
                                "roles": {"pipeline": "pw2"}}))
    args = SimpleNamespace(hosts="10.0.0.1", port=9042, plan=str(plan), wait=30)
    result = cql["roles"](args)
    assert result["ok"] is True
    assert result["changed"] == ['system_auth replication {"dc1": 3}', "superuser smack_admin",
                                 "default superuser cassandra disabled", "login role pipeline"]
    assert ring.statements.count("SELECT role FROM system_auth.roles LIMIT 1") == 3
    assert not ring.roles["cassandra"].is_superuser and ring.roles["smack_admin"].is_superuser
    # A coordinator that never learns it fails the step once the wait is over.
    stuck = FlakyRolesRing(refusals=10**6)
    cql["connect"] = stuck.connect
    from cassandra import Unauthorized  # type: ignore[import-untyped]

    with pytest.raises(Unauthorized):
        cql["roles"](SimpleNamespace(hosts="10.0.0.1", port=9042, plan=str(plan), wait=0))
