"""Live health of a stack's services, asked from the control machine (`smack status`).

Where to look comes from the stack's generated inventory (`inventory`); every check is a real
request to the service (`net`, `kafka_wire`): ZooKeeper `srvr`, Kafka cluster metadata, CQL, the
Mesos, Marathon and Spark HTTP endpoints. The work is split so the logic can be tested without
a cluster: `plan_probes` lists the network calls and `run_probes` makes them concurrently, each
bounded by a short timeout (`probes`); the `*_status` functions of the service modules
(`zookeeper`, `mesos`, `marathon`, `kafka`, `cassandra`, `spark`) turn their answers into table
rows (`results`) without touching the network; `collect_status` does all of it for a stack
(`report`) and `render` draws the tables (`display`).
"""

from __future__ import annotations

from infra.status.cassandra import cassandra_status
from infra.status.display import render
from infra.status.inventory import Host, StackInventory, load_inventory, require_inventory

# Not part of the interface; the unit tests reach it as status._spark_master.
from infra.status.inventory import _spark_master as _spark_master
from infra.status.kafka import kafka_status
from infra.status.kafka_wire import kafka_api_versions
from infra.status.marathon import marathon_problems, marathon_status, marathon_view
from infra.status.mesos import (
    find_agent,
    mesos_agent_status,
    mesos_master_status,
    mesos_master_view,
)
from infra.status.net import (
    HttpAnswer,
    MarathonAnswer,
    MesosAgentAnswer,
    MesosMasterAnswer,
    http_get,
    reason,
)
from infra.status.probes import plan_probes, run_probes
from infra.status.report import assemble, collect_status, standins_of
from infra.status.results import (
    Outcome,
    ProbeError,
    Row,
    ServiceStatus,
    StackStatus,
    marked,
)
from infra.status.spark import spark_status
from infra.status.zookeeper import parse_srvr, zookeeper_problems, zookeeper_status

__all__ = [
    "Host",
    "HttpAnswer",
    "MarathonAnswer",
    "MesosAgentAnswer",
    "MesosMasterAnswer",
    "Outcome",
    "ProbeError",
    "Row",
    "ServiceStatus",
    "StackInventory",
    "StackStatus",
    "assemble",
    "cassandra_status",
    "collect_status",
    "find_agent",
    "http_get",
    "kafka_api_versions",
    "kafka_status",
    "load_inventory",
    "marathon_problems",
    "marathon_status",
    "marathon_view",
    "marked",
    "mesos_agent_status",
    "mesos_master_status",
    "mesos_master_view",
    "parse_srvr",
    "plan_probes",
    "reason",
    "render",
    "require_inventory",
    "run_probes",
    "spark_status",
    "standins_of",
    "zookeeper_problems",
    "zookeeper_status",
]
