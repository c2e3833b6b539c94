"""Plain HTTP calls between stand-ins (smack test stand-in): agent/framework -> master, proxying."""

from __future__ import annotations

import http.client
import json
from typing import Any


class Unreachable(Exception):
    """The peer did not answer (refused, reset, timed out)."""


def request(
    host: str,
    port: int,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 3.0,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request on a fresh connection: (status, headers, body)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise Unreachable(f"{host}:{port}: {exc}") from exc
    finally:
        conn.close()


def post_json(
    host: str, port: int, path: str, payload: object, timeout: float = 3.0
) -> tuple[int, Any]:
    """POST JSON, return (status, decoded JSON or None)."""
    headers = {"Content-Type": "application/json"}
    body = json.dumps(payload).encode()
    status, _, raw = request(host, port, "POST", path, body=body, headers=headers, timeout=timeout)
    try:
        return status, json.loads(raw.decode() or "null")
    except ValueError:
        return status, None
