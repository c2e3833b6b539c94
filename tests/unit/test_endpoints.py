"""Stack outputs: where each service answers, from the nodes and the role defaults."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import parse_settings
from infra.credentials import credentials_file
from infra.endpoints import endpoints
from infra.nodes.model import Node
from infra.topology import local_address, plan_nodes
from tests.support.settings import parse_only

pytestmark = pytest.mark.unit

ZK = "198.18.0.10:2181,198.18.0.11:2181,198.18.0.12:2181"


def outputs(count: int = 4, **raw: Any) -> dict[str, dict[str, Any]]:
    settings = parse_settings("ep", parse_only({
        "smack:target": "local", "smack:nodes": [{"name": "node", "count": count}],
        **{f"smack:{k}": v for k, v in raw.items()}}))
    nodes = [Node(name=p.name, address=local_address(settings, p), ssh_user="smack",
                  ssh_key_file="/k", group=p.group, services=p.services, labels=p.labels,
                  host_key="ssh-ed25519 AAAA", node_id=p.name)
             for p in plan_nodes(settings)]
    return endpoints(settings, nodes)


def test_every_service_of_the_converged_stack_has_its_endpoints() -> None:
    out = outputs()
    assert out["zookeeper"]["connect"] == ZK
    assert out["mesos"]["master"] == f"zk://{ZK}/mesos"
    # Quorum services stay on the first three nodes; agents run on all four.
    assert out["mesos"]["master_uis"] == [f"http://198.18.0.{i}:5050" for i in (10, 11, 12)]
    assert out["mesos"]["agents"] == ",".join(f"198.18.0.{i}:5051" for i in (10, 11, 12, 13))
    assert out["marathon"]["urls"] == [f"http://198.18.0.{i}:8080" for i in (10, 11, 12)]
    assert out["marathon"]["credentials_file"] == str(credentials_file("ep"))
    assert out["kafka"]["bootstrap_servers"].count(":9092") == 4
    assert out["cassandra"]["cql_port"] == 9042
    assert out["spark"]["master"] == "spark://198.18.0.10:7077"


def test_role_variables_from_the_stack_move_the_ports() -> None:
    out = outputs(services={"mesos_master": {"vars": {"mesos_master_port": 5150}},
                            "marathon": {"vars": {"marathon_http_port": 8280}}})
    assert out["mesos"]["master_uis"][0] == "http://198.18.0.10:5150"
    assert out["marathon"]["urls"][0] == "http://198.18.0.10:8280"


def test_disabled_services_have_no_endpoints() -> None:
    out = outputs(services={name: {"enabled": False}
                            for name in ("mesos_master", "mesos_agent", "marathon")})
    assert "mesos" not in out and "marathon" not in out
    assert "zookeeper" in out


def test_spark_on_mesos_points_at_the_masters_in_zookeeper() -> None:
    out = outputs(services={"spark": {"cluster_manager": "mesos"}})
    assert out["spark"]["master"] == f"mesos://zk://{ZK}/mesos"
    assert "master_ui" not in out["spark"]


def test_a_deployed_pipeline_lists_what_it_owns() -> None:
    assert "pipeline_iot" not in outputs()
    out = outputs(pipelines=["iot"], services={"spark": {"worker_memory_mb": 1024}})
    assert out["pipeline_iot"] == {
        "topic": "iot.vehicle-positions", "keyspace": "iot",
        "tables": "positions, positions_by_route_minute, route_minute",
        "generator_app": "/smack/iot-generator"}
