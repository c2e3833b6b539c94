"""Clients that keep writing while the cluster is restarted, scaled or upgraded.

Each writer counts a write only once the cluster acknowledged it (Kafka: acks=all; Cassandra:
QUORUM) and retries a failed write until it is acknowledged; `retries` says how often that
happened. Afterwards every acknowledged write must be readable: that is the no-loss promise.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any


class Writer:
    """Background loops writing write(i) for i = 0, 1, 2, ..., each i retried until it is
    acknowledged. Several loops share the sequence, so writes keep flowing while one of them
    waits out a node that is down, and ten thousand of them fit in one rolling restart; the
    loops together stay under `max_rate` writes a second, to leave the machine's CPU to the
    cluster."""

    def __init__(self, name: str, write: Callable[[int], None], loops: int = 4,
                 max_rate: float = 80) -> None:
        self.name = name
        self._write = write
        self._interval = loops / max_rate
        self.acked: list[int] = []
        self.retries = 0
        self.errors: list[str] = []
        self._next = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, name=f"{name}-{n}", daemon=True)
                         for n in range(loops)]

    def start(self) -> Writer:
        for thread in self._threads:
            thread.start()
        return self

    def _loop(self) -> None:
        i = next(self._next)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._write(i)
            except Exception as exc:  # every client error is retried; the last few are kept
                with self._lock:
                    self.retries += 1
                    self.errors = [*self.errors[-4:], f"{type(exc).__name__}: {exc}"]
                time.sleep(0.2)
                continue
            with self._lock:
                self.acked.append(i)
            i = next(self._next)
            self._stop.wait(self._interval - (time.monotonic() - started))

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            if not any(t.is_alive() for t in self._threads) or time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {len(self.acked)} of {count} writes "
                                     f"acknowledged; last errors {self.errors}")
            time.sleep(0.5)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)


def kafka_writer(servers: list[str], topic: str, client: Mapping[str, Any]
                 ) -> tuple[Writer, Any]:
    """A writer sending message i with key i to `topic`, acks=all; returns it and the producer.
    `client`: the login (Nodes.kafka_client)."""
    from kafka import KafkaProducer  # type: ignore[import-untyped]

    producer = KafkaProducer(bootstrap_servers=servers, acks="all", retries=0,
                             request_timeout_ms=15000, max_block_ms=15000,
                             reconnect_backoff_max_ms=2000, **client)

    def write(i: int) -> None:
        producer.send(topic, key=str(i).encode(), value=str(i).encode()).get(timeout=30)

    return Writer(f"kafka:{topic}", write), producer


def kafka_read_all(servers: list[str], topic: str, client: Mapping[str, Any]) -> set[int]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=servers, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=20000, **client)
    try:
        return {int(m.value) for m in consumer}
    finally:
        consumer.close()


def cassandra_writer(session: Any, table: str) -> Writer:
    """A writer inserting row i into `table` (id int PRIMARY KEY) at the session's consistency."""
    insert = session.prepare(f"INSERT INTO {table} (id) VALUES (?)")  # noqa: S608 - test table

    def write(i: int) -> None:
        session.execute(insert, (i,), timeout=20)

    return Writer(f"cassandra:{table}", write)


def cassandra_read_all(session: Any, table: str) -> set[int]:
    query = f"SELECT id FROM {table}"  # noqa: S608 - a test table name
    return {row.id for row in session.execute(query, timeout=60)}
