"""The realtime protocol's bookkeeping, without I/O: close records and ping timing.

Everything here is a pure function of bytes, exceptions and clock readings, so
it is tested byte by byte without a socket. The connection
(:mod:`sayna._realtime.connection`) feeds it what it reads and writes what it returns.
"""

from __future__ import annotations

import enum
import struct

import websocket

from sayna._errors import SaynaConnectionClosedError
from sayna._events import CloseEvent
from sayna._realtime import frames as _frames

__all__ = [
    "NORMAL_CLOSE_CODES",
    "PingClock",
    "PingStep",
    "client_close",
    "close_frame",
    "describe_close",
    "lost_close",
    "parse_close",
    "server_close",
    "unanswered_close",
]

# Close codes that end a session normally (1005: Close frame without a code,
# which is how the server ends a session when a participant leaves).
NORMAL_CLOSE_CODES = frozenset({1000, 1001, 1005})


# The code we send when the server broke the protocol (RFC 6455 §7.4.1).
PROTOCOL_ERROR = 1002


def describe(exc: BaseException) -> str:
    """``Type: message`` (or just the type) for log lines and reasons."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def close_frame(code: int | None, reason: bytes = b"") -> bytes | bytearray:
    """A masked client Close frame; ``None`` sends none of a code."""
    payload = b"" if code is None else struct.pack("!H", code) + reason
    return _frames.build_frame(_frames.OP_CLOSE, payload)


def parse_close(payload: bytes) -> tuple[int | None, str]:
    """The code (``None`` when absent) and reason of a Close frame's payload."""
    if len(payload) < 2:
        return None, ""
    code: int = struct.unpack("!H", payload[:2])[0]
    return code, payload[2:].decode("utf-8", "replace")


def describe_close(close: CloseEvent) -> str:
    """``code 1011, reason`` / ``no close code`` for messages."""
    code = "no close code" if close.code is None else f"code {close.code}"
    return f"{code}, {close.reason}" if close.reason else code


def client_close() -> CloseEvent:
    """The record of a session we ended ourselves."""
    return CloseEvent(code=1000, initiator="client")


def server_close(payload: bytes) -> tuple[CloseEvent, bytes | bytearray]:
    """The record of the server's Close frame, and the Close frame that answers it.

    The answer echoes the server's code, as RFC 6455 suggests; a Close without
    a code is reported as 1005 and answered without one.
    """
    code, reason = parse_close(payload)
    answer = close_frame(code)
    code = 1005 if code is None else code
    error = None
    if code not in NORMAL_CLOSE_CODES:
        message = f"the server closed the session with code {code}"
        error = SaynaConnectionClosedError(
            f"{message}: {reason}" if reason else message, code=code, reason=reason
        )
    return CloseEvent(code=code, reason=reason, initiator="server", error=error), answer


def is_protocol_violation(exc: BaseException) -> bool:
    """Whether the reader stopped because the server broke the framing rules."""
    return isinstance(
        exc, (websocket.WebSocketProtocolException, websocket.WebSocketPayloadException)
    )


def lost_close(exc: BaseException) -> CloseEvent:
    """The record of a connection that ended without a Close frame (``exc`` says how)."""
    if is_protocol_violation(exc):
        reason = f"protocol error: {exc}"
    else:
        reason = f"connection lost: {describe(exc)}"
    return CloseEvent(
        code=None,
        reason=reason,
        initiator="network",
        error=SaynaConnectionClosedError(
            f"the connection to the Sayna server ended unexpectedly ({reason})",
            reason=reason,
        ),
    )


def unanswered_close(timeout: float) -> CloseEvent:
    """The record of a connection given up because a ping went unanswered."""
    reason = f"no answer to a ping within {timeout:g} s"
    return CloseEvent(
        code=None,
        reason=reason,
        initiator="network",
        error=SaynaConnectionClosedError(
            f"the Sayna server stopped answering ({reason}); the connection is considered lost",
            reason=reason,
        ),
    )


class PingStep(enum.Enum):
    """What the connection does after asking :meth:`PingClock.step`."""

    WAIT = "wait"  # nothing now; ask again at the returned time
    PING = "ping"  # write a ping now (try_send), then report it with sent()
    GIVE_UP = "give_up"  # no answer in time: the connection is lost


class PingClock:
    """When to ping and when to give up, from what was last received.

    Any bytes received prove the peer alive, so the clock is fed the time of
    the last read (``last_inbound``), not only pongs.
    """

    __slots__ = ("_delivered", "_sent_at", "_written_at", "interval", "rtt", "timeout")

    def __init__(self, interval: float | None, timeout: float) -> None:
        self.interval = interval
        self.timeout = timeout
        self._sent_at: float | None = None
        self._delivered = False
        self._written_at: float | None = None
        #: The last ping's round trip (write to pong), seconds.
        self.rtt: float | None = None

    def writing(self, now: float) -> None:
        """A ping's bytes leave at ``now``.

        Stamped before the write, not after: on loopback the reader thread can
        take the pong before the writing thread runs again, and a stamp made
        after would miss that round trip (or pair the pong with an older ping).
        """
        self._written_at = now

    def answered(self, now: float) -> None:
        """A pong arrived at ``now``: the round trip of the ping written last."""
        written, self._written_at = self._written_at, None
        if written is not None:
            self.rtt = max(0.0, now - written)

    def pause(self) -> None:
        """The reader stopped reading (backpressure): forget the ping in flight,
        whose answer would sit unread."""
        self._sent_at = None

    def step(self, now: float, last_inbound: float) -> tuple[PingStep, float]:
        """What to do at ``now``, and when to ask next."""
        interval, timeout = self.interval, self.timeout
        if interval is None:
            return PingStep.WAIT, now + 1.0
        sent = self._sent_at
        if sent is not None and last_inbound >= sent:
            self._sent_at = sent = None
        if sent is None:
            if now - last_inbound < interval:
                return PingStep.WAIT, last_inbound + interval
            self._sent_at = sent = now
            self._delivered = False
        if now - sent >= timeout:
            return PingStep.GIVE_UP, now + 60.0
        if not self._delivered:
            return PingStep.PING, sent + timeout
        return PingStep.WAIT, sent + timeout

    def sent(self, delivered: bool, now: float) -> float:
        """Report the ping's write; return when to ask next.

        The deadline runs even if the ping could not be written yet (a send is
        in progress, the socket is full): a peer that reads nothing and says
        nothing for that long is gone. Until then the write is retried soon.
        """
        self._delivered = delivered
        sent = self._sent_at if self._sent_at is not None else now
        if not delivered:
            self._written_at = None  # no pong can answer a ping that never left
            return min(sent + self.timeout, now + 0.05)
        return sent + self.timeout
