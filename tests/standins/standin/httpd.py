"""A tiny HTTP/1.1 server that writes headers the way the real daemons do (smack test stand-in).

libprocess (Mesos) sends no Server header, always a Date and a Content-Length, and orders the
headers differently for JSON answers (Date, Content-Length, Content-Type) and for error texts
(Date, [WWW-Authenticate], Content-Type, Content-Length) -- see real-mesos-samples/*.headers.
Python's BaseHTTPRequestHandler would add its own Server header, so responses are written here.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    client: str

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8") or "null")

    def basic_auth(self) -> tuple[str, str] | None:
        """(user, password) from an Authorization: Basic header, if well-formed."""
        value = self.headers.get("Authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(token.strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    # "json": Date, Content-Length, Content-Type (+extra); "text": Date, extra, Content-Type,
    # Content-Length -- the two orders libprocess uses; "given": Date, then `headers` exactly
    # as listed (Content-Type among them), then Content-Length -- Jetty's order (Marathon).
    order: str = "json"
    # The status line's reason phrase when it is not the standard one (Jetty sends none for 422).
    reason: str | None = None
    # Transfer-Encoding: chunked instead of Content-Length (Marathon's /metrics).
    chunked: bool = False

    def header_lines(self) -> list[tuple[str, str]]:
        date = ("Date", email.utils.formatdate(usegmt=True))
        length = ("Content-Length", str(len(self.body)))
        ctype = [("Content-Type", self.content_type)] if self.content_type else []
        if self.order == "given":
            tail = [("Transfer-Encoding", "chunked")] if self.chunked else [length]
            return [date, *self.headers, *tail]
        if self.order == "text":
            return [date, *self.headers, *ctype, length]
        return [date, length, *ctype, *self.headers]


def json_response(
    obj: object, status: int = 200, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return Response(status, body, JSON_TYPE, headers or [])


def text_response(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, text.encode(), TEXT_TYPE, headers or [], order="text")


def empty_response(status: int = 200) -> Response:
    return Response(status)


def redirect_response(location: str) -> Response:
    """307 like libprocess: Date, Location, Content-Length: 0."""
    return Response(307, headers=[("Location", location)], order="text")


def unauthorized(realm: str) -> Response:
    return text_response(401, "401 Unauthorized.", [("WWW-Authenticate", f'Basic realm="{realm}"')])


def not_found() -> Response:
    return text_response(404, "404 Not Found.")


def method_not_allowed(allowed: list[str], method: str) -> Response:
    names = ", ".join(f"'{m}'" for m in allowed)
    return text_response(405, f"Expecting one of {{ {names} }}, but received '{method}'")


Handler = Callable[[Request], Response]


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    app: Handler  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        """The daemons log requests themselves, glog-style."""

    def _dispatch(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        request = Request(
            method=self.command,
            path=urllib.parse.unquote(parsed.path) or "/",
            query=urllib.parse.parse_qs(parsed.query),
            headers=self.headers,
            body=body,
            client=f"{self.client_address[0]}:{self.client_address[1]}",
        )
        try:
            response = type(self).app(request)
        except Exception as exc:  # a bug in a stand-in must not kill the server thread
            response = text_response(500, f"smack stand-in error: {exc!r}")
        self._write(response)

    def _write(self, response: Response) -> None:
        phrase = HTTPStatus(response.status).phrase if response.reason is None else response.reason
        lines = [f"HTTP/1.1 {response.status} {phrase}"]
        lines += [f"{name}: {value}" for name, value in response.header_lines()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if self.command != "HEAD":
            if response.chunked:
                body = response.body
                if body:
                    self.wfile.write(f"{len(body):x}\r\n".encode() + body + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(response.body)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _dispatch


class HttpServer:
    """A threaded server bound to (host, port) that passes every request to `app`."""

    def __init__(self, host: str, port: int, app: Handler) -> None:
        handler = type("BoundHandler", (_RequestHandler,), {"app": staticmethod(app)})
        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, name="http", daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
