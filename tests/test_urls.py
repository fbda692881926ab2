"""One user-given URL gives both the REST base and the WebSocket URL (docs/protocol.rst §1.2)."""

from __future__ import annotations

import pytest

from sayna import SaynaValidationError
from sayna._urls import rest_base_url, ws_url


@pytest.mark.parametrize(
    ("given", "rest", "ws"),
    [
        ("https://h", "https://h", "wss://h/ws"),
        ("https://h/", "https://h", "wss://h/ws"),
        ("https://h/prefix", "https://h/prefix", "wss://h/prefix/ws"),
        ("https://h/prefix/", "https://h/prefix", "wss://h/prefix/ws"),
        ("wss://h/ws", "https://h", "wss://h/ws"),
        ("wss://h", "https://h", "wss://h/ws"),
        ("wss://h/ws/", "https://h", "wss://h/ws"),
        ("ws://127.0.0.1:3001", "http://127.0.0.1:3001", "ws://127.0.0.1:3001/ws"),
        ("http://127.0.0.1:3001/ws", "http://127.0.0.1:3001", "ws://127.0.0.1:3001/ws"),
        ("HTTPS://h/p/ws", "https://h/p", "wss://h/p/ws"),
        ("  http://h  ", "http://h", "ws://h/ws"),
    ],
)
def test_url_forms(given: str, rest: str, ws: str) -> None:
    """Every accepted form is normalised for both transports."""
    assert rest_base_url(given) == rest
    assert ws_url(given) == ws


@pytest.mark.parametrize(
    "bad", ["", "   ", "ftp://h", "h:3001", "//h", "https://", "https://user:pw@h"]
)
def test_bad_urls_are_refused(bad: str) -> None:
    """Wrong schemes, missing hosts and embedded credentials raise a validation error."""
    with pytest.raises(SaynaValidationError) as info:
        rest_base_url(bad)
    assert "pw" not in str(info.value)


@pytest.mark.parametrize("value", [123, b"http://h", None])
def test_a_url_that_is_not_a_string_is_named_by_type(value: object) -> None:
    """Sayna(123) says the URL must be a string (not that it is empty)."""
    with pytest.raises(SaynaValidationError, match="must be a string, not") as info:
        rest_base_url(value)  # type: ignore[arg-type]
    assert info.value.field == "url"
