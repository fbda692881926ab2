"""sayna.testing's webhook helpers build requests the receiver accepts."""

from __future__ import annotations

import pytest

from sayna import WebhookReceiver, WebhookVerificationError
from sayna.testing import make_webhook_request, sip_webhook_payload

SECRET = "testing-helpers-secret-0123456789"


def test_signed_request_is_accepted() -> None:
    """A request from make_webhook_request verifies and parses to its payload."""
    payload = sip_webhook_payload(sip_host="pbx.example.org")
    headers, body = make_webhook_request(SECRET, payload, event_id="EV_helper")
    result = WebhookReceiver(SECRET).receive(headers, body)
    assert result.sip_host == "pbx.example.org"
    assert result.event_id == "EV_helper"


def test_signed_request_fails_with_another_secret() -> None:
    """The signature binds the secret: another receiver rejects the request."""
    headers, body = make_webhook_request(SECRET)
    with pytest.raises(WebhookVerificationError) as info:
        WebhookReceiver("some-other-secret-0123456789").receive(headers, body)
    assert info.value.reason == "signature_mismatch"


def test_body_is_serialised_as_the_server_does() -> None:
    """The body is compact JSON in UTF-8 with non-ASCII characters left unescaped."""
    payload = sip_webhook_payload(participant={"name": "José", "identity": "sip_1", "sid": "PA_2"})
    _, body = make_webhook_request(SECRET, payload)
    assert '"name":"José"'.encode() in body
    assert b", " not in body
    assert b": " not in body
