"""Kafka's rows: each broker as the cluster metadata lists it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.status.inventory import StackInventory, _endpoint
from infra.status.results import Outcome, ProbeKey, Row, ServiceStatus, _down


def kafka_broker(cluster: Mapping[str, Any], address: str, port: int
                 ) -> Mapping[str, Any] | None:
    """This node's entry in the cluster's broker list (brokers advertise their address)."""
    for broker in cluster.get("brokers") or []:
        if broker.get("host") == address and int(broker.get("port") or 0) == port:
            return dict(broker)
    return None


def kafka_status(inv: StackInventory, outcomes: Mapping[ProbeKey, Outcome]) -> ServiceStatus:
    rows: list[Row] = []
    version = inv.text("kafka", "kafka_version")
    for h in inv.members("kafka"):
        port = inv.port("kafka", "kafka_port", h)
        endpoint = _endpoint(h, port)
        outcome = outcomes.get(("kafka", h.name))
        if outcome is None or not outcome.ok:
            rows.append(Row(h.name, "broker", _down(outcome), version, endpoint, False))
            continue
        broker = kafka_broker(outcome.value, h.address, port)
        if broker is None:
            rows.append(Row(h.name, "broker", "not in the cluster metadata", version,
                            endpoint, False))
            continue
        role = f"broker {broker.get('broker_id', broker.get('node_id', '?'))}"
        if broker.get("is_fenced"):
            rows.append(Row(h.name, role, "fenced", version, endpoint, False))
            continue
        rows.append(Row(h.name, role, "up", version, endpoint, True))
    return ServiceStatus("kafka", "Kafka", rows)
