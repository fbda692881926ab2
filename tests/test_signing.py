"""Webhook signing matches the server's HMAC rule over the raw bytes."""

from __future__ import annotations

import hashlib
import hmac

from sayna._signing import compute_signature, sign_webhook


def test_signature_matches_protocol_formula() -> None:
    """The signature is HMAC-SHA256 of v1:ts:id:body keyed by the trimmed secret."""
    body = '{"a":"é"}'.encode()
    expected = hmac.new(
        b"0123456789abcdef", b"v1:1700000000:EV_1:" + body, hashlib.sha256
    ).hexdigest()
    assert compute_signature("  0123456789abcdef \n", "1700000000", "EV_1", body) == expected


def test_sign_webhook_headers() -> None:
    """sign_webhook returns every header the server sends, signature included."""
    headers = sign_webhook("0123456789abcdef", "{}", timestamp=12, event_id="EV_x")
    assert headers["X-Sayna-Timestamp"] == "12"
    assert headers["X-Sayna-Event-Id"] == "EV_x"
    assert headers["X-Sayna-Signature-Version"] == "v1"
    assert headers["Content-Type"] == "application/json"
    sig = compute_signature("0123456789abcdef", "12", "EV_x", b"{}")
    assert headers["X-Sayna-Signature"] == "v1=" + sig


def test_sign_webhook_defaults_are_fresh() -> None:
    """Without a timestamp or event id, each call gets a current time and a new id."""
    a = sign_webhook("0123456789abcdef", b"{}")
    b = sign_webhook("0123456789abcdef", b"{}")
    assert a["X-Sayna-Event-Id"] != b["X-Sayna-Event-Id"]
    assert a["X-Sayna-Timestamp"].isdigit()
