"""A test's view of the first nodes of a local stack, and the watch behind every
"one node at a time" promise.

The integration modules read the nodes the same way: a shell on a node, when a unit last
became active, a QUORUM CQL session. Restarts are judged the same way too: every node
restarted, each one after the one before was back, never two down at the same moment.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import yaml

from infra.cassandra_access import client_options as cassandra_client_options
from infra.credentials import credentials_file
from infra.kafka_access import client_options
from infra.nodes.engine import ContainerEngine
from infra.nodes.local import local_specs
from infra.nodes.local_engine import open_engine
from tests.support.direct import DirectLocalCluster

# What the watch calls the nodes serving each port, for its failure message.
PORT_NAMES = {9092: "brokers", 9042: "Cassandra nodes"}


class Nodes:
    """The cluster's nodes 1..count, through the container engine (no SSH needed)."""

    def __init__(self, cluster: DirectLocalCluster, count: int = 3, dc: str = "east") -> None:
        self.cluster = cluster
        self.numbers = tuple(range(1, count + 1))
        self.dc = dc
        self.engine: ContainerEngine = open_engine(
            local_specs(cluster.settings, "").network["engine"])
        self.addresses = [cluster.created[self.container(n)]["address"] for n in self.numbers]

    def container(self, n: int) -> str:
        return f"smack-{self.cluster.settings.stack}-node-{n}"

    def sh(self, n: int, script: str, check: bool = True) -> str:
        return self.engine.run("exec", self.container(n), "sh", "-c", script,
                               check=check).stdout

    def started_at(self, unit: str, numbers: tuple[int, ...] = ()) -> list[int]:
        """When each node's unit last became active (host monotonic clock, microseconds): the
        cluster's nodes, or those of `numbers`."""
        return [int(self.sh(n, f"systemctl show {unit} -p ActiveEnterTimestampMonotonic "
                               f"--value").strip() or 0) for n in numbers or self.numbers]

    def kafka_client(self) -> dict[str, Any]:
        """kafka-python settings logging in as smack's admin (TLS + SCRAM), as status does."""
        values = yaml.safe_load(credentials_file(self.cluster.settings.stack).read_text())
        return client_options(values, values["ca"]["cert"])

    def cql(self) -> Any:
        """A session on the nodes at QUORUM, routed within the stack's data center."""
        from cassandra import ConsistencyLevel  # type: ignore[import-untyped]
        from cassandra.cluster import (  # type: ignore[import-untyped]
            EXEC_PROFILE_DEFAULT,
            Cluster,
            ExecutionProfile,
        )
        from cassandra.policies import (  # type: ignore[import-untyped]
            DCAwareRoundRobinPolicy,
            RetryPolicy,
        )

        class RetryTimeouts(RetryPolicy):  # type: ignore[misc]
            """The tests' statements are idempotent (keyed inserts, reads): a replica that does
            not answer within the server's 2 s on a machine running three test clusters (CI's
            lanes; load averages of 50 seen) is asked again, twice, instead of failing the
            test. A row counts as written only once an attempt was acknowledged."""

            # The driver passes the query and then keywords (response.info, retry_num).
            def on_write_timeout(self, query: Any, **info: Any) -> tuple[Any, Any]:
                return again(info)

            def on_read_timeout(self, query: Any, **info: Any) -> tuple[Any, Any]:
                return again(info)

        def again(info: dict[str, Any]) -> tuple[Any, Any]:
            if info["retry_num"] < 2:
                return RetryPolicy.RETRY, info["consistency"]
            return RetryPolicy.RETHROW, None

        profile = ExecutionProfile(consistency_level=ConsistencyLevel.QUORUM,
                                   load_balancing_policy=DCAwareRoundRobinPolicy(self.dc),
                                   retry_policy=RetryTimeouts(), request_timeout=30)
        # The driver's 5 s for a connection (TLS handshake included) is too short on a loaded CI
        # machine (the clean-clone run of 626eb66 timed out there).
        return Cluster(self.addresses, execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                       connect_timeout=30, **self.cassandra_client()).connect()

    def cassandra_client(self) -> dict[str, Any]:
        """cassandra-driver settings logging in as smack's superuser over TLS, as status does."""
        if not self.cluster.settings.services.cassandra.security:
            return {}
        values = yaml.safe_load(credentials_file(self.cluster.settings.stack).read_text())
        return cassandra_client_options(values, values["ca"]["cert"])

    def write_keep(self, messages: int, rows: int) -> None:
        """Data that every later step must keep: messages 1..`messages` in topic `keep` (acks
        all) and ids 0..`rows`-1 in table keep.t, each on three replicas."""
        self.sh(1, "kafka-topics --bootstrap-server $(hostname -i):9094 --create --topic keep "
                   "--partitions 3 --replication-factor 3 >/dev/null")
        self.sh(1, f"seq 1 {messages} | kafka-console-producer --bootstrap-server "
                   f"$(hostname -i):9094 --topic keep --producer-property acks=all")
        session = self.cql()
        try:
            session.execute("CREATE KEYSPACE keep WITH replication = "
                            f"{{'class': 'NetworkTopologyStrategy', '{self.dc}': 3}}")
            session.execute("CREATE TABLE keep.t (id int PRIMARY KEY)")
            for i in range(rows):
                session.execute("INSERT INTO keep.t (id) VALUES (%s)", (i,))
        finally:
            session.cluster.shutdown()

    def keep_messages(self, count: int) -> list[int]:
        """The first `count` messages of topic `keep`, read by a console consumer on node 2."""
        out = self.sh(2, f"kafka-console-consumer --bootstrap-server $(hostname -i):9094 "
                         f"--topic keep --from-beginning --max-messages {count} "
                         f"--timeout-ms 60000")
        return sorted(int(x) for x in out.split())

    def keep_rows(self) -> list[int]:
        """Every id in keep.t, read at QUORUM."""
        session = self.cql()
        try:
            return sorted(r.id for r in session.execute("SELECT id FROM keep.t"))
        finally:
            session.cluster.shutdown()

    def pending_restarts(self) -> list[str]:
        """Each node's unanswered restart requests (empty once every restart was done)."""
        return [self.sh(n, "ls -A /var/lib/smack/restart-pending", check=False).strip()
                for n in self.numbers]


def serving(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def one_node_down_at_most(addresses: list[str], *ports: int) -> Iterator[None]:
    """Poll `ports` on every address during the block; afterwards fail if two nodes were ever
    down on the same port at the same time."""
    samples: dict[int, list[int]] = {port: [] for port in ports}
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            for port, seen in samples.items():
                seen.append(sum(not serving(a, port) for a in addresses))
            time.sleep(0.3)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    for port, seen in samples.items():
        assert max(seen) <= 1, \
            f"two {PORT_NAMES.get(port, f'nodes serving {port}')} were down at the same time"


def rolled_one_at_a_time(before: list[int], after: list[int], gap_us: int = 3_000_000) -> bool:
    """Every node restarted (start times from `Nodes.started_at`), each one well after the
    one before it was back."""
    return (all(a != b for a, b in zip(after, before, strict=True))
            and all(b - a > gap_us for a, b in itertools.pairwise(sorted(after))))

