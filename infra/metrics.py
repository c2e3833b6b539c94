"""Where the metrics of a stack come from: which node runs Prometheus, and the JMX exporter
java agent each JVM service starts with.

The agent's port and configuration file are decided here once; the service roles only put
the option into their daemon's command line (`smack_java_agents.<daemon>`), the metrics role
writes the configuration files and tells Prometheus the same ports.
"""

from __future__ import annotations

from infra.config import Settings
from infra.nodes.model import Node

# Daemon -> (the service that runs it, its JMX exporter port, its systemd unit).
JMX_EXPORTERS: dict[str, tuple[str, int, str]] = {
    "zookeeper": ("zookeeper", 7071, "zookeeper"),
    "kafka": ("kafka", 7072, "kafka"),
    "cassandra": ("cassandra", 7073, "cassandra"),
    "spark_master": ("spark", 7074, "spark-master"),
    "spark_worker": ("spark", 7075, "spark-worker"),
}
JMX_CONFIG_DIR = "/etc/smack/metrics"
PROMETHEUS_GROUP = "prometheus"


def prometheus_node(settings: Settings, nodes: list[Node]) -> Node | None:
    """The first node of `smack:metrics.group`, else of the first group; `nodes` in inventory
    order (`infra.inventory.ordered`)."""
    if not settings.metrics.enabled or not nodes:
        return None
    group = settings.metrics.group or settings.node_groups()[0].name
    members = [n for n in nodes if n.group == group]
    return members[0] if members else None


def jmx_agent_jar(settings: Settings) -> str:
    root = settings.common.vars.get("common_artifact_root", "/opt/smack")
    version = settings.metrics.jmx_exporter_version
    return f"{root}/jmx_exporter/current/lib/jmx_prometheus_javaagent-{version}.jar"


def java_agents(settings: Settings) -> dict[str, list[str]]:
    """Daemon -> the JVM options that load the JMX exporter (none with metrics off).

    The address is the node's own, filled in by Ansible per host."""
    if not settings.metrics.enabled:
        return {}
    jar = jmx_agent_jar(settings)
    enabled = set(settings.services.enabled())
    return {
        daemon: [f"-javaagent:{jar}={{{{ smack_node_address }}}}:{port}:"
                 f"{JMX_CONFIG_DIR}/jmx-{daemon}.yml"]
        for daemon, (service, port, _) in JMX_EXPORTERS.items() if service in enabled
    }


def role_variables(settings: Settings) -> dict[str, object]:
    """The metrics role's variables and the agents the service roles add."""
    m = settings.metrics
    out: dict[str, object] = {
        "metrics_enabled": m.enabled,
        "metrics_scrape_interval_seconds": m.scrape_interval_seconds,
        "metrics_retention_days": m.retention_days,
        "metrics_jmx_exporter_version": m.jmx_exporter_version,
        "metrics_uplot_version": m.uplot_version,
        "metrics_jmx_ports": {d: port for d, (_, port, _) in JMX_EXPORTERS.items()},
        "metrics_jmx_config_dir": JMX_CONFIG_DIR,
        "smack_java_agents": java_agents(settings),
    }
    out.update(m.vars)
    return out
