"""HMAC-SHA256 signatures of Sayna's SIP webhooks (docs/protocol.rst §6.2).

Shared by the receiver (verification) and by ``sayna.testing`` (signing
simulated inbound calls), so both sides agree by construction.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

__all__ = ["compute_signature", "sign_webhook"]

SIGNATURE_VERSION = "v1"


def compute_signature(secret: str, timestamp: str, event_id: str, body: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of ``v1:{timestamp}:{event_id}:{body}`` (trimmed secret)."""
    message = f"{SIGNATURE_VERSION}:{timestamp}:{event_id}:".encode() + body
    return hmac.new(secret.strip().encode(), message, hashlib.sha256).hexdigest()


def sign_webhook(
    secret: str,
    body: bytes | str,
    *,
    timestamp: int | None = None,
    event_id: str | None = None,
) -> dict[str, str]:
    """Headers that make ``body`` a correctly signed Sayna webhook.

    ``timestamp`` defaults to now (Unix seconds) and ``event_id`` to a fresh
    ``EV_…`` id. Post ``body`` byte-for-byte with these headers.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    ts = str(int(time.time()) if timestamp is None else timestamp)
    eid = event_id if event_id is not None else f"EV_{uuid.uuid4().hex[:16]}"
    signature = compute_signature(secret, ts, eid, raw)
    return {
        "Content-Type": "application/json",
        "X-Sayna-Signature": f"{SIGNATURE_VERSION}={signature}",
        "X-Sayna-Timestamp": ts,
        "X-Sayna-Event-Id": eid,
        "X-Sayna-Signature-Version": SIGNATURE_VERSION,
    }
