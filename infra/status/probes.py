"""The network calls `smack status` makes, kept apart from what their answers mean.

`plan_probes` lists them without making any; `run_probes` makes them concurrently (each bounded
by a short timeout) and keeps each one's answer or failure as an `Outcome`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from infra.status.inventory import (
    Host,
    StackInventory,
    _cassandra_client,
    _kafka_client,
    _marathon_user,
    _mesos_operator,
    _spark_master,
)
from infra.status.kafka_wire import kafka_cluster
from infra.status.metrics import ALERTS_PATH, TARGETS_PATH, prometheus_login
from infra.status.net import (
    TIMEOUT_SECONDS,
    cql_local,
    http_get,
    marathon_probe,
    mesos_agent_probe,
    mesos_master_probe,
    reason,
    tcp_ask,
)
from infra.status.results import Outcome, ProbeKey

MAX_WORKERS = 32


def plan_probes(inv: StackInventory, timeout: float = TIMEOUT_SECONDS
                ) -> dict[ProbeKey, Callable[[], Any]]:
    """Every network call `smack status` makes for this inventory, none of them made yet."""
    probes: dict[ProbeKey, Callable[[], Any]] = {}

    def add(what: str, host: Host, call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        probes[(what, host.name)] = lambda: call(*args, timeout=timeout, **kwargs)

    for h in inv.members("zookeeper"):
        add("zookeeper", h, tcp_ask, h.address,
            inv.port("zookeeper", "zookeeper_client_port", h), b"srvr")
    operator = _mesos_operator(inv)
    for h in inv.members("mesos_masters"):
        port = inv.port("mesos_master", "mesos_master_port", h)
        add("mesos_master", h, mesos_master_probe, f"http://{h.address}:{port}", operator)
    for h in inv.members("mesos_agents"):
        port = inv.port("mesos_agent", "mesos_agent_port", h)
        add("mesos_agent", h, mesos_agent_probe, f"http://{h.address}:{port}")
    user = _marathon_user(inv)
    for h in inv.members("marathon"):
        port = inv.port("marathon", "marathon_http_port", h)
        add("marathon", h, marathon_probe, f"http://{h.address}:{port}", user)
    kafka_client = _kafka_client(inv)
    for h in inv.members("kafka"):
        add("kafka", h, kafka_cluster, h.address, inv.port("kafka", "kafka_port", h),
            client=kafka_client)
    cassandra_client = _cassandra_client(inv)
    for h in inv.members("cassandra"):
        add("cassandra", h, cql_local, h.address,
            inv.port("cassandra", "cassandra_native_port", h), client=cassandra_client)
    master = _spark_master(inv)
    if master is not None:
        if inv.text("spark", "spark_cluster_manager") != "mesos":
            port = inv.port("spark", "spark_master_ui_port", master)
            add("spark_master", master, http_get, f"http://{master.address}:{port}/json/")
        if inv.enabled("spark", "spark_history_enabled"):
            port = inv.port("spark", "spark_history_ui_port", master)
            add("spark_history", master, http_get,
                f"http://{master.address}:{port}/api/v1/version")
    login = prometheus_login(inv)
    for h in inv.members("prometheus"):
        base = f"http://{h.address}:{inv.port('metrics', 'metrics_prometheus_port', h)}"
        add("prometheus", h, http_get, base + TARGETS_PATH, auth=login)
        add("prometheus_alerts", h, http_get, base + ALERTS_PATH, auth=login)
    return probes


def run_probes(probes: Mapping[ProbeKey, Callable[[], Any]]) -> dict[ProbeKey, Outcome]:
    """Make every call at once; each one's own timeout bounds the whole run."""

    def guarded(call: Callable[[], Any]) -> Outcome:
        try:
            return Outcome(call())
        except Exception as err:  # any failure is a state to show, not a crash
            return Outcome(error=reason(err))

    if not probes:
        return {}
    workers = min(MAX_WORKERS, len(probes))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smack-status") as pool:
        futures = {key: pool.submit(guarded, call) for key, call in probes.items()}
        return {key: future.result() for key, future in futures.items()}
