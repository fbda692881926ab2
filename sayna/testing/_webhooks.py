"""Signed SIP webhooks for tests: a realistic payload, and the request Sayna would POST.

Signing itself is :func:`sayna._signing.sign_webhook`, the code the receiver
verifies against; these helpers add the payload and its serialisation. They
need neither h11 nor wsproto, so they import without the ``testing`` extra.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sayna._signing import sign_webhook

__all__ = ["make_webhook_request", "sip_webhook_payload", "webhook_body"]


def sip_webhook_payload(**overrides: Any) -> dict[str, Any]:
    """A realistic SIP webhook payload (docs/protocol.rst §6.2), with top-level ``overrides``."""
    payload: dict[str, Any] = {
        "participant": {"name": "Phone Caller", "identity": "sip_+15559876543", "sid": "PA_1"},
        "room": {"name": "sip-+15551234567", "sid": "RM_1"},
        "from_phone_number": "+15559876543",
        "to_phone_number": "+15551234567",
        "room_prefix": "sip-",
        "sip_host": "sip.example.com",
        "sip_headers": {"to": "<sip:+15551234567@sip.example.com>"},
    }
    payload.update(overrides)
    return payload


def webhook_body(payload: Mapping[str, Any]) -> bytes:
    """``payload`` serialised as the server sends it: compact, UTF-8, non-ASCII not escaped."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def make_webhook_request(
    secret: str,
    payload: Mapping[str, Any] | None = None,
    *,
    timestamp: int | None = None,
    event_id: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a correctly signed SIP webhook, as Sayna would POST it.

    ``payload`` defaults to :func:`sip_webhook_payload`; it is serialised the
    way the server does it (compact, UTF-8, non-ASCII not escaped).
    """
    body = webhook_body(sip_webhook_payload() if payload is None else payload)
    return sign_webhook(secret, body, timestamp=timestamp, event_id=event_id), body
