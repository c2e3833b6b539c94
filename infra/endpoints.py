"""Where a stack's services answer, from the nodes and the settings: the stack outputs.

Ports come from the roles' own defaults (roles/<role>/defaults/main.yml) unless the stack's
`vars` override them, so the outputs and the roles cannot drift apart.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from infra.config import Settings
from infra.credentials import credentials_file
from infra.inventory import ordered
from infra.kafka_access import SCRAM_MECHANISM
from infra.metrics import prometheus_node
from infra.nodes.model import Node
from infra.paths import PROJECT_DIR


@cache
def role_defaults(role: str) -> dict[str, Any]:
    path = PROJECT_DIR / "roles" / role / "defaults" / "main.yml"
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    return dict(data or {})


def knob(settings: Settings, role: str, key: str) -> Any:
    """A role variable as the roles will see it: the stack's `vars`, else the role default."""
    service = settings.metrics if role == "metrics" else getattr(settings.services, role, None)
    if service is not None and key in service.vars:
        return service.vars[key]
    return role_defaults(role)[key]


def _hosts(nodes: list[Node], service: str) -> list[Node]:
    return [n for n in ordered(nodes) if service in n.services]


def _join(nodes: list[Node], port: Any) -> str:
    return ",".join(f"{n.address}:{port}" for n in nodes)


def endpoints(settings: Settings, nodes: list[Node]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    zookeeper = _hosts(nodes, "zookeeper")
    if zookeeper:
        out["zookeeper"] = {
            "connect": _join(zookeeper, knob(settings, "zookeeper", "zookeeper_client_port")),
        }
        if settings.services.zookeeper.security:
            # TLS with a client certificate from the stack's CA; the plain port serves Mesos
            # and Marathon, whose znodes carry ACLs (zookeeper.mesos / zookeeper.marathon logins).
            out["zookeeper"].update({
                "secure_connect": _join(
                    zookeeper, knob(settings, "zookeeper", "zookeeper_secure_client_port")),
                "credentials_file": str(credentials_file(settings.stack)),
            })
    masters = _hosts(nodes, "mesos_master")
    if masters:
        port = knob(settings, "mesos_master", "mesos_master_port")
        zk = _join(zookeeper, knob(settings, "zookeeper", "zookeeper_client_port"))
        out["mesos"] = {
            "master": f"zk://{zk}{knob(settings, 'mesos_master', 'mesos_master_zookeeper_path')}",
            "master_uis": [f"http://{n.address}:{port}" for n in masters],
        }
        agents = _hosts(nodes, "mesos_agent")
        if agents:
            agent_port = knob(settings, "mesos_agent", "mesos_agent_port")
            out["mesos"]["agents"] = _join(agents, agent_port)
    marathon = _hosts(nodes, "marathon")
    if marathon:
        port = knob(settings, "marathon", "marathon_http_port")
        out["marathon"] = {
            "urls": [f"http://{n.address}:{port}" for n in marathon],
            # Basic auth is on; the user and password stay in this 0600 file.
            "credentials_file": str(credentials_file(settings.stack)),
        }
    kafka = _hosts(nodes, "kafka")
    if kafka:
        out["kafka"] = {"bootstrap_servers": _join(kafka, knob(settings, "kafka", "kafka_port"))}
        if settings.services.kafka.security:
            # Where the logins are (kafka.admin, kafka.principals.<name>), never the values;
            # clients trust the CA of the stack output ca_certificate.
            out["kafka"].update({
                "security_protocol": "SASL_SSL", "sasl_mechanism": SCRAM_MECHANISM,
                "credentials_file": str(credentials_file(settings.stack)),
            })
    cassandra = _hosts(nodes, "cassandra")
    if cassandra:
        out["cassandra"] = {
            "contact_points": ",".join(n.address for n in cassandra),
            "cql_port": knob(settings, "cassandra", "cassandra_native_port"),
        }
        if settings.services.cassandra.security:
            # TLS (trust the stack output ca_certificate) and a login: cassandra.admin and
            # cassandra.roles.<name> in this file, never the values here.
            out["cassandra"].update({
                "tls": True, "credentials_file": str(credentials_file(settings.stack)),
            })
    spark = _hosts(nodes, "spark")
    if spark:
        out["spark"] = _spark(settings, spark, zookeeper)
    if "iot" in settings.pipelines:
        out["pipeline_iot"] = {
            "topic": knob(settings, "pipelines", "pipelines_iot_topic"),
            "keyspace": knob(settings, "pipelines", "pipelines_iot_keyspace"),
            "tables": "positions, positions_by_route_minute, route_minute",
            "generator_app": knob(settings, "pipelines", "pipelines_iot_generator_app_id"),
        }
    server = prometheus_node(settings, ordered(nodes))
    if server is not None:
        url = f"http://{server.address}:{knob(settings, 'metrics', 'metrics_prometheus_port')}"
        # Every path wants the login prometheus.user / prometheus.password of this file.
        out["metrics"] = {"prometheus": url, "dashboards": f"{url}/user/index.html",
                          "credentials_file": str(credentials_file(settings.stack))}
    return out


def _spark(settings: Settings, spark: list[Node], zookeeper: list[Node]) -> dict[str, Any]:
    # The role's default master is the group's first node; a `spark_master_host` var moves it.
    chosen = settings.services.spark.vars.get("spark_master_host")
    master = next((n.address for n in spark if n.name == chosen), spark[0].address)
    history = f"http://{master}:{knob(settings, 'spark', 'spark_history_ui_port')}"
    if settings.services.spark.cluster_manager == "mesos":
        zk = _join(zookeeper, knob(settings, "zookeeper", "zookeeper_client_port"))
        path = knob(settings, "spark", "spark_mesos_zookeeper_path")
        return {"master": f"mesos://zk://{zk}{path}", "history_ui": history}
    return {
        "master": f"spark://{master}:{knob(settings, 'spark', 'spark_master_port')}",
        "master_ui": f"http://{master}:{knob(settings, 'spark', 'spark_master_ui_port')}",
        "history_ui": history,
    }
