"""Asking a Kafka broker: the ApiVersions exchange on the wire, then the cluster metadata."""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Mapping
from typing import Any

from infra.status.net import TIMEOUT_SECONDS, _quiet
from infra.status.results import ProbeError

KAFKA_API_VERSIONS = 18  # the ApiVersions request's key in the Kafka protocol
KAFKA_CLIENT_ID = b"smack-status"


def kafka_api_versions_request(correlation_id: int) -> bytes:
    """ApiVersions v0, framed: every broker answers it, whatever versions it supports."""
    body = struct.pack(">hhih", KAFKA_API_VERSIONS, 0, correlation_id, len(KAFKA_CLIENT_ID))
    body += KAFKA_CLIENT_ID
    return struct.pack(">i", len(body)) + body


def parse_api_versions(frame: bytes, correlation_id: int) -> dict[int, tuple[int, int]]:
    """api key -> (min, max) version from an ApiVersions v0 answer (without its size prefix)."""
    try:
        answered, error = struct.unpack_from(">ih", frame, 0)
        if answered != correlation_id:
            raise ProbeError("down (answer is not Kafka's: wrong correlation id)")
        (count,) = struct.unpack_from(">i", frame, 6)
        keys = [struct.unpack_from(">hhh", frame, 10 + 6 * i) for i in range(count)]
    except struct.error:
        raise ProbeError("down (answer is not Kafka's: truncated)") from None
    if error:
        raise ProbeError(f"ApiVersions refused with Kafka error code {error}")
    return {key: (low, high) for key, low, high in keys}


def kafka_api_versions(address: str, port: int, timeout: float = TIMEOUT_SECONDS,
                       tls: ssl.SSLContext | None = None) -> dict[int, tuple[int, int]]:
    """ApiVersions needs no login, also on a SASL listener: it only proves the broker (and its
    certificate, with `tls`) answers."""
    with socket.create_connection((address, port), timeout=timeout) as raw:
        try:
            sock = tls.wrap_socket(raw, server_hostname=address) if tls else raw
            sock.sendall(kafka_api_versions_request(1))
            (size,) = struct.unpack(">i", _read_exactly(sock, 4))
            return parse_api_versions(_read_exactly(sock, size), 1)
        except ssl.SSLError as err:
            # TLS 1.3 reports a refused client certificate only on the first read.
            raise ProbeError(f"down (TLS refused: {err.reason or err})") from None


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ProbeError("down (closed the connection without an answer)")
        data += chunk
    return data


def kafka_cluster(address: str, port: int, timeout: float = TIMEOUT_SECONDS,
                  client: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The cluster as the broker at address:port describes it.

    `client`: kafka-python's security settings (infra.kafka_access.client_options). A plain
    ApiVersions exchange comes first: a dead or foreign port fails there quickly, before
    kafka-python starts its I/O thread (which a failed bootstrap leaves running).
    """
    client = dict(client or {})
    kafka_api_versions(address, port, timeout, client.get("ssl_context"))
    from kafka import KafkaAdminClient  # type: ignore[import-untyped]  # noqa: PLC0415
    from kafka.errors import KafkaError  # type: ignore[import-untyped]  # noqa: PLC0415

    _quiet("kafka")
    millis = int(timeout * 1000)
    try:
        admin = KafkaAdminClient(bootstrap_servers=f"{address}:{port}",
                                 client_id=KAFKA_CLIENT_ID.decode(),
                                 bootstrap_timeout_ms=millis, request_timeout_ms=millis,
                                 **client)
    except KafkaError as err:
        raise ProbeError(f"down (no Kafka answer: {type(err).__name__})") from None
    try:
        return dict(admin.describe_cluster())
    except KafkaError as err:
        raise ProbeError(f"no cluster metadata ({type(err).__name__})") from None
    finally:
        admin.close()
