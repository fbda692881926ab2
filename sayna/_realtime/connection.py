"""One WebSocket connection of a session: the socket, its reader thread, sends, close.

A :class:`Connection` reads frames on its own daemon thread, decodes them into
events and hands them to its owner (the session core) in batches; it writes
frames under one lock so that they never interleave; it answers pings and the
server's Close, pings a quiet server through the process-wide keep-alive
thread, and reports how it ended (a :class:`~sayna.CloseEvent`) to its owner.
Whether that ends the session is the owner's business.
"""

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from sayna._errors import SaynaConnectionClosedError, SaynaError, SaynaValidationError
from sayna._events import (
    CloseEvent,
    Event,
    STTResultEvent,
    TTSPlaybackCompleteEvent,
    decode_binary,
    decode_text,
)
from sayna._realtime import frames as _frames
from sayna._realtime import keepalive as _keepalive
from sayna._realtime.eventlog import BATCH, EventLog
from sayna._realtime.hearing import Hearing
from sayna._realtime.protocol import (
    PROTOCOL_ERROR,
    PingClock,
    PingStep,
    client_close,
    close_frame,
    describe,
    is_protocol_violation,
    lost_close,
    server_close,
    unanswered_close,
)
from sayna._realtime.stats import SpeechTracker

if TYPE_CHECKING:
    from sayna._realtime.bargein import BargeInGuard

__all__ = ["CLOSE_HANDSHAKE_TIMEOUT", "Connection", "ConnectionOwner"]

logger = logging.getLogger("sayna")

# How long close() waits for the server's answer to our Close frame before it
# shuts the socket down. The server often just drops the connection (§3.2);
# it cleans up either way, so waiting longer buys nothing.
CLOSE_HANDSHAKE_TIMEOUT = 0.5

_OP_TEXT = _frames.OP_TEXT
_OP_BINARY = _frames.OP_BINARY
_OP_CLOSE = _frames.OP_CLOSE
_OP_PING = _frames.OP_PING
_OP_PONG = _frames.OP_PONG
_build_frame = _frames.build_frame


class ConnectionOwner(Protocol):
    """What a connection needs from the session it serves."""

    log: EventLog
    speech: SpeechTracker
    hearing: Hearing
    barge_in: BargeInGuard | None

    @property
    def is_ready(self) -> bool:
        """Whether the session is ready (keep-alive pings only then)."""
        ...

    def before_ready(self, connection: Connection, event: Event) -> bool:
        """An event arrived before this connection's ``ready``; False keeps it out of the log."""
        ...

    def connection_ended(self, connection: Connection, close: CloseEvent) -> None:
        """The reader stopped; ``close`` says how."""

    def closed_error(self) -> SaynaError:
        """What a send raises once the session is no longer open."""
        ...


def _writable(sock: socket.socket, timeout: float) -> bool:
    """Whether a small frame can be written without blocking (waits up to ``timeout``)."""
    # poll(), not select(): a process holding many sessions has descriptors
    # above select()'s FD_SETSIZE limit (1024).
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        return bool(poller.poll(timeout * 1000))
    return bool(select.select([], [sock], [], timeout)[1])  # pragma: no cover - Windows


def text_frame(payload: dict[str, Any]) -> bytes | bytearray:
    """One masked text frame of ``payload`` as compact JSON."""
    try:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SaynaValidationError(f"cannot encode the message as JSON: {exc}") from None
    return _build_frame(_OP_TEXT, text.encode("utf-8"))


def binary_frame(data: bytes | bytearray | memoryview) -> bytes | bytearray:
    """One masked binary frame of ``data``."""
    return _build_frame(_OP_BINARY, data)


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


