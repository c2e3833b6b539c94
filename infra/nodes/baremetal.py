"""The `baremetal` target: existing hosts, listed in the stack settings, reached over SSH.

smack creates nothing here but one dynamic resource under `BaremetalCluster`:

- `HostPreflight` ("preflight"): logs into every host with paramiko and checks login, sudo, OS,
  architecture, memory, free disk and the service ports (infra/nodes/preflight.py). It runs when
  the stack is created and on every `up` that changes a host's settings or what runs on it; a
  failure lists `<host>: <problem>` lines and stops the update before Ansible runs. It also reads
  each host's SSH key, which the inventory's known_hosts then pins.

Removing smack from the hosts on destroy is the program's step beside these nodes
(infra/reset.py): a node target does not run Ansible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pulumi
import pulumi.dynamic as dyn

from infra.config import BaremetalSettings, Settings
from infra.endpoints import knob
from infra.inventory import ordered
from infra.metrics import JMX_EXPORTERS, prometheus_node
from infra.nodes.model import Node
from infra.nodes.preflight import HostSpec, PortNeed, run_preflight
from infra.paths import PROJECT_DIR
from infra.topology import plan_nodes

# (role, variable, what it is, units that hold the port once smack's service runs)
_PORTS: dict[str, list[tuple[str, str, str, tuple[str, ...]]]] = {
    "zookeeper": [
        ("zookeeper", "zookeeper_client_port", "ZooKeeper client port", ("zookeeper",)),
        ("zookeeper", "zookeeper_peer_port", "ZooKeeper peer port", ("zookeeper",)),
        ("zookeeper", "zookeeper_election_port", "ZooKeeper election port", ("zookeeper",)),
    ],
    "mesos_master": [
        ("mesos_master", "mesos_master_port", "Mesos master port", ("mesos-master",)),
    ],
    "mesos_agent": [
        ("mesos_agent", "mesos_agent_port", "Mesos agent port", ("mesos-agent",)),
    ],
    "marathon": [
        ("marathon", "marathon_http_port", "Marathon HTTP port", ("marathon",)),
    ],
    "kafka": [
        ("kafka", "kafka_port", "Kafka broker port", ("kafka",)),
        ("kafka", "kafka_controller_port", "Kafka controller port", ("kafka",)),
        ("kafka", "kafka_internal_port", "Kafka inter-broker port", ("kafka",)),
    ],
    "cassandra": [
        ("cassandra", "cassandra_storage_port", "Cassandra storage port", ("cassandra",)),
        ("cassandra", "cassandra_native_port", "Cassandra CQL port", ("cassandra",)),
        ("cassandra", "cassandra_jmx_port", "Cassandra JMX port", ("cassandra",)),
    ],
}
_SPARK_MASTER_UNITS = ("spark-master", "spark-mesos-dispatcher")
# Every systemd unit smack's roles install (reset.yml removes the same list).
SMACK_UNITS = ("zookeeper", "kafka", "cassandra", "spark-master", "spark-worker", "spark-history",
               "spark-mesos-dispatcher", "mesos-master", "mesos-agent", "marathon")


def baremetal_settings(settings: Settings) -> BaremetalSettings:
    if settings.baremetal is None:
        raise pulumi.RunError(f"stack '{settings.stack}': smack:baremetal is missing; target "
                              f"'baremetal' needs a host list")
    return settings.baremetal


def key_path(key_file: str) -> str:
    """A key file as an absolute path (relative ones are relative to the project)."""
    if not key_file:
        return ""
    path = Path(key_file).expanduser()
    return str(path if path.is_absolute() else PROJECT_DIR / path)


def host_nodes(settings: Settings) -> list[Node]:
    """The Node record of every host, without the host key preflight reads."""
    hosts = {h.name: h for h in baremetal_settings(settings).hosts}
    nodes = []
    for plan in plan_nodes(settings):
        host = hosts[plan.name]
        nodes.append(Node(
            name=plan.name, address=host.address, ssh_user=host.user,
            ssh_key_file=key_path(host.key_file), group=plan.group, services=plan.services,
            labels=plan.labels, ssh_port=host.port, host_key=host.host_key,
            become=host.become, node_id=plan.name,
        ))
    return nodes


def _spark_master(settings: Settings, nodes: list[Node]) -> str:
    spark = [n.name for n in ordered(nodes) if "spark" in n.services]
    chosen = settings.services.spark.vars.get("spark_master_host")
    return str(chosen) if chosen in spark else (spark[0] if spark else "")


def service_ports(settings: Settings, nodes: list[Node]) -> dict[str, list[PortNeed]]:
    """Host name → the ports its services will listen on (from role defaults and `vars`)."""
    spark = settings.services.spark
    standalone = spark.cluster_manager == "standalone"
    master = _spark_master(settings, nodes)
    prometheus = prometheus_node(settings, ordered(nodes))
    server = prometheus.name if prometheus else ""
    out: dict[str, list[PortNeed]] = {}
    for node in nodes:
        rows = [row for service in node.services for row in _PORTS.get(service, [])]
        if "zookeeper" in node.services and settings.services.zookeeper.security:
            rows.append(("zookeeper", "zookeeper_secure_client_port", "ZooKeeper TLS client port",
                         ("zookeeper",)))
        if "spark" in node.services:
            if standalone:
                rows.append(("spark", "spark_worker_ui_port", "Spark worker UI port",
                             ("spark-worker",)))
            dispatcher = bool(knob(settings, "spark", "spark_mesos_dispatcher_enabled"))
            if node.name == master and (standalone or dispatcher):
                rows += [("spark", "spark_master_port", "Spark master port", _SPARK_MASTER_UNITS),
                         ("spark", "spark_master_ui_port", "Spark master UI port",
                          _SPARK_MASTER_UNITS)]
            if node.name == master and bool(knob(settings, "spark", "spark_history_enabled")):
                rows.append(("spark", "spark_history_ui_port", "Spark history UI port",
                             ("spark-history",)))
        out[node.name] = [PortNeed(int(knob(settings, role, var)), f"{what} ({var})", units)
                          for role, var, what, units in rows]
        out[node.name] += _metrics_ports(settings, node, master, server)
    return out


def _metrics_ports(settings: Settings, node: Node, spark_master: str, server: str
                   ) -> list[PortNeed]:
    """The exporters' ports on this node (roles/metrics), Prometheus' on its node."""
    if not settings.metrics.enabled:
        return []
    needs = [PortNeed(int(knob(settings, "metrics", "metrics_node_exporter_port")),
                      "node exporter port (metrics_node_exporter_port)",
                      ("prometheus-node-exporter",))]
    bridges = knob(settings, "metrics", "metrics_bridge_ports")
    for service, unit in (("mesos_master", "mesos-master"), ("mesos_agent", "mesos-agent"),
                          ("marathon", "marathon")):
        if service in node.services:
            needs.append(PortNeed(int(bridges[service]),
                                  f"{service} metrics bridge port (metrics_bridge_ports)",
                                  (f"smack-metrics-bridge@{unit}",)))
    standalone = settings.services.spark.cluster_manager == "standalone"
    for daemon, (service, port, unit) in JMX_EXPORTERS.items():
        runs = service in node.services and (
            daemon not in ("spark_master", "spark_worker") or standalone) and (
            daemon != "spark_master" or node.name == spark_master)
        if runs:
            needs.append(PortNeed(port, f"{daemon} JMX exporter port (infra/metrics.py)",
                                  (unit,)))
    if node.name == server:
        needs.append(PortNeed(int(knob(settings, "metrics", "metrics_prometheus_port")),
                              "Prometheus port (metrics_prometheus_port)", ("prometheus",)))
    return needs


def host_specs(settings: Settings, nodes: list[Node]) -> list[HostSpec]:
    bm = baremetal_settings(settings)
    index = {h.name: i for i, h in enumerate(bm.hosts)}
    hosts = {h.name: h for h in bm.hosts}
    ports = service_ports(settings, nodes)
    specs = []
    for node in nodes:
        host = hosts[node.name]
        specs.append(HostSpec(
            name=node.name, index=index[node.name], address=node.address, port=node.ssh_port,
            user=node.ssh_user, key_file=node.ssh_key_file, become=node.become,
            min_memory_mb=host.min_memory_mb or bm.min_memory_mb,
            min_disk_gb=host.min_disk_gb or bm.min_disk_gb,
            ports=tuple(ports[node.name]), host_key=host.host_key, pinned=bool(host.host_key),
            timeout=float(bm.connect_timeout_seconds),
        ))
    return specs


# ------------------------------------------------------------------------- preflight


def _with_known_keys(hosts: list[dict[str, Any]], known: dict[str, str]) -> list[HostSpec]:
    """Specs of `hosts`; a host without a pinned key must still show the key seen last time."""
    specs = []
    for props in hosts:
        spec = HostSpec.from_props(props)
        if not spec.pinned and known.get(spec.name):
            spec = HostSpec.from_props({**props, "host_key": known[spec.name]})
        specs.append(spec)
    return specs


def _preflight_outputs(props: dict[str, Any], specs: list[HostSpec]) -> dict[str, Any]:
    reports = run_preflight(specs)
    return {
        **props,
        "host_keys": {r.name: r.host_key for r in reports},
        "facts": {r.name: r.facts for r in reports},
    }


class HostPreflightProvider(dyn.ResourceProvider):
    # Any change of these reruns every check (on every host: ports and memory depend on all).
    KEYS: ClassVar[list[str]] = ["hosts"]

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        specs = _with_known_keys(props["hosts"], {})
        return dyn.CreateResult(f"{props['stack']}-preflight", _preflight_outputs(props, specs))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        changed = [k for k in self.KEYS if olds.get(k) != news.get(k)]
        return dyn.DiffResult(changes=bool(changed), replaces=[])

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        specs = _with_known_keys(news["hosts"], dict(olds.get("host_keys") or {}))
        return dyn.UpdateResult(_preflight_outputs(news, specs))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        return None


class HostPreflight(dyn.Resource):
    host_keys: pulumi.Output[dict[str, str]]
    facts: pulumi.Output[dict[str, dict[str, str]]]

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(HostPreflightProvider(), name,
                         {**props, "host_keys": None, "facts": None}, opts)


# --------------------------------------------------------------------------- cluster


def node_records(nodes: list[Node], host_keys: dict[str, str] | None) -> list[dict[str, Any]]:
    """Node records with the host keys preflight read (a pinned key stays as given)."""
    keys = host_keys or {}
    return [Node(**{**vars(n), "host_key": n.host_key or keys.get(n.name, "")}).to_dict()
            for n in nodes]


class BaremetalCluster(pulumi.ComponentResource):
    """Preflight of the existing hosts of one baremetal stack."""

    nodes: pulumi.Output[list[dict[str, Any]]]

    def __init__(self, name: str, settings: Settings,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("smack:baremetal:Cluster", name, None, opts)
        nodes = host_nodes(settings)
        specs = host_specs(settings, nodes)
        preflight = HostPreflight(
            "preflight",
            {"stack": settings.stack, "hosts": [s.to_props() for s in specs]},
            pulumi.ResourceOptions(parent=self),
        )
        self.nodes = preflight.host_keys.apply(lambda keys: node_records(nodes, keys))
        self.register_outputs({"nodes": self.nodes})
