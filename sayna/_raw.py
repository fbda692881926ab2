"""The escape hatches: a message or an endpoint the client has no method for yet.

The server grows faster than we release. ``Session.send_json`` and
``Sayna.request`` let users reach what is new with the same checks, limits and
errors as the named methods; this module holds the checks of what they send.
Nothing here knows a message or an endpoint by name: the server judges.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from sayna._errors import SaynaValidationError

__all__ = ["METHODS", "check_json", "check_message", "check_params", "check_path"]

#: The HTTP methods the server's API uses.
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

# An absolute path of unreserved, sub-delim and percent-encoded characters:
# no scheme or host (the client's base URL is prefixed), no query (use
# params=, which keeps values out of exception messages), no fragment.
_PATH = re.compile(r"/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*\Z")


def check_json(value: Any, field: str) -> None:
    """Refuse what ``json.dumps`` cannot write as standard JSON (sets, NaN, objects)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SaynaValidationError(
            f"{field} is not JSON-serializable: {exc}", field=field
        ) from None


def check_message(message: Any) -> dict[str, Any]:
    """A copy of ``message`` if it is a JSON object with a non-empty string ``type``."""
    if not isinstance(message, Mapping):
        raise SaynaValidationError(
            f"message must be a JSON object (a dict), not {type(message).__name__}",
            field="message",
        )
    if not all(isinstance(key, str) for key in message):
        raise SaynaValidationError("message keys must be strings", field="message")
    kind = message.get("type")
    if not isinstance(kind, str) or not kind.strip():
        raise SaynaValidationError(
            'message needs a "type" that is a non-empty string', field="message.type"
        )
    copy = dict(message)
    check_json(copy, "message")
    return copy


def check_path(method: Any, path: Any) -> tuple[str, str]:
    """The upper-cased method and the path, or :class:`SaynaValidationError`."""
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise SaynaValidationError(
            f"method must be one of {', '.join(sorted(METHODS))}, not {method!r}", field="method"
        )
    if not isinstance(path, str) or not _PATH.match(path):
        raise SaynaValidationError(
            "path must be an absolute path such as '/voices' (no host, no '?' query: pass params=)",
            field="path",
        )
    if ".." in path.split("/") or path.startswith("//"):
        raise SaynaValidationError("path must not contain '..' or start with '//'", field="path")
    return method.upper(), path


def check_params(params: Any) -> dict[str, str]:
    """Query parameters as strings; values may be str, int, float or bool."""
    if not isinstance(params, Mapping):
        raise SaynaValidationError(
            f"params must be a mapping, not {type(params).__name__}", field="params"
        )
    checked: dict[str, str] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise SaynaValidationError(f"params keys must be names, not {key!r}", field="params")
        if isinstance(value, bool):
            checked[key] = "true" if value else "false"  # the server's JSON spelling
        elif isinstance(value, (str, int, float)):
            checked[key] = str(value)
        else:
            raise SaynaValidationError(
                f"params[{key!r}] must be a str, int, float or bool, not {type(value).__name__}",
                field=f"params.{key}",
            )
    return checked
