"""Spark with `cluster_manager: mesos` on two local nodes, with the Mesos master and agent
STAND-INS (tests/standins): `smack verify` runs a real PySpark job whose executors are Mesos
tasks on every agent (issue 13, item 7: on real Mesos, verify ran no Spark job in this mode).

The driver loads the Java bindings the role found on the node (libmesos-java.so; the
stand-in's JNI driver talks to the stand-in master), the master offers the agents' resources,
the agents run each executor through the command executor as user spark in its sandbox, and
the job's answer is checked by the role. Kafka, Cassandra and Marathon are off: the shared
cluster of test_services.py proves them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from infra.credentials import credentials_file
from infra.status import http_get
from tests.integration.conftest import integration_settings, new_cluster
from tests.support.direct import DirectLocalCluster
from tests.support.engine_stack import BIN
from tests.support.nodes import Nodes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

SERVICES: dict[str, Any] = {
    "zookeeper": {"heap_mb": 128},
    "kafka": {"enabled": False},
    "cassandra": {"enabled": False},
    "marathon": {"enabled": False},
    "spark": {"cluster_manager": "mesos"},
}
SPARK_ENV = "/etc/spark/spark-env.sh"


@pytest.fixture(scope="module")
def cluster() -> Iterator[DirectLocalCluster]:
    c = new_cluster(integration_settings(count=2, services=SERVICES))
    try:
        c.up()
        c.run("site.yml")
        yield c
    finally:
        c.down()


def leader_frameworks(c: DirectLocalCluster) -> dict[str, Any]:
    creds = yaml.safe_load(credentials_file(c.settings.stack).read_text())["mesos"]["operator"]
    address = c.created[f"smack-{c.settings.stack}-node-1"]["address"]
    answer = http_get(f"http://{address}:5050/master/frameworks",
                      auth=(creds["principal"], creds["secret"]), timeout=30)
    assert answer.status == 200, answer.body
    return dict(json.loads(answer.body))


def test_smack_verify_runs_a_spark_job_on_mesos(cluster: DirectLocalCluster) -> None:
    stack = cluster.settings.stack
    verified = subprocess.run([str(BIN / "smack"), "verify", "--stack", stack],
                              capture_output=True, text=True, timeout=900, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"stack {stack}: verified 2 host(s), 0 changed" in " ".join(verified.stdout.split())

    # The job was a Mesos framework: done now, its executors tasks that finished on both
    # agents, as the framework's user.
    frameworks = leader_frameworks(cluster)
    assert [f["name"] for f in frameworks["frameworks"]] == []  # nothing left registered
    [job] = [f for f in frameworks["completed_frameworks"]
             if f["name"].startswith("smack-verify-")]
    assert job["user"] == "spark"
    tasks = job["completed_tasks"]
    assert tasks and {t["state"] for t in tasks} == {"TASK_FINISHED"}, tasks
    agents = {t["slave_id"] for t in tasks}
    assert len(agents) == 2, tasks

    # Drivers load the library with the Java bindings the role found on the node, not
    # libmesos.so (which has none in aventer-mesos builds).
    nodes = Nodes(cluster, count=2)
    for n in nodes.numbers:
        env = nodes.sh(n, f"cat {SPARK_ENV}")
        assert "MESOS_NATIVE_JAVA_LIBRARY=/usr/lib/libmesos-java.so" in env, env
