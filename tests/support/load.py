"""Clients that keep writing while the cluster is restarted, scaled or upgraded.

Each writer counts a write only once the cluster acknowledged it (Kafka: acks=all; Cassandra:
QUORUM) and retries a failed write until it is acknowledged; `retries` says how often that
happened. Afterwards every acknowledged write must be readable: that is the no-loss promise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class Writer:
    """A background loop of write(i) for i = 0, 1, 2, ... (each retried until acknowledged)."""

    def __init__(self, name: str, write: Callable[[int], None]) -> None:
        self.name = name
        self._write = write
        self.acked: list[int] = []
        self.retries = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Writer:
        self._thread.start()
        return self

    def _loop(self) -> None:
        i = 0
        while not self._stop.is_set():
            try:
                self._write(i)
            except Exception as exc:  # every client error is retried; the last few are kept
                self.retries += 1
                self.errors = [*self.errors[-4:], f"{type(exc).__name__}: {exc}"]
                time.sleep(0.2)
                continue
            self.acked.append(i)
            i += 1

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {len(self.acked)} of {count} writes "
                                     f"acknowledged; last errors {self.errors}")
            time.sleep(0.5)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def kafka_writer(servers: list[str], topic: str) -> tuple[Writer, Any]:
    """A writer sending message i with key i to `topic`, acks=all; returns it and the producer."""
    from kafka import KafkaProducer  # type: ignore[import-untyped]

    producer = KafkaProducer(bootstrap_servers=servers, acks="all", retries=0,
                             request_timeout_ms=15000, max_block_ms=15000,
                             reconnect_backoff_max_ms=2000)

    def write(i: int) -> None:
        producer.send(topic, key=str(i).encode(), value=str(i).encode()).get(timeout=30)

    return Writer(f"kafka:{topic}", write), producer


def kafka_read_all(servers: list[str], topic: str) -> set[int]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=servers, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=20000)
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
