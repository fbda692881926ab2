"""What every REST route handler of the fake server works with.

Replies and the early answer (:class:`Abort`), authentication (docs/protocol.rst
§1.3), JSON bodies checked against the server's request shapes (§1.6), and the
:class:`Context` a handler is called with. The routes themselves live in
:mod:`sayna.testing._rest` (core), :mod:`sayna.testing._rest_livekit` and
:mod:`sayna.testing._rest_sip`.
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any

import attrs

from sayna.testing._records import RecordedRequest, decode_json
from sayna.testing._shape import ShapeError, Struct, describe_json_error

if TYPE_CHECKING:
    from sayna.testing._context import ServerContext

__all__ = [
    "Abort",
    "Context",
    "Reply",
    "Upgrade",
    "authenticate",
    "blank",
    "error",
    "json_body",
    "json_reply",
    "text_reply",
]


@attrs.frozen
class Reply:
    """An HTTP response: status, extra headers (lower-case names) and body."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class Upgrade:
    """A valid, authorised WebSocket upgrade; ``tenant`` applies to the session."""

    tenant: str | None


class Abort(Exception):
    """Raised by helpers to answer immediately with ``reply``."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def json_reply(status: int, body: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """A compact JSON body, keys in insertion order, like the server's serializer."""
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Reply(status, data, (("content-type", "application/json"), *headers))


def text_reply(status: int, text: str) -> Reply:
    return Reply(status, text.encode("utf-8"), (("content-type", "text/plain; charset=utf-8"),))


def error(status: int, message: str, code: str | None = None) -> Abort:
    body: dict[str, str] = {"error": message}
    if code is not None:
        body["code"] = code
    return Abort(json_reply(status, body))


def _auth_error(status: int, code: str, message: str) -> Abort:
    return Abort(json_reply(status, {"error": code, "message": message}))


# --- authentication (§1.3) -------------------------------------------------------------


def authenticate(server: ServerContext, request: RecordedRequest) -> str | None:
    """The caller's tenant id (None when auth is off), or :class:`Abort` with a 401."""
    keys = server.behaviour.api_keys
    if keys is None:
        return None
    header = request.headers.get("authorization")
    token: str | None = None
    if header is not None and header.startswith("Bearer ") and len(header) > 7:
        try:
            header.encode("ascii")
            token = header[7:]
        except UnicodeEncodeError:
            token = None
    if token is None:
        query_key = request.query.get("api_key", "")
        if query_key.strip():
            token = query_key
    if token is None:
        if header is None:
            raise _auth_error(
                401,
                "missing_auth_header",
                "Missing authentication token (Authorization header or api_key query parameter)",
            )
        raise _auth_error(
            401,
            "invalid_auth_header",
            "Invalid Authorization header format (expected 'Bearer {token}') "
            "and missing api_key query parameter",
        )
    unavailable = server.behaviour.auth_unavailable
    if unavailable is not None:
        raise _auth_error(503, "auth_service_unavailable", f"HTTP request error: {unavailable}")
    tenant: str | None = None
    for secret, tenant_id in keys.items():
        # Compare every secret in constant time, like the server does.
        if _same(secret, token):
            tenant = tenant_id
    if tenant is None:
        raise _auth_error(401, "unauthorized", "Unauthorized: Invalid API secret")
    return tenant or None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


# --- JSON bodies (§1.6) ----------------------------------------------------------------


def _is_json_content_type(value: str | None) -> bool:
    if value is None:
        return False
    mime = value.split(";", 1)[0].strip().lower()
    main, _, sub = mime.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def json_body(request: RecordedRequest, shape: Struct) -> dict[str, Any]:
    """The body decoded and shape-checked, or the framework's plain-text rejection."""
    if not _is_json_content_type(request.headers.get("content-type")):
        raise Abort(text_reply(415, "Expected request with `Content-Type: application/json`"))
    try:
        value = decode_json(request.body)
    except json.JSONDecodeError as exc:
        raise Abort(
            text_reply(400, f"Failed to parse the request body as JSON: {describe_json_error(exc)}")
        ) from None
    except ValueError as exc:
        raise Abort(text_reply(400, f"Failed to parse the request body as JSON: {exc}")) from None
    try:
        shape.check(value, "")
    except ShapeError as exc:
        raise Abort(
            text_reply(422, f"Failed to deserialize the JSON body into the target type: {exc}")
        ) from None
    assert isinstance(value, dict)
    return value


def blank(value: str | None) -> bool:
    """Whether a required string field is missing or only whitespace."""
    return value is None or not value.strip()


# --- what a handler sees ----------------------------------------------------------------


@attrs.frozen
class Context:
    """What a handler sees: the server's narrow context, the request, caller and path parameter."""

    server: ServerContext
    request: RecordedRequest
    tenant: str | None
    param: str = ""
