"""The exception tree of ``sayna``.

Everything the library raises on purpose derives from :class:`SaynaError`; no
``requests`` or ``websocket`` exception escapes unwrapped (the original is kept
as ``__cause__``). The tree is drawn once, in the API reference
(``docs/api.rst``, "The exception tree"), where a test keeps the drawing true
to the classes below.

``SaynaTimeoutError`` is not a ``SaynaConnectionError``: waits for events and
iterator timeouts raise it while the connection is fine, and code that catches
connection errors to reconnect must not reconnect on those. To catch "no
answer, for any transport reason", catch both (or :class:`SaynaError`).

Every exception is rebuilt by ``type(exc)(*exc.args)``: ``args`` is the
message followed by every field, in constructor order. So they cross process
boundaries with their class and fields intact, through ``pickle`` and through
text-only serializers that keep the class name and ``args`` (Celery's JSON
result backend), and ``except NotFoundError`` works on a Celery
``result.get()``. ``str(exc)`` stays the readable message alone. None of them
ever carries an API key or a secret.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from sayna._wirejson import loads, nested_too_deep

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "SaynaAudioError",
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
    "SaynaThreadsDisabledError",
    "SaynaTimeoutError",
    "SaynaValidationError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "WebhookVerificationError",
    "error_from_response",
    "parse_retry_after",
]


class SaynaError(Exception):
    """Root of every exception raised by ``sayna``.

    ``args`` is ``(message, *fields)``, the constructor's positional
    parameters in order, so ``type(exc)(*exc.args)`` rebuilds an equal
    exception: that is how pickle and Celery's JSON result backend carry it
    to another process. ``str(exc)`` is the message alone.
    """

    #: The constructor's parameters after ``message``, in order.
    _arg_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    # ``args`` is computed from the attributes rather than stored, so that it
    # always carries every field, whichever __init__ in a diamond ran last.
    @property
    def args(self) -> tuple[Any, ...]:
        return (self.message, *(getattr(self, name) for name in self._arg_names))

    @args.setter
    def args(self, values: tuple[Any, ...]) -> None:
        self.__dict__.update(vars(type(self)(*values)))

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt through the constructor; the instance dict also brings any
        # attribute added later (``__notes__``, or one set by the caller).
        return (type(self), self.args, dict(self.__dict__))


class SaynaValidationError(SaynaError, ValueError):
    """Input that cannot be valid, refused at the call site before anything is sent.

    ``field`` names the offending argument or field when there is one.
    """

    _arg_names: ClassVar[tuple[str, ...]] = ("field",)

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class WebhookVerificationError(SaynaValidationError):
    """A webhook that failed verification; ``reason`` is a stable machine-readable code."""

    _arg_names: ClassVar[tuple[str, ...]] = ("reason", "field")

    def __init__(self, message: str, reason: str, field: str | None = None) -> None:
        super().__init__(message, field)
        self.reason = reason


class SaynaConnectionError(SaynaError):
    """The server could not be reached, or the connection broke."""


class SaynaAudioError(SaynaError):
    """Local audio is unavailable: an optional extra is not installed, or no usable device.

    Raised by :mod:`sayna.audio` when ``sayna[audio]`` (devices) or
    ``sayna[resample]`` (resampling) is missing, when PortAudio finds no
    device, or when a device fails while open.
    """


class SaynaTimeoutError(SaynaError, TimeoutError):
    """An operation did not finish within its timeout.

    Connecting, waiting for an answer, waiting for an event: each has a limit.
    Not a :class:`SaynaConnectionError`, as the connection may be perfectly
    healthy (an event that did not come in time).
    """


class SaynaConnectionClosedError(SaynaConnectionError):
    """A realtime session ended without the user closing it.

    ``code`` and ``reason`` come from the close frame when there was one
    (``None`` when the TCP connection simply dropped).
    """

    _arg_names: ClassVar[tuple[str, ...]] = ("code", "reason")

    def __init__(self, message: str, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class SaynaNotConnectedError(SaynaError):
    """The session is not connected: never opened, or already closed."""


class SaynaNotReadyError(SaynaError):
    """The session has not received ``ready`` from the server yet.

    Never raised by this client: :meth:`Sayna.connect` returns a session only
    once ``ready`` has arrived. Kept because the async SDK raises it for sends
    before ``ready``, so code ported from it that names it still imports.
    """


class SaynaThreadsDisabledError(SaynaError):
    """This process cannot run a session's threads: uWSGI without ``enable-threads``.

    Raised by :meth:`Sayna.connect` before anything is opened. uWSGI without
    ``--enable-threads`` (``enable-threads = true``) or ``--threads N`` keeps
    the GIL between requests, so the session's reader thread would never run
    while no request is being served. REST calls work there; only sessions need it.
    """


class SaynaConfigError(SaynaError):
    """The server answered the session's ``config`` with an ``error`` instead of ``ready``.

    ``server_message`` is the server's text, verbatim.
    """

    _arg_names: ClassVar[tuple[str, ...]] = ("server_message",)

    def __init__(self, message: str, server_message: str = "") -> None:
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
    _arg_names: ClassVar[tuple[str, ...]] = ("method", "endpoint", "body")

    def __init__(self, message: str, method: str = "", endpoint: str = "", body: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.endpoint = endpoint
        self.body = body[: self.BODY_EXCERPT_LIMIT]


class SaynaCallbackError(SaynaError):
    """One or more user callbacks raised; ``errors`` holds every exception, in order.

    After a trip through a text-only serializer (Celery's JSON result
    backend), which cannot carry exception objects, ``errors`` holds their
    text instead.
    """

    _arg_names: ClassVar[tuple[str, ...]] = ("errors",)

    def __init__(self, message: str, errors: Sequence[BaseException | str] | str = ()) -> None:
        super().__init__(message)
        self.errors: list[BaseException | str] = (
            [errors] if isinstance(errors, str) else list(errors)
        )


class SaynaHttpError(SaynaError):
    """The server answered a request with a non-success status.

    Attributes: ``status_code``; ``server_message`` (the server's own words);
    ``code`` (the machine-readable code when the body carries one, e.g.
    ``missing_auth_header`` or ``PARTICIPANT_NOT_FOUND``); ``method`` and
    ``endpoint`` (the path, never the query string, which may hold a key);
    ``body`` (the body text, at most ``BODY_LIMIT`` characters);
    ``request_id`` when the server sent one; ``retry_after``, the seconds the
    server asked to wait before trying again (``Retry-After`` on 429 and 503),
    else ``None``.
    """

    BODY_LIMIT = 64 * 1024
    _arg_names: ClassVar[tuple[str, ...]] = (
        "status_code",
        "server_message",
        "code",
        "method",
        "endpoint",
        "body",
        "request_id",
        "retry_after",
    )

    def __init__(
        self,
        message: str,
        status_code: int = 0,
        server_message: str = "",
        code: str | None = None,
        method: str = "",
        endpoint: str = "",
        body: str = "",
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.server_message = server_message
        self.code = code
        self.method = method
        self.endpoint = endpoint
        self.body = body[: self.BODY_LIMIT]
        self.request_id = request_id
        self.retry_after = retry_after

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

# The part of a server's message repeated in str(exc), which ends up in logs.
_MESSAGE_DETAIL_LIMIT = 1000

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
    if nested_too_deep(stripped):
        # A hostile body nested past our bound is reported as text like any other.
        return stripped, None
    try:
        data = loads(stripped)
    except ValueError:  # the framework's plain-text rejections
        return stripped, None
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


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (seconds or an HTTP date), else None.

    A malformed value is ignored rather than raised: it is advice, and the
    answer it came with is what matters. A date in the past means 0.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None  # not an HTTP date (those are always GMT)
        seconds = when.timestamp() - (time.time() if now is None else now)
        return max(0.0, seconds)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


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
    text = text[: SaynaHttpError.BODY_LIMIT]
    server_message, code = _parse_body(status_code, text)
    request_id = None
    retry_after = None
    if headers:
        lowered = {k.lower(): v for k, v in headers.items()}
        request_id = next((lowered[h] for h in _REQUEST_ID_HEADERS if h in lowered), None)
        retry_after = parse_retry_after(lowered.get("retry-after"))
    if status_code >= 500:
        cls: type[SaynaHttpError] = SaynaServerError
    else:
        cls = _BY_STATUS.get(status_code, SaynaHttpError)
    where = f" on {method} {endpoint}" if method and endpoint else ""
    head = f"{status_code} {_reason_phrase(status_code)}".rstrip()
    detail = server_message or "(empty body)"
    if len(detail) > _MESSAGE_DETAIL_LIMIT:
        # The whole text stays on the exception (server_message, body).
        detail = detail[:_MESSAGE_DETAIL_LIMIT] + "..."
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
        retry_after=retry_after,
    )
