"""One integer check (``require_int``) behind every integer argument of the client."""

from __future__ import annotations

from typing import Any

import pytest

import sayna
from sayna import SaynaValidationError, WebhookReceiver
from sayna._validation import require_int


@pytest.mark.parametrize("value", [0, 1, 2**70])
def test_accepts_ints_at_or_above_the_minimum(value: int) -> None:
    """An int at or above the minimum comes back unchanged."""
    assert require_int(value, "n", minimum=0) == value


@pytest.mark.parametrize(
    ("value", "minimum", "message"),
    [
        (-1, 0, "n must be a non-negative integer"),
        (0, 1, "n must be a positive integer"),
        (4, 5, "n must be an integer of at least 5"),
        (True, 0, "n must be a non-negative integer, not bool"),
        (1.0, 1, "n must be a positive integer, not float"),
        ("3", 1, "n must be a positive integer, not str"),
    ],
)
def test_refuses_everything_else(value: Any, minimum: int, message: str) -> None:
    """Bools, floats, strings and small ints are refused, naming the field."""
    with pytest.raises(SaynaValidationError) as raised:
        require_int(value, "n", minimum=minimum)
    assert str(raised.value) == message
    assert raised.value.field == "n"


def test_a_refused_value_is_never_echoed() -> None:
    """A string passed by mistake (it may be a secret) stays out of the message."""
    with pytest.raises(SaynaValidationError) as raised:
        require_int("sk-secret-value", "max_retries", minimum=0)
    assert "sk-secret" not in str(raised.value)


def test_every_integer_argument_uses_it() -> None:
    """The client, connect(), the policy, the models and the webhook receiver all refuse a bool."""
    with pytest.raises(SaynaValidationError, match="max_retries must be a non-negative integer"):
        sayna.Sayna("http://127.0.0.1:1", max_retries=True)
    with pytest.raises(SaynaValidationError, match="max_attempts must be a positive integer"):
        sayna.ReconnectPolicy(max_attempts=True)
    with pytest.raises(SaynaValidationError, match="sample_rate must be a positive integer"):
        sayna.STTConfig(provider="deepgram", language="en-US", model="nova-3", sample_rate=0)
    with pytest.raises(SaynaValidationError, match="tolerance must be a non-negative integer"):
        WebhookReceiver("a-secret-of-enough-length-0123456789", tolerance=-1)
