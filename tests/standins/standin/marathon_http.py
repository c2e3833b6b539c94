"""Marathon's HTTP answers, header for header (smack test stand-in, not Marathon).

Header sets and orders are those of real-marathon-samples/*.headers (Jetty behind Marathon's
filters): every answer of the leader carries X-Marathon-Leader and the five cache/security
headers; GET answers with a JSON body add `Vary: Accept-Encoding, User-Agent` (the gzip
handler), /ping also `Vary: Accept`; /metrics is sent chunked; a 422 has no reason phrase;
a refused credential gets Jetty's HTML error page with `basic realm="null"` whatever
--http_realm says. JSON bodies are compact, as served.
"""

from __future__ import annotations

import json
from html import escape

from .httpd import Request, Response

JSON = "application/json"
SECURITY = [
    ("X-Frame-Options", "DENY"),
    ("X-XSS-Protection", "1; mode=block"),
    ("Cache-Control", "no-cache, no-store, must-revalidate"),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
]
VARY = ("Vary", "Accept-Encoding, User-Agent")


def dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _base(leader: str | None) -> list[tuple[str, str]]:
    return ([("X-Marathon-Leader", f"http://{leader}")] if leader else []) + SECURITY


def answer(status: int, obj: object, leader: str | None, *, vary: bool = False,
           before_type: list[tuple[str, str]] | None = None, chunked: bool = False) -> Response:
    """A JSON answer: X-Marathon-Leader, security headers, `before_type` (Location,
    Marathon-Deployment-Id), Content-Type, then Vary when the body is a GET's JSON."""
    headers = [*_base(leader), *(before_type or []), ("Content-Type", JSON)]
    if vary:
        headers.append(VARY)
    return Response(status, dumps(obj), None, headers, order="given",
                    reason="" if status == 422 else None, chunked=chunked)


def pong(leader: str | None) -> Response:
    headers = [*_base(leader), ("Content-Type", "text/plain"), ("Vary", "Accept"), VARY]
    return Response(200, b"pong", None, headers, order="given")


def redirect(leader: str | None, location: str) -> Response:
    return Response(302, b"", None, [*_base(leader), ("Location", location)], order="given")


def jetty_error(status: int, reason: str, path: str,
                headers: list[tuple[str, str]] | None = None) -> Response:
    """Jetty's own error page (sendError), as in the 401 samples."""
    body = (
        "<html>\n<head>\n"
        '<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n'
        f"<title>Error {status} {escape(reason)}</title>\n"
        "</head>\n"
        f"<body><h2>HTTP ERROR {status}</h2>\n"
        f"<p>Problem accessing {escape(path)}. Reason:\n"
        f"<pre>    {escape(reason)}</pre></p>\n"
        "</body>\n</html>\n"
    ).encode("iso-8859-1")
    headers = [*(headers or []), ("Cache-Control", "must-revalidate,no-cache,no-store"),
               ("Content-Type", "text/html;charset=iso-8859-1")]
    return Response(status, body, None, headers, order="given")


def unauthorized(path: str) -> Response:
    return jetty_error(401, "Unauthorized", path, [("WWW-Authenticate", 'basic realm="null"')])


def accepts_json(req: Request) -> bool:
    """False when the client's Accept header rules JSON out (the samples' 406s)."""
    accept = req.headers.get("Accept")
    if not accept:
        return True
    for part in accept.split(","):
        kind = part.split(";")[0].strip().lower()
        if kind in ("*/*", "application/*", "application/json"):
            return True
    return False


def not_acceptable(leader: str | None) -> Response:
    return answer(406, {"message": "Not Acceptable"}, leader)
