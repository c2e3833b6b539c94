"""The real Pulumi engine on the local stack: up, no-op up, preview, scale 3→4→3, destroy.

Drives plain `pulumi` and `smack` (Automation API) as a user would, against a stack of its
own on the test subnet, and checks each step's effect on the nodes themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import yaml

from infra.paths import inventory_dir, state_dir
from tests.support.engine_stack import Stack
from tests.support.leaks import footprint, leftovers

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack() -> Iterator[Stack]:
    s = Stack(f"e2e{uuid.uuid4().hex[:6]}")
    # The engine is what this tier proves; ZooKeeper and Kafka stand in for the services
    # (Cassandra and Spark are proved by the integration tier, and would double CI time).
    s.write_settings(count=3, services={
        "zookeeper": {"heap_mb": 128}, "kafka": {"heap_mb": 256},
        **{name: {"enabled": False} for name in
           ("cassandra", "spark", "mesos_master", "mesos_agent", "marathon")}})
    try:
        yield s
    finally:
        s.destroy_and_remove()


def brokers(stack: Stack) -> int:
    """Brokers registered in the Kafka cluster, as node-1 sees them."""
    listing = stack.exec(1, "sh", "-c",
                         "kafka-broker-api-versions --bootstrap-server $(hostname -i):9092")
    return listing.count("(id: ")


def test_up_rerun_scale_and_destroy_through_the_real_engine(stack: Stack) -> None:
    # First `pulumi up`: nodes, inventory and one Ansible run.
    stack.pulumi("stack", "init")
    stack.pulumi("up", "--yes")
    first = stack.containers()
    assert sorted(first) == [stack.node(1), stack.node(2), stack.node(3)]
    assert 'version "17' in stack.podman.run("exec", stack.node(2), "java", "-version").stderr
    outputs = stack.outputs()
    assert sorted(outputs["nodes"]) == ["node-1", "node-2", "node-3"]  # type: ignore[arg-type]
    assert set(outputs["ansible"]) == {"node-1", "node-2", "node-3"}  # type: ignore[arg-type]
    ends = outputs["endpoints"]
    assert len(ends["kafka"]["bootstrap_servers"].split(",")) == 3  # type: ignore[index]
    assert len(ends["zookeeper"]["connect"].split(",")) == 3  # type: ignore[index]
    assert brokers(stack) == 3
    hosts = yaml.safe_load((inventory_dir(stack.name) / "hosts.yml").read_text())
    assert sorted(hosts["all"]["hosts"]) == ["node-1", "node-2", "node-3"]
    assert stack.runs_of_site() == 1

    # `smack up` with nothing changed: nothing changes and Ansible does not run again.
    rerun = stack.smack("up")
    # stack, cluster, key, network, 3 nodes, inventory, credentials, the Ansible run
    assert "10 unchanged" in rerun.stdout
    assert stack.containers() == first
    assert stack.runs_of_site() == 1
    stack.pulumi("preview", "--expect-no-changes")

    # 3 → 4: one node more, everything else kept, Ansible reruns (node-1 learns node-4).
    stack.write_settings(count=4)
    stack.smack("up")
    grown = stack.containers()
    assert set(grown) == {*first, stack.node(4)}
    assert all(grown[name] == first[name] for name in first)
    assert stack.runs_of_site() == 2
    assert "node-4" in stack.exec(1, "cat", "/etc/hosts")
    assert 'version "17' in stack.podman.run("exec", stack.node(4), "java", "-version").stderr
    assert brokers(stack) == 4  # the new node joined Kafka
    bootstrap = stack.outputs()["endpoints"]["kafka"]["bootstrap_servers"]  # type: ignore[index]
    assert len(bootstrap.split(",")) == 4

    # 4 → 3: node-4 leaves Kafka first (remove-node.yml: partitions moved, broker stopped and
    # unregistered), then exactly node-4 goes; the rest is untouched.
    stack.write_settings(count=3)
    removed = footprint(stack.podman, [stack.node(4)])
    shrunk = stack.pulumi("up", "--yes")
    assert "remove-node.yml: 4 host(s)" in shrunk.stdout + shrunk.stderr
    assert stack.containers() == first
    assert brokers(stack) == 3
    assert "node-4" not in stack.exec(1, "cat", "/etc/hosts")
    assert [x for x in leftovers(stack.podman, stack.name, removed)
            if "node-4" in x or any(i in x for i in removed.container_ids)] == []

    # `smack destroy`: every node, the network, the key and the inventory are gone.
    everything = footprint(stack.podman, sorted(first))
    stack.smack("destroy", "--yes")
    assert leftovers(stack.podman, stack.name, everything) == []
    assert not state_dir(stack.name).exists()
    assert not inventory_dir(stack.name).exists()
