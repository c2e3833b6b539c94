"""Who logs in to Cassandra, and how smack's own Python clients do it.

smack's superuser (`smack_admin`) replaces the default `cassandra` role, which the cassandra
role disables; `smack status`, verify's checks and the tests log in as it. Spark jobs log in as
login roles that own their keyspaces only: one per reference pipeline and verify's own for the
data-path check. JMX (nodetool, on the node only) has a user of its own.
"""

from __future__ import annotations

import ssl
from typing import Any

ADMIN_ROLE = "smack_admin"
JMX_USER = "smack_jmx"
VERIFY_ROLE = "smack_verify"
# One login role per reference pipeline (smack:pipelines), named like it.
PIPELINE_ROLES = ("iot",)
LOGIN_ROLES = (*PIPELINE_ROLES, VERIFY_ROLE)


def client_options(credentials: dict[str, Any], ca_pem: str) -> dict[str, Any]:
    """cassandra-driver Cluster keyword arguments for smack's superuser over TLS (empty: the
    stack has no Cassandra credentials or CA, i.e. plaintext without logins)."""
    admin = (credentials.get("cassandra") or {}).get("admin") or {}
    if not admin or not ca_pem:
        return {}
    from cassandra.auth import PlainTextAuthProvider  # type: ignore[import-untyped]  # noqa: PLC0415

    context = ssl.create_default_context(cadata=ca_pem)
    # Contact points are addresses; only the stack's nodes hold a certificate of its CA.
    context.check_hostname = False
    return {"ssl_context": context,
            "auth_provider": PlainTextAuthProvider(admin["user"], admin["password"])}
