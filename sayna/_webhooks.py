"""Verify and parse the signed SIP webhooks Sayna POSTs to your application.

:class:`WebhookReceiver` checks the headers, the timestamp window and the HMAC
over the raw body, and only then parses the payload into frozen attrs values.
Every rejection is a :class:`~sayna.WebhookVerificationError` whose ``reason``
is one of :data:`REASONS`; :func:`rejection_status` maps a reason to the HTTP
status that the adapters in ``sayna.contrib`` answer with.

Where we deliberately differ from the official Python receiver (docs/protocol.rst
§6.3), always towards a clean rejection and never towards accepting more:

* a body that is JSON but not an object (``[]``, ``"x"``) is an
  ``invalid_payload`` rejection, not a ``TypeError``;
* a header value that is not text (a number, an object) is refused instead of
  being turned into text with ``str()``; one header sent twice with different
  values is refused as ambiguous;
* ``bytes`` bodies are verified as received and must then be valid UTF-8;
* ``sip_headers: null`` reads as "no headers" (``{}``), like an absent field.

Where the official Python and Node receivers disagree (empty strings in
required fields, a null ``participant.name``, upper-case hex, ``int()``-style
timestamps such as ``" +17…"``), we follow the Python one, as the shared vectors'
verdicts do: tightening any of them could refuse a webhook the server sends.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

import attrs

from sayna._errors import SaynaValidationError, WebhookVerificationError
from sayna._signing import compute_signature
from sayna._validation import require_int
from sayna._wirejson import TOO_DEEP, loads, nested_too_deep

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_TOLERANCE",
    "REASONS",
    "HeadersLike",
    "WebhookReceiver",
    "WebhookSIPOutput",
    "WebhookSIPParticipant",
    "WebhookSIPRoom",
    "declared_length",
    "read_at_most",
    "receiver_provider",
    "rejection_response",
    "rejection_status",
]

logger = logging.getLogger("sayna.webhooks")

DEFAULT_TOLERANCE = 300
DEFAULT_MAX_BODY_SIZE = 1024 * 1024
MIN_SECRET_LENGTH = 16
SECRET_ENV_VAR = "SAYNA_WEBHOOK_SECRET"  # noqa: S105 (a variable name, not a secret)

SIGNATURE_HEADER = "x-sayna-signature"
TIMESTAMP_HEADER = "x-sayna-timestamp"
EVENT_ID_HEADER = "x-sayna-event-id"
_DISPLAY_NAMES = {
    SIGNATURE_HEADER: "X-Sayna-Signature",
    TIMESTAMP_HEADER: "X-Sayna-Timestamp",
    EVENT_ID_HEADER: "X-Sayna-Event-Id",
}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_MAX_LISTED_PROBLEMS = 5

# Every reason code, with the HTTP status an endpoint answers it with. This is
# the one place the adapters (Django, Flask, WSGI) take their statuses from.
REASONS: Mapping[str, int] = {
    # The receiver itself is misconfigured: the server's fault, not the caller's.
    "missing_secret": 500,
    "secret_too_short": 500,
    "invalid_secret": 500,
    # Not provably from Sayna: unauthenticated.
    "missing_header": 401,
    "invalid_header": 401,
    "duplicate_header": 401,
    "bad_signature_format": 401,
    "bad_timestamp": 401,
    "timestamp_out_of_window": 401,
    "signature_mismatch": 401,
    # The request itself is unusable.
    "invalid_headers": 400,
    "invalid_body": 400,
    "body_too_large": 413,
    # Correctly signed, but the content is wrong.
    "invalid_encoding": 400,
    "invalid_json": 400,
    "invalid_payload": 400,
}

HeadersLike: TypeAlias = "Mapping[Any, Any] | Iterable[tuple[Any, Any]]"
"""A dict (any case), a framework's headers object, a WSGI environ or (name, value) pairs."""


@attrs.frozen(kw_only=True)
class WebhookSIPParticipant:
    """The caller, as a LiveKit participant; ``name`` may be empty or ``None``."""

    identity: str
    sid: str
    name: str | None = None


@attrs.frozen(kw_only=True)
class WebhookSIPRoom:
    """The LiveKit room the call landed in."""

    name: str
    sid: str


