"""Agent/framework authentication between stand-ins (smack test stand-in, not Apache Mesos).

The real daemons authenticate agents and frameworks with SASL CRAM-MD5 over libprocess. The
stand-ins only need the outcome to match (right secret: registered; wrong secret: "Master ...
refused authentication"), so the client sends HMAC-SHA256(secret, nonce) and never the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def sign(principal: str, secret: str) -> dict[str, str]:
    nonce = secrets.token_hex(16)
    digest = hmac.new(secret.encode(), nonce.encode(), hashlib.sha256).hexdigest()
    return {"principal": principal, "nonce": nonce, "digest": digest}


def verify(credential: dict[str, str] | None, known: dict[str, str] | None) -> str | None:
    """The authenticated principal, or None when the proof does not match a known secret."""
    if not credential or not known:
        return None
    principal = str(credential.get("principal", ""))
    if principal not in known:
        return None
    expected = hmac.new(
        known[principal].encode(), str(credential.get("nonce", "")).encode(), hashlib.sha256
    )
    return (
        principal
        if hmac.compare_digest(expected.hexdigest(), str(credential.get("digest", "")))
        else None
    )
