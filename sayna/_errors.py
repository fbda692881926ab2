"""The exception tree of ``sayna``.

Everything the library raises on purpose derives from :class:`SaynaError`; no
``requests`` or ``websocket`` exception escapes unwrapped (the original is kept
as ``__cause__``)::

    SaynaError
    ├── SaynaValidationError (also ValueError)   bad input, refused before sending
    │   └── WebhookVerificationError             a webhook that must be rejected
    ├── SaynaConnectionError                     transport failure: refused, DNS, TLS, drop
    │   ├── SaynaTimeoutError (also TimeoutError)
    │   └── SaynaConnectionClosedError           a realtime session ended abnormally
    ├── SaynaHttpError                           the server answered with a non-2xx status
    │   ├── BadRequestError (400, also SaynaValidationError)
    │   ├── AuthenticationError (401)
    │   ├── PermissionDeniedError (403)
    │   ├── NotFoundError (404)
    │   ├── MethodNotAllowedError (405)
    │   ├── ConflictError (409)
    │   ├── UnsupportedMediaTypeError (415, also SaynaValidationError)
    │   ├── UnprocessableEntityError (422, also SaynaValidationError)
    │   ├── RateLimitError (429)
    │   └── SaynaServerError (5xx)
    ├── SaynaNotConnectedError                   the session is not open (or already closed)
    ├── SaynaNotReadyError                       the session has not received ``ready``
    ├── SaynaConfigError                         the server refused the session configuration
    ├── SaynaProtocolError                       the server's answer breaks the protocol or a limit
    └── SaynaCallbackError                       user callbacks raised (re-raised at close)

All exceptions pickle and unpickle with their attributes (they cross process
boundaries in worker pools). None of them ever carries an API key or a secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "SaynaCallbackError",
    "SaynaConfigError",
    "SaynaConnectionClosedError",
    "SaynaConnectionError",
    "SaynaError",
    "SaynaHttpError",
    "SaynaNotConnectedError",
    "SaynaNotReadyError",
    "SaynaProtocolError",
    "SaynaServerError",
    "SaynaTimeoutError",
    "SaynaValidationError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "WebhookVerificationError",
    "error_from_response",
]


def _rebuild(cls: type[SaynaError], message: str, state: dict[str, Any]) -> SaynaError:
    exc = cls.__new__(cls)
    SaynaError.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class SaynaError(Exception):
    """Root of every exception raised by ``sayna``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors defeat BaseException's default pickling,
        # so rebuild from the message plus the instance attributes.
        state = {k: v for k, v in self.__dict__.items() if k != "message"}
        return (_rebuild, (type(self), self.message, state))


class SaynaValidationError(SaynaError, ValueError):
    """Input that cannot be valid, refused at the call site before anything is sent.

    ``field`` names the offending argument or field when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class WebhookVerificationError(SaynaValidationError):
    """A webhook that failed verification; ``reason`` is a stable machine-readable code."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SaynaConnectionError(SaynaError):
    """The server could not be reached, or the connection broke."""


class SaynaTimeoutError(SaynaConnectionError, TimeoutError):
    """An operation did not finish within its timeout."""


class SaynaConnectionClosedError(SaynaConnectionError):
    """A realtime session ended without the user closing it.

    ``code`` and ``reason`` come from the close frame when there was one
    (``None`` when the TCP connection simply dropped).
    """

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class SaynaNotConnectedError(SaynaError):
    """The session is not connected: never opened, or already closed."""


class SaynaNotReadyError(SaynaError):
    """The session has not received ``ready`` from the server yet."""


class SaynaConfigError(SaynaError):
    """The server answered the session's ``config`` with an ``error`` instead of ``ready``.

    ``server_message`` is the server's text, verbatim.
    """

    def __init__(self, message: str, *, server_message: str) -> None:
        super().__init__(message)
        self.server_message = server_message


class SaynaProtocolError(SaynaError):
    """The server sent something the protocol does not allow, or past one of our limits.

    A body of the wrong shape, JSON nested too deep, an answer or header block
    larger than we accept. ``method`` and ``endpoint`` say where (never the
    query string); ``body`` holds at most the first ``BODY_EXCERPT_LIMIT``
    characters of what arrived.
    """

    BODY_EXCERPT_LIMIT = 1024

    def __init__(
        self, message: str, *, method: str = "", endpoint: str = "", body: str = ""
    ) -> None:
        super().__init__(message)
        self.method = method
        self.endpoint = endpoint
        self.body = body[: self.BODY_EXCERPT_LIMIT]