@attrs.frozen(kw_only=True)
class WebhookSIPOutput:
    """A verified SIP webhook: who called which number, and in which room.

    ``sip_headers`` maps the call's SIP header names (``to``, ``from``, ...) to
    their values; it is empty when Sayna sent none. ``event_id`` and
    ``timestamp`` come from the verified ``X-Sayna-Event-Id`` and
    ``X-Sayna-Timestamp`` headers: LiveKit may deliver one event more than
    once, so de-duplicate on ``event_id``.
    """

    participant: WebhookSIPParticipant
    room: WebhookSIPRoom
    from_phone_number: str
    to_phone_number: str
    room_prefix: str
    sip_host: str
    sip_headers: dict[str, str] = attrs.field(factory=dict)
    event_id: str | None = None
    timestamp: int | None = None


def _reject(message: str, reason: str, *, field: str | None = None) -> WebhookVerificationError:
    return WebhookVerificationError(message, reason=reason, field=field)


class WebhookReceiver:
    """Verifies Sayna's signed SIP webhooks and parses them.

    ::

        from sayna import WebhookReceiver, WebhookVerificationError

        receiver = WebhookReceiver()  # the secret comes from SAYNA_WEBHOOK_SECRET
        try:
            call = receiver.receive(request.headers, request.body)  # the RAW body
        except WebhookVerificationError as exc:
            return HttpResponse(status=receiver.status_for(exc))  # 401, 400, ...

    ``secret`` (at least 16 characters once trimmed) falls back to
    ``SAYNA_WEBHOOK_SECRET``. ``tolerance`` is the replay window in seconds,
    either way of the local clock (``clock`` returns Unix seconds; inject one in
    tests). Bodies over ``max_body_size`` bytes are refused before hashing.
    """

    __slots__ = ("_clock", "_max_body_size", "_secret", "_tolerance")

    def __init__(
        self,
        secret: str | None = None,
        *,
        tolerance: int = DEFAULT_TOLERANCE,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Like the official receiver, an empty string falls back to the
        # environment too: ``os.environ.get("X", "")`` is a common spelling.
        if not secret:
            secret = os.environ.get(SECRET_ENV_VAR)
        if secret is None or secret == "":
            raise _reject(
                f"A webhook secret is required: pass secret=... or set {SECRET_ENV_VAR}.",
                "missing_secret",
            )
        if not isinstance(secret, str):
            raise _reject(
                f"The webhook secret must be a str, not {type(secret).__name__}.",
                "invalid_secret",
            )
        secret = secret.strip()
        if len(secret) < MIN_SECRET_LENGTH:
            raise _reject(
                f"The webhook secret must be at least {MIN_SECRET_LENGTH} characters long "
                f"(after trimming whitespace); this one has {len(secret)}. "
                "Generate one with: openssl rand -hex 32",
                "secret_too_short",
            )
        try:
            secret.encode("utf-8")
        except UnicodeEncodeError:
            raise _reject(
                "The webhook secret is not valid Unicode text.", "invalid_secret"
            ) from None
        require_int(tolerance, "tolerance", minimum=0)
        require_int(max_body_size, "max_body_size", minimum=1)
        self._secret = secret
        self._tolerance = tolerance
        self._max_body_size = max_body_size
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"WebhookReceiver(secret=<hidden>, tolerance={self._tolerance}, "
            f"max_body_size={self._max_body_size})"
        )

    @staticmethod
    def status_for(error: WebhookVerificationError) -> int:
        """The HTTP status to answer a rejection with.

        401 when the request is not provably from Sayna, 400 for signed but
        unusable content, 413 for an oversized body, 500 when the receiver itself
        is misconfigured (the adapters in ``sayna.contrib`` answer the same).
        """
        return rejection_status(error.reason)

    @property
    def tolerance(self) -> int:
        """The replay window, in seconds either way of now."""
        return self._tolerance

    @property
    def max_body_size(self) -> int:
        """The largest body accepted, in bytes."""
        return self._max_body_size

    def receive(
        self,
        headers: HeadersLike,
        body: bytes | bytearray | memoryview | str,
        *,
        now: float | None = None,
    ) -> WebhookSIPOutput:
        """Verify one webhook and return its payload; raise ``WebhookVerificationError``.

        ``body`` must be the raw body: ``bytes`` as received (best), or ``str``
        (hashed as its UTF-8 encoding). ``now`` pins the clock (Unix seconds).
        """
        raw = self._raw_body(body)
        found = _collect_headers(headers)
        signature = _required_header(found, SIGNATURE_HEADER)
        timestamp = _required_header(found, TIMESTAMP_HEADER)
        event_id = _required_header(found, EVENT_ID_HEADER)

        if not signature.startswith("v1="):
            raise _reject(
                f"X-Sayna-Signature must look like 'v1=<hex>'; got {signature[:10]!r}...",
                "bad_signature_format",
            )
        received_hex = signature[3:]
        if len(received_hex) != 64 or not _HEX_DIGITS.issuperset(received_hex):
            raise _reject(
                "X-Sayna-Signature must be 'v1=' followed by 64 hexadecimal characters "
                "(HMAC-SHA256).",
                "bad_signature_format",
            )

        # Python int() semantics, as the official receiver: surrounding
        # whitespace, a sign and '_' separators parse. The HMAC below still
        # covers the header text exactly as received.
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise _reject(
                f"X-Sayna-Timestamp must be whole Unix seconds; got {timestamp[:40]!r}.",
                "bad_timestamp",
            ) from None
        current = _whole_seconds(*(("clock", self._clock()) if now is None else ("now", now)))
        skew = current - sent_at
        if abs(skew) > self._tolerance:
            direction = "old" if skew > 0 else "in the future"
            amount = str(abs(skew)) if abs(skew) < 10**15 else "more than 10^15"
            raise _reject(
                f"Webhook timestamp is {amount} seconds {direction}; at most "
                f"{self._tolerance} are allowed either way (a replay, or clocks out of sync).",
                "timestamp_out_of_window",
            )

        expected = compute_signature(self._secret, timestamp, event_id, raw)
        if not hmac.compare_digest(expected, received_hex.lower()):
            raise _reject(
                "Webhook signature does not match: the body or headers were altered, "
                "the body was re-serialised, or the secret is wrong.",
                "signature_mismatch",
            )

        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _reject(
                f"Webhook body is not valid UTF-8 (byte {exc.start}).", "invalid_encoding"
            ) from None
        if nested_too_deep(text):
            raise _reject(f"Webhook body is {TOO_DEEP}.", "invalid_json")
        try:
            data = loads(text)
        except ValueError as exc:  # JSONDecodeError, and int() digit limits
            raise _reject(f"Webhook body is not valid JSON: {exc}", "invalid_json") from None
        return attrs.evolve(_parse_payload(data), event_id=event_id, timestamp=sent_at)

    def _raw_body(self, body: object) -> bytes:
        limit = self._max_body_size
        if isinstance(body, str):
            # Every character is at least one UTF-8 byte: cheap early refusal.
            if len(body) > limit:
                raise _too_large(limit)
            try:
                raw = body.encode("utf-8")
            except UnicodeEncodeError:
                raise _reject(
                    "Webhook body (str) holds characters that UTF-8 cannot encode; "
                    "pass the raw bytes instead.",
                    "invalid_encoding",
                ) from None
        elif isinstance(body, (bytes, bytearray, memoryview)):
            size = body.nbytes if isinstance(body, memoryview) else len(body)
            if size > limit:
                raise _too_large(limit)
            raw = bytes(body)
        else:
            raise _reject(
                f"The webhook body must be the raw request body (bytes or str), not "
                f"{type(body).__name__}: the signature covers the exact bytes received.",
                "invalid_body",
            )
        if len(raw) > limit:
            raise _too_large(limit)
        return raw


