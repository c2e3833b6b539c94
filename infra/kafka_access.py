"""Who may log in to Kafka and what each principal may do.

Three kinds of principal: the brokers themselves (their node certificates on the mTLS listener,
all mapped to one super user), smack's own admin (a SCRAM user, super user, used by `smack
status`, `smack verify` and the tests), and application principals: the stack's
`services.kafka.principals`, one per deployed pipeline and verify's own for the data-path check.
Each application principal is a SCRAM user with a generated password and allow-only ACLs.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.config import Settings

ADMIN_PRINCIPAL = "smack-admin"
# The principal every node certificate maps to on the mTLS listeners (brokers, controllers and
# the kafka-* tools run by root on a node).
NODE_PRINCIPAL = "smack-node"
SCRAM_MECHANISM = "SCRAM-SHA-512"
# What each reference pipeline needs: its topics start with its name; Spark's Kafka source
# reads as consumer groups named spark-kafka-source-* (it assigns partitions itself).
PIPELINE_PRINCIPALS: dict[str, dict[str, list[str]]] = {
    "iot": {"produce": ["iot.*"], "consume": ["iot.*"], "groups": ["spark-kafka-*"]},
}
# verify.yml's data-path check: its topics are smack-verify-path-<run>.
VERIFY_PRINCIPAL = "smack-verify"
VERIFY_RIGHTS = {"produce": ["smack-verify-*"], "consume": ["smack-verify-*"],
                 "groups": ["spark-kafka-*"]}
RESERVED = (ADMIN_PRINCIPAL, NODE_PRINCIPAL, VERIFY_PRINCIPAL)


def principals(settings: Settings) -> dict[str, dict[str, list[str]]]:
    """Application principal name -> {produce, consume, groups}, groups filled in."""
    kafka = settings.services.kafka
    if not (kafka.enabled and kafka.security):
        return {}
    declared: dict[str, dict[str, list[str]]] = {
        name: spec.model_dump() for name, spec in kafka.principals.items()
    }
    for pipeline in settings.pipelines:
        rights = PIPELINE_PRINCIPALS[pipeline]
        declared.setdefault(pipeline, {k: list(v) for k, v in rights.items()})
    declared[VERIFY_PRINCIPAL] = {k: list(v) for k, v in VERIFY_RIGHTS.items()}
    for name, spec in declared.items():
        if spec["consume"] and not spec["groups"]:
            spec["groups"] = [f"{name}*"]
    return declared


def principal_errors(settings: Settings) -> list[str]:
    kafka = settings.services.kafka
    problems = []
    for name in kafka.principals:
        if name in RESERVED:
            problems.append(f"smack:services.kafka.principals.{name}: the name is smack's own; "
                            f"allowed: any other name than {', '.join(RESERVED)}")
        if name in settings.pipelines:
            problems.append(f"smack:services.kafka.principals.{name}: pipeline '{name}' brings "
                            f"its own principal of that name; allowed: another name")
    if kafka.principals and not kafka.security:
        problems.append("smack:services.kafka.principals: declared, but "
                        "smack:services.kafka.security is false (no logins, no ACLs); "
                        "allowed: principals only with security on")
    return problems


def client_options(credentials: dict[str, Any], ca_pem: str) -> dict[str, Any]:
    """kafka-python keyword arguments for smack's admin over SASL_SSL (empty: plaintext)."""
    admin = (credentials.get("kafka") or {}).get("admin") or {}
    if not admin or not ca_pem:
        return {}
    context = ssl.create_default_context(cadata=ca_pem)
    return {"security_protocol": "SASL_SSL", "ssl_context": context,
            "sasl_mechanism": SCRAM_MECHANISM, "sasl_plain_username": admin["user"],
            "sasl_plain_password": admin["password"]}