class Connection:
    """One open WebSocket and its reader thread (see the module docstring)."""

    def __init__(
        self,
        ws: Any,
        owner: ConnectionOwner,
        *,
        name: str,
        ping_interval: float | None,
        ping_timeout: float,
    ) -> None:
        self._ws = ws
        self._owner = owner
        self._send_lock = threading.Lock()
        #: False once the owner closes it or the reader stopped: sends refuse.
        self.open = True
        #: Set when we end it (close() or the owner giving up on it).
        self.closing = False
        self._close_sent = False
        self._abort: CloseEvent | None = None
        self.pings = PingClock(ping_interval, ping_timeout)
        self.last_inbound = time.monotonic()
        #: True until the owner has seen this connection's ``ready``.
        self.awaiting_ready = True
        #: Set when the reader stopped because the server broke the framing rules.
        self.protocol_violation = False
        # Counters for Session.stats(): sends count under the send lock, the
        # reader publishes its own after each read.
        self.sent_messages = 0
        self.sent_audio = 0
        self.received_messages = 0
        self.received_audio = 0
        #: Set once the session added these counters to its totals.
        self.counted = False
        self.reader = threading.Thread(target=self._read_loop, name=name, daemon=True)

    @property
    def sock(self) -> socket.socket | None:
        """The socket (``None`` once closed)."""
        sock: socket.socket | None = self._ws.sock
        return sock

    @property
    def rtt(self) -> float | None:
        """The last answered keep-alive ping's round trip (for the stats)."""
        return self.pings.rtt

    def start(self) -> None:
        self.reader.start()

    @property
    def reader_done(self) -> bool:
        """The reader ran and stopped (the owner has been told)."""
        return self.reader.ident is not None and not self.reader.is_alive()

    def start_keepalive(self) -> None:
        """The session is ready: ping a quiet server from now on."""
        if self.pings.interval:
            _keepalive.add(self)

    # --- sending ---------------------------------------------------------------

    def send_json(self, payload: dict[str, Any]) -> None:
        self.send_raw(text_frame(payload))

    def send_raw(self, data: bytes | bytearray, audio: int = 0) -> None:
        """Write one complete, already masked frame (``audio``: its audio bytes).

        Frames never interleave.
        """
        # Framing and masking happen before the lock: only the write is serialised.
        with self._send_lock:
            if not self.open:
                raise self._owner.closed_error()
            sock = self._ws.sock
            try:
                if sock is None:
                    raise OSError("the socket is closed")
                sock.sendall(data)
                self.sent_messages += 1
                self.sent_audio += audio
                return
            except OSError as exc:
                failure = exc
        if not self.open:
            raise self._owner.closed_error() from failure
        # The reader finds out why (a Close frame still unread, a reset) and ends
        # the connection; this call reports the loss now.
        raise SaynaConnectionClosedError(
            f"sending failed, the connection is lost: {describe(failure)}"
        ) from failure

    def send_close(self, code: int | None, reason: bytes, deadline: float) -> bool:
        """Our Close frame (once), waiting at most until ``deadline`` and the close timeout."""
        wait = min(_left(deadline), CLOSE_HANDSHAKE_TIMEOUT)
        return self._send_control(close_frame(code, reason), wait, close=True)

    def _send_control(self, data: bytes | bytearray, wait: float, *, close: bool = False) -> bool:
        """Write one control frame; False if it could not go out within ``wait`` seconds.

        The one writer of control frames. ``wait`` bounds both the wait for the
        send lock and for room in the socket: 0 for the reader (pongs, the
        Close 1002) and the keep-alive thread (pings), which must never block
        while they serve everyone else; a short bounded wait for our Close.
        """
        lock = self._send_lock
        if not (lock.acquire(timeout=wait) if wait > 0 else lock.acquire(blocking=False)):
            return False  # a send is stuck; the socket will be shut down instead
        try:
            sock = self._ws.sock
            if sock is None:
                return False
            if close:
                if self._close_sent:
                    return False
                self._close_sent = True
            elif not self.open:
                return False
            # A peer that stopped reading would block even a small write.
            if not _writable(sock, wait):
                return False
            sock.sendall(data)
            return True
        except (OSError, ValueError):
            return False
        finally:
            lock.release()

    # --- closing -----------------------------------------------------------------

    def close(self, deadline: float) -> None:
        """Our Close frame, a short wait for the answer, then the socket is shut down.

        The reader reports the end to the owner; a connection whose reader
        never started is reported here.
        """
        self.closing = True
        self.open = False
        _keepalive.remove(self)
        me = threading.current_thread()
        if self.reader.ident is None:
            self._owner.connection_ended(self, client_close())
            return
        sent = self.send_close(1000, b"", deadline)
        if sent and self.reader is not me:
            self.reader.join(min(CLOSE_HANDSHAKE_TIMEOUT, _left(deadline)))
        if self.reader.is_alive():
            # No answer (or no way to send): unblock the reader.
            self.shutdown_socket()

    def join(self, deadline: float) -> None:
        """Wait (until ``deadline``) for the reader to stop."""
        reader = self.reader
        if reader is not threading.current_thread() and reader.ident is not None:
            reader.join(_left(deadline))

    def abandon(self) -> None:
        """Close from a finalizer: take no lock blockingly, wait for nothing."""
        self.closing = True
        self.open = False
        # A deadline of now: no waiting for the send lock or for a full socket.
        self.send_close(1000, b"", time.monotonic())
        # The reader sees the end of the stream and reports it itself.
        self.shutdown_socket()

    def shutdown_socket(self) -> None:
        sock = self._ws.sock
        if sock is not None:
            with contextlib.suppress(OSError, ValueError):
                sock.shutdown(socket.SHUT_RDWR)

    def release(self) -> None:
        """Stop pinging and close the socket (the reader has stopped)."""
        _keepalive.remove(self)
        self.shutdown_socket()
        # Closing frees the descriptor number; doing it while a sender is inside
        # sendall() could let that sender write into a reused descriptor. After
        # the shutdown above any such send fails at once, so the wait is short.
        if self._send_lock.acquire(timeout=1.0):
            try:
                self._ws.shutdown()
            finally:
                self._send_lock.release()
        else:  # pragma: no cover - a send cannot outlive the shutdown
            logger.debug("socket left open: a send did not finish")

    # --- the reader thread -------------------------------------------------------

    def _read_loop(self) -> None:
        # The handshake is done (sayna._realtime.handshake read the answers, websocket-client
        # opened TLS and the proxy tunnel); from here the frames are parsed by
        # _frames.FrameReader straight off the socket.
        # Its blocking recv_into works for plain and TLS sockets alike: the
        # socket has no timeout, and a TLS record decrypted but not yet read
        # (SSLSocket.pending()) is returned by the next read without waiting,
        # as no one selects on this socket for reading.
        owner = self._owner
        speech = owner.speech
        stt_result = STTResultEvent
        pending: list[Event] = []
        # The read's stt_results, for hearing, handed over with the batch.
        results: list[STTResultEvent] = []
        heard = results.append
        extend = owner.log.extend

        def hand_over() -> None:
            # Hearing first: finish() must know of a result a consumer can see.
            if results:
                owner.hearing.results(results, self.last_inbound)
                results.clear()
            if pending:
                extend(pending)
                pending.clear()

        guard = owner.barge_in
        complete = TTSPlaybackCompleteEvent
        close: CloseEvent | None = None
        received = audio_in = 0
        try:
            reader = _frames.FrameReader(self._ws.sock.recv_into)
            take_messages, fill = reader.take_messages, reader.fill
            while close is None:
                messages = take_messages()
                if not messages:
                    # Decoded events reach the log in one batch per read (one
                    # lock round trip, one wake-up of consumers) instead of one
                    # by one: the batch is handed over before the read, which
                    # may block, so batching never delays an event. A full log
                    # blocks right here, so a reader under backpressure stops
                    # reading.
                    hand_over()
                    self.received_messages, self.received_audio = received, audio_in
                    fill()
                    self.last_inbound = time.monotonic()
                    continue
                for opcode, payload in messages:
                    if opcode == _OP_BINARY:
                        event: Event = decode_binary(payload)
                        received += 1
                        audio_in += len(payload)
                        if speech.active:
                            speech.audio(len(payload), self.last_inbound)
                    elif opcode == _OP_TEXT:
                        event = decode_text(payload)
                        received += 1
                        if event.__class__ is complete and speech.active:
                            speech.complete(self.last_inbound)
                        elif event.__class__ is stt_result:
                            heard(event)
                    elif opcode == _OP_CLOSE:
                        close = self._on_close_frame(payload)
                        break
                    else:
                        if opcode == _OP_PING:
                            self._send_control(_build_frame(_OP_PONG, payload), 0)
                        elif opcode == _OP_PONG:
                            self.pings.answered(self.last_inbound)
                        # Nothing more: any bytes received prove the peer alive.
                        continue
                    if self.awaiting_ready:
                        # Counts are up to date by the time connect() returns.
                        self.received_messages, self.received_audio = received, audio_in
                        if not owner.before_ready(self, event):
                            continue
                    if guard is not None and guard.watching:
                        guard.take(event, pending, self)  # barge-in: may drop or add
                    else:
                        pending.append(event)
                    if len(pending) >= BATCH:
                        # A large read is handed over in slices, so consumers
                        # start on it while the rest is decoded.
                        hand_over()
        except Exception as exc:
            close = self._on_transport_end(exc)
        finally:
            if close is None:  # pragma: no cover - BaseException in the reader
                close = CloseEvent(code=None, reason="reader stopped", initiator="network")
            if guard is not None:
                guard.flush(pending)
            hand_over()
            self.received_messages, self.received_audio = received, audio_in
            self.open = False
            owner.connection_ended(self, close)

    def _on_close_frame(self, payload: bytes) -> CloseEvent:
        if self._close_sent or self.closing:
            return client_close()
        close, answer = server_close(payload)
        self._send_control(answer, 0)
        return close

    def _on_transport_end(self, exc: Exception) -> CloseEvent:
        if self._abort is not None:
            return self._abort
        if self.closing:
            # We closed; the server dropping TCP instead of answering is normal (§3.2).
            return client_close()
        if is_protocol_violation(exc):
            self.protocol_violation = True
            self._send_control(close_frame(PROTOCOL_ERROR), 0)
        return lost_close(exc)

    # --- keep-alive --------------------------------------------------------------

    def keepalive_tick(self, now: float) -> float:
        if not self.open or not self._owner.is_ready:
            return now + 1.0
        pings = self.pings
        log = self._owner.log
        if log.paused:
            # The reader is not reading (backpressure), so answers would sit
            # unread; silence proves nothing until it reads again.
            pings.pause()
            return now + (pings.interval or 1.0)
        step, due = pings.step(now, max(self.last_inbound, log.resumed_at))
        if step is PingStep.GIVE_UP:
            self._abort = unanswered_close(pings.timeout)
            self.shutdown_socket()
        elif step is PingStep.PING:
            pings.writing(time.monotonic())
            delivered = self._send_control(_build_frame(_OP_PING, b""), 0)
            return pings.sent(delivered, time.monotonic() if delivered else now)
        return due
