"""Cassandra logins: the credentials a stack gets, how smack's Python clients log in, and what
the stack outputs say about it."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from infra.cassandra_access import ADMIN_ROLE, JMX_USER, LOGIN_ROLES, client_options
from infra.credentials import credentials_file, ensure_credentials, incomplete
from infra.pki import new_authority
from tests.unit.test_endpoints import outputs

pytestmark = pytest.mark.unit


def test_every_login_gets_a_password_that_stays(tmp_path: Path) -> None:
    path = tmp_path / "stack" / "credentials.yml"
    first = ensure_credentials(path)["cassandra"]
    assert first["admin"]["user"] == ADMIN_ROLE and first["jmx"]["user"] == JMX_USER
    assert set(first["roles"]) == set(LOGIN_ROLES) == {"iot", "smack_verify"}
    passwords = [first["admin"]["password"], first["jmx"]["password"], *first["roles"].values()]
    assert len(set(passwords)) == len(passwords) and all(len(p) >= 32 for p in passwords)
    assert ensure_credentials(path)["cassandra"] == first
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_stack_from_before_cassandra_logins_gets_them_on_update(tmp_path: Path) -> None:
    path = tmp_path / "old" / "credentials.yml"
    values = ensure_credentials(path)
    older = {k: v for k, v in values.items() if k != "cassandra"}
    assert incomplete(older) and not incomplete(values)
    kept = ensure_credentials(tmp_path / "new" / "credentials.yml", older)
    assert kept["mesos"] == values["mesos"] and kept["ca"] == values["ca"]
    assert kept["cassandra"]["admin"]["password"]


def test_smack_clients_log_in_as_the_superuser_over_tls_with_the_stack_ca() -> None:
    ca = new_authority("c")
    creds = {"cassandra": {"admin": {"user": ADMIN_ROLE, "password": "pw"}}}
    options = client_options(creds, ca["cert"])
    context = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and not context.check_hostname
    assert len(context.get_ca_certs()) == 1
    assert options["auth_provider"].username == ADMIN_ROLE
    assert options["auth_provider"].password == "pw"  # noqa: S105 - the test's own value
    # No Cassandra credentials or no CA: plaintext without a login.
    assert client_options({}, ca["cert"]) == {} and client_options(creds, "") == {}


def test_the_outputs_say_where_the_login_is_never_what_it_is() -> None:
    secured = outputs()["cassandra"]
    assert secured["tls"] is True
    assert secured["credentials_file"] == str(credentials_file("ep"))
    lab = outputs(services={"cassandra": {"security": False}})["cassandra"]
    assert "tls" not in lab and "credentials_file" not in lab
