"""Every shared webhook vector gets the official Python receiver's verdict from ours."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from sayna import WebhookReceiver, WebhookVerificationError
from tests.support.shared_protocol import load_vectors

VECTORS = load_vectors("webhook")
BY_NAME = dict(VECTORS)

# Where our behaviour deliberately differs from the official Python receiver
# (sayna-client 0.0.18). The verdict (rejected) is the same; only the exception
# differs. Keep this tiny: each entry needs a reason a reviewer would accept.
DIFFERS_FROM_OFFICIAL_PYTHON = {
    "invalid_json_array_body": (
        "the official receiver crashes with TypeError on JSON that is not an object; "
        "docs/protocol.rst §6.3 calls that a quirk not to copy, so we raise "
        "WebhookVerificationError(reason='invalid_payload') like every other rejection"
    ),
}

# The official receiver's message prefix for each check, and our reason code.
OFFICIAL_MESSAGE_TO_REASON = [
    ("Webhook secret is required", "missing_secret"),
    ("Webhook secret must be at least", "secret_too_short"),
    ("Missing required header", "missing_header"),
    ("Invalid signature format", "bad_signature_format"),
    ("Invalid signature: must be 64 hex", "bad_signature_format"),
    ("Invalid timestamp format", "bad_timestamp"),
    ("Timestamp outside replay protection window", "timestamp_out_of_window"),
    ("Signature verification failed", "signature_mismatch"),
    ("Invalid JSON payload", "invalid_json"),
    ("Webhook payload validation failed", "invalid_payload"),
]

FORMS = ["str-body", "bytes-body", "wsgi-environ"]


def _expected_reason(name: str, vector: dict[str, Any]) -> tuple[str, str | None]:
    """Our reason code (and payload field) for the official receiver's recorded error."""
    if name in DIFFERS_FROM_OFFICIAL_PYTHON:
        return "invalid_payload", None
    message = vector["official_python_receiver"]["error"]["message"]
    for prefix, reason in OFFICIAL_MESSAGE_TO_REASON:
        if message.startswith(prefix):
            field = None
            if reason == "invalid_payload":
                field = message.split(": ", 2)[1]
            return reason, field
    raise AssertionError(f"{name}: no reason code known for {message!r}")


def _call(vector: dict[str, Any], form: str) -> Any:
    receiver = WebhookReceiver(vector["secret"])
    headers: dict[str, str] = vector["headers"]
    body: str | bytes = vector["body"]
    if form == "bytes-body":
        body = vector["body"].encode("utf-8")
    elif form == "wsgi-environ":
        headers = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
        headers["wsgi.url_scheme"] = "https"
        body = vector["body"].encode("utf-8")
    return receiver.receive(headers, body, now=vector["now"])


def _as_expected_output(vector: dict[str, Any]) -> dict[str, Any]:
    """The payload as our WebhookSIPOutput renders it: unknown keys dropped, defaults filled."""
    data = json.loads(vector["body"])
    headers = {k.lower(): v for k, v in vector["headers"].items()}
    participant = data["participant"]
    return {
        "participant": {
            "identity": participant["identity"],
            "sid": participant["sid"],
            "name": participant.get("name"),
        },
        "room": {"name": data["room"]["name"], "sid": data["room"]["sid"]},
        "from_phone_number": data["from_phone_number"],
        "to_phone_number": data["to_phone_number"],
        "room_prefix": data["room_prefix"],
        "sip_host": data["sip_host"],
        "sip_headers": data.get("sip_headers") or {},
        "event_id": headers["x-sayna-event-id"],
        "timestamp": int(headers["x-sayna-timestamp"]),
    }


def test_vector_set_is_the_expected_one() -> None:
    """The shared folder holds the 50 vectors this suite was written against."""
    assert len(VECTORS) == 50
    assert sum(v["valid"] for _, v in VECTORS) == 16
    assert sum(v.get("stage") == "constructor" for _, v in VECTORS) == 1


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("name", "vector"), VECTORS, ids=[name for name, _ in VECTORS])
def test_vector_verdict(name: str, vector: dict[str, Any], form: str) -> None:
    """Accepted vectors parse to their body's fields; rejected ones raise with the right reason."""
    if vector.get("stage") == "constructor":
        with pytest.raises(WebhookVerificationError) as info:
            WebhookReceiver(vector["secret"])
        assert info.value.reason == _expected_reason(name, vector)[0]
        assert vector["secret"].strip() not in str(info.value)
        return
    if vector["valid"]:
        result = _call(vector, form)
        assert attrs.asdict(result) == _as_expected_output(vector)
        return
    reason, field = _expected_reason(name, vector)
    with pytest.raises(WebhookVerificationError) as info:
        _call(vector, form)
    assert info.value.reason == reason, str(info.value)
    assert info.value.field == field
    assert vector["secret"].strip() not in str(info.value)


def test_our_verdict_equals_official_python_verdict_everywhere() -> None:
    """`valid` is the official Python receiver's verdict, and ours matches on all 50."""
    for name, vector in VECTORS:
        assert vector["valid"] == vector["official_python_receiver"]["accepted"], name


def test_deliberate_differences_are_exactly_the_official_crashes() -> None:
    """We differ only where the official receiver raised something other than its error."""
    crashes = {
        name
        for name, vector in VECTORS
        if not vector["official_python_receiver"]["accepted"]
        and vector["official_python_receiver"]["error"]["exception"] != "SaynaValidationError"
    }
    assert crashes == set(DIFFERS_FROM_OFFICIAL_PYTHON)
    official = BY_NAME["invalid_json_array_body"]["official_python_receiver"]
    assert official["error"]["exception"] == "TypeError"
