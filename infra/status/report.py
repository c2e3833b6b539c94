"""A stack's whole report: every service's rows from one run of the probes.

`standins_of` is the quick look `smack up` takes: does the stack run smack's stand-ins?
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from pathlib import Path

from infra.status.cassandra import cassandra_status
from infra.status.inventory import StackInventory, _marathon_user, load_inventory
from infra.status.kafka import kafka_status
from infra.status.marathon import marathon_status
from infra.status.mesos import mesos_agent_status, mesos_master_status
from infra.status.metrics import alerts_of, metrics_status
from infra.status.net import TIMEOUT_SECONDS, http_get
from infra.status.probes import plan_probes, run_probes
from infra.status.results import Outcome, ProbeError, ProbeKey, ServiceStatus, StackStatus, marked
from infra.status.spark import spark_status
from infra.status.zookeeper import zookeeper_status

# Service key (also the role whose defaults hold its knobs), its inventory group, its title.
SERVICES: tuple[tuple[str, str, str], ...] = (
    ("zookeeper", "zookeeper", "ZooKeeper"),
    ("mesos_master", "mesos_masters", "Mesos masters"),
    ("mesos_agent", "mesos_agents", "Mesos agents"),
    ("marathon", "marathon", "Marathon"),
    ("kafka", "kafka", "Kafka"),
    ("cassandra", "cassandra", "Cassandra"),
    ("spark", "spark", "Spark"),
    ("metrics", "prometheus", "Metrics"),
)


def assemble(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]) -> list[ServiceStatus]:
    """Rows and service-wide problems of every service the inventory has nodes for."""
    masters, leader_state = mesos_master_status(inv, outcomes)
    built = {
        "zookeeper": zookeeper_status(inv, outcomes),
        "mesos_master": masters,
        "mesos_agent": mesos_agent_status(inv, outcomes, leader_state),
        "marathon": marathon_status(inv, outcomes),
        "kafka": kafka_status(inv, outcomes),
        "cassandra": cassandra_status(inv, outcomes),
        "spark": spark_status(inv, outcomes),
        "metrics": metrics_status(inv, outcomes),
    }
    return [built[key] for key, group, _ in SERVICES if inv.members(group)]


def collect_status(stack: str, *, inventory: Path | None = None,
                   timeout: float = TIMEOUT_SECONDS) -> StackStatus:
    """Check every service of the stack now. SmackError when the stack has no inventory."""
    started = time.monotonic()
    inv = load_inventory(stack, inventory)
    outcomes = run_probes(plan_probes(inv, timeout))
    return StackStatus(stack, assemble(inv, outcomes), time.monotonic() - started,
                       alerts=alerts_of(inv, outcomes))


def standins_of(stack: str, *, inventory: Path | None = None,
                timeout: float = TIMEOUT_SECONDS) -> list[str]:
    """"Mesos" and/or "Marathon" when the stack's first master / Marathon instance answers as a
    smack stand-in (a quick look for `smack up`; `smack status` marks every row)."""
    inv = load_inventory(stack, inventory)
    found = []
    for h in inv.members("mesos_masters")[:1]:
        port = inv.port("mesos_master", "mesos_master_port", h)
        with contextlib.suppress(OSError, ProbeError):
            build = http_get(f"http://{h.address}:{port}/version", timeout=timeout).json() or {}
            if marked("", build):
                found.append("Mesos")
    for h in inv.members("marathon")[:1]:
        port = inv.port("marathon", "marathon_http_port", h)
        with contextlib.suppress(OSError, ProbeError):
            info = http_get(f"http://{h.address}:{port}/v2/info", auth=_marathon_user(inv),
                            timeout=timeout).json() or {}
            if marked("", info):
                found.append("Marathon")
    return found