class SaynaCallbackError(SaynaError):
    """One or more user callbacks raised; ``errors`` holds every exception, in order."""

    def __init__(self, message: str, *, errors: Sequence[BaseException] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


class SaynaHttpError(SaynaError):
    """The server answered a request with a non-success status.

    Attributes: ``status_code``; ``server_message`` (the server's own words);
    ``code`` (the machine-readable code when the body carries one, e.g.
    ``missing_auth_header`` or ``PARTICIPANT_NOT_FOUND``); ``method`` and
    ``endpoint`` (the path, never the query string, which may hold a key);
    ``body`` (the raw body text); ``request_id`` when the server sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        server_message: str = "",
        code: str | None = None,
        method: str = "",
        endpoint: str = "",
        body: str = "",
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.server_message = server_message
        self.code = code
        self.method = method
        self.endpoint = endpoint
        self.body = body
        self.request_id = request_id

    @property
    def status(self) -> int:
        """Alias of ``status_code``."""
        return self.status_code


class BadRequestError(SaynaHttpError, SaynaValidationError):
    """400: the server rejected the request's content."""


class AuthenticationError(SaynaHttpError):
    """401: missing or wrong API key."""


class PermissionDeniedError(SaynaHttpError):
    """403: the resource belongs to another tenant."""


class NotFoundError(SaynaHttpError):
    """404: no such resource, or not accessible to this tenant."""


class MethodNotAllowedError(SaynaHttpError):
    """405: wrong method, or a change the server's configuration protects."""


class ConflictError(SaynaHttpError):
    """409: the request conflicts with the server's state."""


class UnsupportedMediaTypeError(SaynaHttpError, SaynaValidationError):
    """415: the body was not sent as JSON."""


class UnprocessableEntityError(SaynaHttpError, SaynaValidationError):
    """422: JSON of the wrong shape (missing field, wrong type)."""


class RateLimitError(SaynaHttpError):
    """429: too many requests."""


class SaynaServerError(SaynaHttpError):
    """5xx: the server or one of its providers failed."""


_BY_STATUS: dict[int, type[SaynaHttpError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: ConflictError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid")


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _parse_body(status: int, text: str) -> tuple[str, str | None]:
    """Return (server message, code) for any of the server's error body shapes."""
    stripped = text.strip()
    if not stripped:
        return "", None
    try:
        data = json.loads(stripped)
    except ValueError:
        return stripped, None  # the framework's plain-text rejections
    if not isinstance(data, dict):
        return stripped, None
    error = data.get("error")
    message = data.get("message")
    code = data.get("code")
    if isinstance(error, str) and isinstance(message, str):
        return message, error  # auth middleware: error is the code
    if isinstance(error, str):
        return error, code if isinstance(code, str) else None
    if isinstance(message, str):
        return message, code if isinstance(code, str) else None
    return stripped, None


def error_from_response(
    status_code: int,
    body: bytes | str,
    *,
    method: str = "",
    endpoint: str = "",
    headers: Mapping[str, str] | None = None,
) -> SaynaHttpError:
    """Build the exception for a non-success answer, whatever shape its body has."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    server_message, code = _parse_body(status_code, text)
    request_id = None
    if headers:
        lowered = {k.lower(): v for k, v in headers.items()}
        request_id = next((lowered[h] for h in _REQUEST_ID_HEADERS if h in lowered), None)
    if status_code >= 500:
        cls: type[SaynaHttpError] = SaynaServerError
    else:
        cls = _BY_STATUS.get(status_code, SaynaHttpError)
    where = f" on {method} {endpoint}" if method and endpoint else ""
    head = f"{status_code} {_reason_phrase(status_code)}".rstrip()
    detail = server_message or "(empty body)"
    if code and code not in detail:
        detail = f"{detail} [{code}]"
    return cls(
        f"{head}{where}: {detail}",
        status_code=status_code,
        server_message=server_message,
        code=code,
        method=method,
        endpoint=endpoint,
        body=text,
        request_id=request_id,
    )
