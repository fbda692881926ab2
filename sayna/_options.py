"""Checks for the settings of :meth:`sayna.Sayna.with_options`.

Extra headers go on every REST request and on the WebSocket upgrade, so they
are held to what both can carry: a token name, a value of printable
characters without CR/LF (no header injection), and none of the names the
client sets itself (its auth, its body framing, the upgrade's own headers).
Values may be secrets (a gateway's key): messages name the header, never
show its value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sayna._errors import SaynaValidationError

__all__ = ["check_headers"]

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")

# Set by the client (or by requests / the upgrade) and not to be replaced:
# a second Authorization or Host would reach the server as two values.
_RESERVED = frozenset(
    {
        "authorization",
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "upgrade",
        "accept-encoding",
        "user-agent",
    }
)


def check_headers(headers: Any) -> dict[str, str]:
    """``headers`` as a plain dict, or :class:`SaynaValidationError` naming the bad header."""
    if not isinstance(headers, Mapping):
        raise SaynaValidationError(
            f"headers must be a mapping of names to values, not {type(headers).__name__}",
            field="headers",
        )
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise SaynaValidationError(
                f"header name {name!r} is not a valid HTTP header name", field="headers"
            )
        lowered = name.lower()
        if lowered in _RESERVED or lowered.startswith("sec-websocket-"):
            hint = " (pass api_key= to Sayna)" if lowered == "authorization" else ""
            raise SaynaValidationError(
                f"header {name!r} is set by the client and cannot be replaced{hint}",
                field=f"headers.{name}",
            )
        if not isinstance(value, str):
            raise SaynaValidationError(
                f"header {name!r} must be a string, not {type(value).__name__}",
                field=f"headers.{name}",
            )
        if not value.isascii() or not value.isprintable() or value != value.strip():
            raise SaynaValidationError(
                f"header {name!r} must be printable ASCII without surrounding spaces"
                " (its value is not shown)",
                field=f"headers.{name}",
            )
        if any(other.lower() == lowered for other in checked):
            raise SaynaValidationError(f"header {name!r} is given twice", field="headers")
        checked[name] = value
    return checked
