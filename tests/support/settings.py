"""Raw stack settings shared by tests."""

from __future__ import annotations

from typing import Any

# A package source for settings that are only parsed, never deployed: Mesos and Marathon are
# enabled by default and need one. The .invalid name can never resolve.
PARSE_ONLY_PACKAGES: dict[str, Any] = {
    "apt_repository": "deb https://packages.example.invalid/debian bookworm main",
}

MESOS_SERVICES = ("mesos_master", "mesos_agent", "marathon")
WITHOUT_MESOS: dict[str, Any] = {name: {"enabled": False} for name in MESOS_SERVICES}


def parse_only(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` with a package source added unless it names one."""
    return {"smack:packages": PARSE_ONLY_PACKAGES, **raw}


# Test clusters' JVMs, through each role's <service>_jvm_opts: the JIT compiles with C1 only
# (start-ups on a 2-core machine spend most of their CPU in C2). Measured on ZooKeeper +
# Cassandra, three nodes: first site.yml 274 s → 132 s, restart.yml 80 s → 53 s (with
# Cassandra's wait for gossip to settle skipped and its 5 s ring delay, both once set here too
# and the local target's own defaults now: infra/inventory.py, target_role_defaults).
C1_ONLY = "-XX:TieredStopAtLevel=1"
# Spark's jobs too (verify's and the pipelines' drivers and executors, through the spark role's
# own knobs): measured on a 3-node cluster, verify.yml's Spark check 42 s → 29 s and its data
# path check 102 s → 66 s.
TEST_SERVICE_VARS: dict[str, dict[str, Any]] = {
    "zookeeper": {"zookeeper_jvm_opts": [C1_ONLY]},
    "kafka": {"kafka_jvm_opts": [C1_ONLY]},
    "cassandra": {"cassandra_jvm_opts": [C1_ONLY]},
    "spark": {"spark_jvm_opts": [C1_ONLY], "spark_driver_java_opts": [C1_ONLY],
              "spark_extra_defaults": {"spark.executor.extraJavaOptions": C1_ONLY}},
}


def with_test_jvm_opts(services: dict[str, Any]) -> dict[str, Any]:
    """smack:services with TEST_SERVICE_VARS added to each JVM service's vars (vars given
    win)."""
    out = {name: dict(knobs) for name, knobs in services.items()}
    for name, test_vars in TEST_SERVICE_VARS.items():
        knobs = out.setdefault(name, {})
        knobs["vars"] = {**test_vars, **knobs.get("vars", {})}
    return out