def _whole_seconds(name: str, value: object) -> int:
    """``value`` (Unix seconds) floored; SaynaValidationError is a caller's bug, not a webhook's."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SaynaValidationError(
            f"{name} must be Unix seconds (int or float), not {type(value).__name__}.", field=name
        )
    if not math.isfinite(value):
        raise SaynaValidationError(f"{name} must be a finite number, got {value!r}.", field=name)
    return math.floor(value)


def _too_large(limit: int) -> WebhookVerificationError:
    return _reject(f"Webhook body is larger than {limit} bytes.", "body_too_large")


def _header_key(name: object) -> str | None:
    if isinstance(name, (bytes, bytearray)):
        name = bytes(name).decode("latin-1")  # ASGI-style raw header names
    if not isinstance(name, str):
        return None
    if name.startswith("HTTP_"):  # WSGI environ / Django request.META
        return name[5:].replace("_", "-").lower()
    return name.lower()


def _collect_headers(headers: object) -> dict[str, list[object]]:
    """Every value given for our three headers, by lower-case name."""
    if headers is None or isinstance(headers, (str, bytes, bytearray)):
        raise _reject(
            f"headers must be a mapping or (name, value) pairs, not {type(headers).__name__}.",
            "invalid_headers",
        )
    found: dict[str, list[object]] = {}
    try:
        items = getattr(headers, "items", None)
        pairs: Iterable[Any] = items() if callable(items) else headers  # type: ignore[assignment]
        for name, value in pairs:
            key = _header_key(name)
            if key in _DISPLAY_NAMES:
                found.setdefault(key, []).append(value)
    except Exception as exc:
        # A user-supplied object may fail in any way while iterated; that is
        # still "unreadable headers", never a crash of the endpoint.
        raise _reject(
            f"headers could not be read as (name, value) pairs ({type(exc).__name__}).",
            "invalid_headers",
        ) from None
    return found


def _header_text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise _reject(f"Header {name} is not valid UTF-8.", "invalid_header") from None
    if not isinstance(value, str):
        raise _reject(f"Header {name} must be text, not {type(value).__name__}.", "invalid_header")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _reject(f"Header {name} is not valid Unicode text.", "invalid_header") from None
    return value


def _required_header(found: Mapping[str, list[object]], key: str) -> str:
    name = _DISPLAY_NAMES[key]
    texts: set[str] = set()
    for value in found.get(key, ()):
        # Multi-valued header containers hand over lists; a single value is fine.
        parts = list(value) if isinstance(value, (list, tuple)) else [value]
        for part in parts:
            text = _header_text(name, part)
            if text is not None:
                texts.add(text)
    if len(texts) > 1:
        # Two spellings (X-Sayna-Signature / x-sayna-signature / HTTP_X_SAYNA_...)
        # with different values, an empty one included: which one a proxy or
        # framework would have used is unknowable, so neither is trusted.
        raise _reject(
            f"Header {name} was given more than once, with different values.",
            "duplicate_header",
        )
    text = texts.pop() if texts else ""
    if not text:
        raise _reject(f"Header {name} is missing or empty.", "missing_header")
    return text


# The payload is structured by this small explicit validator rather than the
# project's cattrs converter: cattrs' str hook would turn 123 into "123" (the
# official receiver, and our vectors, reject a number where a string belongs),
# and the error we want is a flat "field.path: problem" list, not a nested
# cattrs exception group.


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class _Absent(dict[str, Any]):
    """Stands in for an object already reported missing: its fields are not reported."""


_ABSENT = _Absent()


class _Checker:
    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def string(self, obj: Mapping[str, Any], key: str, path: str) -> str:
        if obj is _ABSENT:
            return ""
        if key not in obj:
            self.problems.append((path, "field required"))
            return ""
        value = obj[key]
        if not isinstance(value, str):
            self.problems.append((path, f"expected a string, got {_kind(value)}"))
            return ""
        return value

    def optional_string(self, obj: Mapping[str, Any], key: str, path: str) -> str | None:
        value = obj.get(key)
        if value is None or isinstance(value, str):
            return value
        self.problems.append((path, f"expected a string or null, got {_kind(value)}"))
        return None

    def obj(self, obj: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
        # A missing or mistyped object is one problem, not one per field inside it.
        if key not in obj:
            self.problems.append((path, "field required"))
            return _ABSENT
        value = obj[key]
        if not isinstance(value, dict):
            self.problems.append((path, f"expected an object, got {_kind(value)}"))
            return _ABSENT
        return value

    def string_map(self, obj: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problems.append((path, f"expected an object, got {_kind(value)}"))
            return {}
        for name, item in value.items():
            if not isinstance(item, str):
                self.problems.append((f"{path}.{name}", f"expected a string, got {_kind(item)}"))
        return dict(value)


def _parse_payload(data: object) -> WebhookSIPOutput:
    if not isinstance(data, dict):
        raise _reject(
            f"Webhook payload must be a JSON object, got {_kind(data)}.", "invalid_payload"
        )
    check = _Checker()
    participant = check.obj(data, "participant", "participant")
    identity = check.string(participant, "identity", "participant.identity")
    participant_sid = check.string(participant, "sid", "participant.sid")
    name = check.optional_string(participant, "name", "participant.name")
    room = check.obj(data, "room", "room")
    room_name = check.string(room, "name", "room.name")
    room_sid = check.string(room, "sid", "room.sid")
    from_number = check.string(data, "from_phone_number", "from_phone_number")
    to_number = check.string(data, "to_phone_number", "to_phone_number")
    room_prefix = check.string(data, "room_prefix", "room_prefix")
    sip_host = check.string(data, "sip_host", "sip_host")
    sip_headers = check.string_map(data, "sip_headers", "sip_headers")
    if check.problems:
        listed = "; ".join(f"{p}: {m}" for p, m in check.problems[:_MAX_LISTED_PROBLEMS])
        more = len(check.problems) - _MAX_LISTED_PROBLEMS
        if more > 0:
            listed += f"; and {more} more"
        raise _reject(
            f"Webhook payload is invalid: {listed}",
            "invalid_payload",
            field=check.problems[0][0],
        )
    return WebhookSIPOutput(
        participant=WebhookSIPParticipant(identity=identity, sid=participant_sid, name=name),
        room=WebhookSIPRoom(name=room_name, sid=room_sid),
        from_phone_number=from_number,
        to_phone_number=to_number,
        room_prefix=room_prefix,
        sip_host=sip_host,
        sip_headers=sip_headers,
    )


# --- shared by the framework adapters -------------------------------------------------


def rejection_status(reason: str) -> int:
    """The HTTP status an endpoint answers a rejection with (400 for unknown reasons)."""
    return REASONS.get(reason, 400)


def rejection_response(exc: WebhookVerificationError, *, source: str) -> tuple[int, bytes]:
    """Log a rejected webhook and return the HTTP status and JSON body to answer with.

    The body names the reason code only; the detailed message goes to the
    ``sayna.webhooks`` log (messages never contain the secret).
    """
    status = rejection_status(exc.reason)
    level = logging.ERROR if status >= 500 else logging.WARNING
    logger.log(level, "%s: rejected a Sayna webhook (%s): %s", source, exc.reason, exc.message)
    return status, json.dumps({"error": exc.reason}).encode("ascii")


def declared_length(content_length: object, limit: int) -> int | None:
    """The request's Content-Length as an int (``None`` when absent), refused over ``limit``.

    Adapters call this before reading, so an oversized body is never read.
    """
    if content_length is None or (isinstance(content_length, str) and not content_length.strip()):
        return None
    text = str(content_length).strip()
    if not text.isascii() or not text.isdigit():
        raise _reject(f"Content-Length {text[:20]!r} is not a byte count.", "invalid_body")
    length = int(text) if len(text) <= 18 else limit + 1  # (int() refuses huge digit runs)
    if length > limit:
        raise _too_large(limit)
    return length


def read_at_most(read: Callable[[int], bytes], limit: int) -> bytes:
    """Read a request body to its end in 64 KiB steps, refused once it passes ``limit`` bytes.

    For bodies with no Content-Length (chunked): the limit holds while
    reading, so an endless body costs at most ``limit`` + 64 KiB of memory.
    """
    body = bytearray()
    while True:
        chunk = read(min(64 * 1024, limit + 1 - len(body)))
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)


def receiver_provider(receiver: WebhookReceiver | None) -> Callable[[], WebhookReceiver]:
    """``receiver`` itself, or a receiver built from the environment on first use.

    Building lazily lets a module decorate its views before the secret is set;
    a missing secret then shows as a 500 (logged) on the first request.
    """
    if receiver is not None:
        given = receiver
        return lambda: given
    built: list[WebhookReceiver] = []

    def get() -> WebhookReceiver:
        if not built:
            built.append(WebhookReceiver())
        return built[0]

    return get
