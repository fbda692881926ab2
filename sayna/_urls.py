"""Deriving the REST base and the WebSocket URL from one user-given URL.

Accepted: ``http``, ``https``, ``ws``, ``wss``; a path prefix is kept (reverse
proxies); the REST base never ends in ``/`` or ``/ws``; the WebSocket URL
always ends in ``/ws``. This fixes the two gaps docs/protocol.rst §1.2 records in the
official SDKs (``wss://h`` without ``/ws``; ``wss://h/ws`` used as REST base).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from sayna._errors import SaynaValidationError

__all__ = ["rest_base_url", "ws_url"]

_TO_REST = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_TO_WS = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def _split(url: str) -> tuple[str, str, str]:
    if not isinstance(url, str):
        raise SaynaValidationError(
            f"the Sayna URL must be a string, not {type(url).__name__}", field="url"
        )
    if not url.strip():
        raise SaynaValidationError("the Sayna URL is empty", field="url")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _TO_REST:
        raise SaynaValidationError(
            f"the Sayna URL must start with http://, https://, ws:// or wss:// (got {scheme!r})",
            field="url",
        )
    if not parts.netloc:
        raise SaynaValidationError("the Sayna URL has no host", field="url")
    if parts.username or parts.password:
        # Credentials in the URL would leak into logs and reprs; the key goes in api_key.
        raise SaynaValidationError(
            "the Sayna URL must not contain credentials; pass api_key instead", field="url"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/ws"):
        path = path[: -len("/ws")]
    return scheme, parts.netloc, path


def rest_base_url(url: str) -> str:
    """``https://h/prefix`` for any accepted form of the server URL."""
    scheme, netloc, path = _split(url)
    return urlunsplit((_TO_REST[scheme], netloc, path, "", ""))


def ws_url(url: str) -> str:
    """``wss://h/prefix/ws`` for any accepted form of the server URL."""
    scheme, netloc, path = _split(url)
    return urlunsplit((_TO_WS[scheme], netloc, path + "/ws", "", ""))
