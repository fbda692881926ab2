"""The JSON nesting bound is measured on the text, the same way on every Python."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sayna import (
    BadRequestError,
    Sayna,
    SaynaProtocolError,
    WebhookReceiver,
    WebhookVerificationError,
)
from sayna._wirejson import MAX_JSON_DEPTH, TOO_DEEP, nested_too_deep
from sayna.testing import make_webhook_request, sip_webhook_payload
from tests.support.rawserver import RawServer, read_request_head

SECRET = "whsec_nesting_test_secret_0123456789"

# Text that stresses the string scanner: brackets, quotes and backslashes.
tricky_text = st.text(alphabet='[]{}"\\ab\n\u00e9\U0001f600', max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=40,
)


def depth_of(value: Any) -> int:
    """How many containers deep ``value`` nests, counted on the decoded data."""
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


@settings(max_examples=300)
@given(json_values, st.integers(min_value=0, max_value=8))
def test_the_text_measure_agrees_with_the_data(value: Any, limit: int) -> None:
    """For any JSON value, the text-only measure matches the depth of the decoded data."""
    text = json.dumps(value, ensure_ascii=False)
    assert nested_too_deep(text, limit) == (depth_of(value) > limit)


@pytest.mark.parametrize(("depth", "refused"), [(64, False), (65, True), (100_000, True)])
@pytest.mark.parametrize("brackets", ["[]", "{}"])
def test_the_bound_is_64_levels(depth: int, refused: bool, brackets: str) -> None:
    """64 levels pass and 65 do not, for arrays and for objects."""
    if brackets == "[]":
        text = "[" * depth + "]" * depth
    else:
        text = '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)
    assert MAX_JSON_DEPTH == 64
    assert nested_too_deep(text) is refused


def test_unbalanced_and_unterminated_text_is_measured_too() -> None:
    """Text cut short, or with a string that never ends, is measured as far as it goes."""
    assert nested_too_deep("[" * 65)
    assert not nested_too_deep('"' + "[" * 65)
    assert not nested_too_deep("]" * 100 + "[" * 64)


def test_the_refusal_names_the_bound() -> None:
    """The wording used by frames and answers states the number."""
    assert TOO_DEEP == "JSON nested deeper than 64 levels"


# --- every JSON from the network goes through the same bound ----------------------


def _nested(levels: int) -> Any:
    """A list ``levels`` deep (one level is ``[]``)."""
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


def _answering(status: str, body: bytes) -> Callable[[socket.socket], None]:
    def handler(conn: socket.socket) -> None:
        if read_request_head(conn):
            conn.sendall(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )

    return handler


@pytest.mark.parametrize(("levels", "refused"), [(63, False), (64, True), (5_000, True)])
def test_a_rest_answer_past_the_bound_is_refused(levels: int, refused: bool) -> None:
    """A /health answer 64 levels deep is read; 65 is a SaynaProtocolError naming the bound."""
    # Written out: json.dumps itself cannot encode 5,000 levels.
    body = b'{"status":"OK","extra":' + b"[" * levels + b"]" * levels + b"}"
    with RawServer(_answering("200 OK", body)) as raw, Sayna(raw.url, max_retries=0) as client:
        if refused:
            with pytest.raises(SaynaProtocolError, match="nested deeper than 64 levels"):
                client.health()
        else:
            assert client.health().status == "OK"


@pytest.mark.parametrize(("levels", "as_text"), [(63, False), (64, True)])
def test_an_error_answer_past_the_bound_is_kept_as_text(levels: int, as_text: bool) -> None:
    """A 400 nested past the bound is not parsed: its whole text is the server message."""
    body = json.dumps({"message": "no", "extra": _nested(levels)}).encode()
    with (
        RawServer(_answering("400 Bad Request", body)) as raw,
        Sayna(raw.url, max_retries=0) as client,
        pytest.raises(BadRequestError) as info,
    ):
        client.health()
    assert info.value.server_message == (body.decode() if as_text else "no")


@pytest.mark.parametrize(("levels", "refused"), [(63, False), (64, True)])
def test_a_webhook_body_past_the_bound_is_invalid_json(levels: int, refused: bool) -> None:
    """A signed webhook 65 levels deep is invalid_json, whatever the Python version."""
    payload = {**sip_webhook_payload(), "extra": _nested(levels)}
    headers, body = make_webhook_request(SECRET, payload)
    receiver = WebhookReceiver(SECRET)
    if refused:
        with pytest.raises(WebhookVerificationError, match="nested deeper than 64") as info:
            receiver.receive(headers, body)
        assert info.value.reason == "invalid_json"
    else:
        assert receiver.receive(headers, body).sip_host == "sip.example.com"


# --- NaN and the infinities are refused everywhere ------------------------------

CONSTANTS = ["NaN", "Infinity", "-Infinity"]


@pytest.mark.parametrize("constant", CONSTANTS)
def test_a_rest_answer_with_a_non_json_constant_is_refused(constant: str) -> None:
    """A /health answer carrying NaN or an infinity is not JSON: SaynaProtocolError."""
    body = b'{"status":"OK","extra":' + constant.encode() + b"}"
    with RawServer(_answering("200 OK", body)) as raw, Sayna(raw.url, max_retries=0) as client:
        with pytest.raises(SaynaProtocolError, match="not valid JSON") as info:
            client.health()
        assert "is not JSON" in str(info.value.__cause__)


@pytest.mark.parametrize("constant", CONSTANTS)
def test_an_error_answer_with_a_non_json_constant_is_kept_as_text(constant: str) -> None:
    """A 400 whose JSON carries NaN is not parsed: its whole text is the server message."""
    body = b'{"message":"no","extra":' + constant.encode() + b"}"
    with (
        RawServer(_answering("400 Bad Request", body)) as raw,
        Sayna(raw.url, max_retries=0) as client,
        pytest.raises(BadRequestError) as info,
    ):
        client.health()
    assert info.value.server_message == body.decode()


@pytest.mark.parametrize("constant", CONSTANTS)
def test_a_webhook_body_with_a_non_json_constant_is_invalid_json(constant: str) -> None:
    """A correctly signed webhook carrying NaN is invalid_json: the signature vouches for
    the sender, not for the JSON."""
    # json.dumps writes a float NaN as NaN, as a careless signer would.
    headers, body = make_webhook_request(SECRET, {**sip_webhook_payload(), "x": float(constant)})
    assert constant.encode() in body
    with pytest.raises(WebhookVerificationError, match="is not JSON") as info:
        WebhookReceiver(SECRET).receive(headers, body)
    assert info.value.reason == "invalid_json"
