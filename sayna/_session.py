"""The realtime session: one WebSocket conversation with the server, blocking API.

Three kinds of threads touch a session: the reader (one per session, owns the
receiving side of the socket), the dispatcher (one per session, started with
the first callback, runs user callbacks) and the process-wide keep-alive
thread (see :mod:`sayna._keepalive`). User threads send and consume. The
threads hold the private ``_Core``, never the public :class:`Session`, so an
abandoned session can be garbage-collected (and warned about).
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import itertools
import json
import logging
import os
import select
import socket
import struct
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, Union

import websocket

from sayna import _conveniences, _frames, _keepalive
from sayna._converter import to_wire
from sayna._errors import (
    SaynaCallbackError,
    SaynaConfigError,
    SaynaConnectionClosedError,
    SaynaError,
    SaynaNotConnectedError,
    SaynaTimeoutError,
    SaynaValidationError,
)
from sayna._eventlog import (
    BATCH,
    DEFAULT_MAX_AUDIO_BYTES,
    DEFAULT_MAX_BUFFERED_EVENTS,
    Cursor,
    EventIterator,
    EventLog,
)
from sayna._events import (
    CallbackErrorEvent,
    CloseEvent,
    ErrorEvent,
    Event,
    MessageEvent,
    ParticipantConnectedEvent,
    ParticipantDisconnectedEvent,
    ReadyEvent,
    SIPTransferErrorEvent,
    STTResultEvent,
    TrackSubscribedEvent,
    TTSAudioEvent,
    TTSPlaybackCompleteEvent,
    UnknownEvent,
    decode_binary,
    decode_text,
)
from sayna._models import (
    LiveKitConfig,
    LoadingAudioConfig,
    STTConfig,
    TTSConfig,
    TurnDetectConfigUpdate,
    VADConfigUpdate,
)
from sayna._validation import (
    normalize_phone_number,
    require_bool,
    require_positive_seconds,
    require_text,
)
from sayna._wsconnect import network_plan, open_websocket

if TYPE_CHECKING:
    from sayna._audio import AudioResult
    from sayna._client import Sayna

__all__ = ["DEFAULT_MAX_BUFFERED_EVENTS", "Session", "connect"]

logger = logging.getLogger("sayna")

# How long close() waits for the server's answer to our Close frame before it
# shuts the socket down. The server often just drops the connection (§3.2);
# it cleans up either way, so waiting longer buys nothing.
_CLOSE_HANDSHAKE_TIMEOUT = 0.5
# Close codes that end a session normally (1005: Close frame without a code,
# which is how the server ends a session when a participant leaves).
_NORMAL_CLOSE_CODES = frozenset({1000, 1001, 1005})

_OP_TEXT = _frames.OP_TEXT
_OP_BINARY = _frames.OP_BINARY
_OP_CLOSE = _frames.OP_CLOSE
_OP_PING = _frames.OP_PING
_OP_PONG = _frames.OP_PONG
_build_frame = _frames.build_frame

EventKey = Union[type[Event], str, None]  # noqa: UP007 - a runtime alias on 3.10
EventMatch = Union[type[Event], str, tuple[Any, ...], Callable[[Event], bool]]  # noqa: UP007
H = TypeVar("H", bound=Callable[..., Any])

_ids = itertools.count(1)
# Bumped in a forked child: a session belongs to the process that opened it.
_fork_generation = 0
# Live sessions, closed at interpreter exit. Weak: a collected session is gone.
_live: weakref.WeakSet[_Core] = weakref.WeakSet()


class _State(enum.Enum):
    CONNECTING = "connecting"
    READY = "ready"
    CLOSING = "closing"
    CLOSED = "closed"


_OPEN_STATES = (_State.CONNECTING, _State.READY)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _callable_name(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__qualname__", None) or repr(fn))


def _writable(sock: socket.socket, timeout: float) -> bool:
    """Whether a small frame can be written without blocking (waits up to ``timeout``)."""
    # poll(), not select(): a process holding many sessions has descriptors
    # above select()'s FD_SETSIZE limit (1024).
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        return bool(poller.poll(timeout * 1000))
    return bool(select.select([], [sock], [], timeout)[1])  # pragma: no cover - Windows


def _copy_error(error: SaynaConnectionClosedError) -> SaynaConnectionClosedError:
    # Each raise gets a fresh instance: re-raising one object from several
    # threads would tangle their tracebacks.
    return SaynaConnectionClosedError(error.message, code=error.code, reason=error.reason)


def _matcher(spec: EventMatch) -> Callable[[Event], bool]:
    if isinstance(spec, type):
        if not issubclass(spec, Event):
            raise SaynaValidationError(f"{spec.__name__} is not an event class", field="event")
        cls = spec
        return lambda event: isinstance(event, cls)
    if isinstance(spec, str):
        wire_type = spec
        return lambda event: event.type == wire_type
    if isinstance(spec, tuple):
        matchers = [_matcher(item) for item in spec]
        return lambda event: any(match(event) for match in matchers)
    if callable(spec):
        return spec
    raise SaynaValidationError(
        "expected an event class, a type string, a tuple of those or a predicate",
        field="event",
    )


def _check_key(key: EventKey) -> None:
    if key is None or isinstance(key, str):
        return
    if isinstance(key, type) and issubclass(key, Event):
        return
    raise SaynaValidationError(
        f"expected an event class, a type string or None, not {key!r}", field="event_type"
    )


def _any_event(event: Event) -> bool:
    return True


class _Handler:
    __slots__ = ("fn", "key", "matches", "replayed", "since", "slot")

    def __init__(
        self, key: EventKey, fn: Callable[[Any], Any], slot: str | None, since: int
    ) -> None:
        self.key = key
        self.matches = _any_event if key is None else _matcher(key)
        self.fn = fn
        self.slot = slot
        self.since = since  # the first log entry this handler is due
        # Set by the dispatcher once it caught the handler up; a handler
        # registered after the first send is due nothing from before it.
        self.replayed = since > 0


class _Core:
    """Everything a session is, minus the public face (see :class:`Session`)."""

    def __init__(
        self,
        ws: Any,
        *,
        without_audio: bool,
        livekit: bool,
        max_buffered_events: int,
        max_buffered_audio_bytes: int,
        ping_interval: float | None,
        ping_timeout: float,
    ) -> None:
        self.id = next(_ids)
        self.fork_generation = _fork_generation
        self._ws = ws
        self.without_audio = without_audio
        self.livekit = livekit
        # Kept for the conveniences: the audio format to check and to describe.
        self.stt_config: STTConfig | None = None
        self.tts_config: TTSConfig | None = None
        self.log = EventLog(max_buffered_events, max_buffered_audio_bytes)
        self._send_lock = threading.Lock()
        self._cond = threading.Condition(threading.Lock())
        self.state = _State.CONNECTING
        self.ready_event: ReadyEvent | None = None
        self._config_error: ErrorEvent | None = None
        self.close_event: CloseEvent | None = None
        self.fatal: SaynaConnectionClosedError | None = None
        self._abort: CloseEvent | None = None
        self._user_closed = False
        self._close_sent = False
        #: Set by the first send of the user (the config frame does not count).
        self.user_sent = False
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self.last_inbound = time.monotonic()
        self._ping_sent_at: float | None = None
        self._ping_delivered = False
        self._handlers_lock = threading.Lock()
        # Copy-on-write: the dispatcher reads (handlers, routes) without a lock.
        self._registry: tuple[tuple[_Handler, ...], dict[object, tuple[_Handler, ...]]] = (
            (),
            {},
        )
        self._errors_lock = threading.Lock()
        self.callback_errors: list[BaseException] = []
        self._unraised: list[BaseException] = []
        self._reader = threading.Thread(
            target=self._read_loop, name=f"sayna-reader-{self.id}", daemon=True
        )
        self._dispatcher: threading.Thread | None = None
        _live.add(self)

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        self._reader.start()

    def check_process(self) -> None:
        if self.fork_generation != _fork_generation:
            raise SaynaNotConnectedError(
                "this session was opened in the parent process; a forked child cannot use"
                " its connection. Open a new session in the child."
            )

    def wait_ready(self, deadline: float, timeout: float) -> None:
        """Block until ``ready``; raise on a server error, a close or the deadline."""
        with self._cond:
            while True:
                # The first error while waiting is the configuration failing
                # (§3.2): the server sends no ready after it.
                if self._config_error is not None:
                    message = self._config_error.message
                    raise SaynaConfigError(
                        f"the server refused the session configuration: {message}",
                        server_message=message,
                    )
                if self.state is _State.READY:
                    return
                if self.state is not _State.CONNECTING:
                    close = self.close_event
                    if close is None:
                        raise SaynaNotConnectedError("the session was closed while connecting")
                    raise SaynaConnectionClosedError(
                        f"the connection closed before the session was ready"
                        f" ({self._describe_close(close)})",
                        code=close.code,
                        reason=close.reason,
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SaynaTimeoutError(
                        f"the server did not answer the configuration with ready"
                        f" within {timeout:g} s"
                    )
                self._cond.wait(remaining)

    @staticmethod
    def _describe_close(close: CloseEvent) -> str:
        code = "no close code" if close.code is None else f"code {close.code}"
        return f"{code}, {close.reason}" if close.reason else code

    def close(self, timeout: float = 2.0, *, raise_errors: bool = True) -> None:
        self.check_process()
        deadline = time.monotonic() + max(0.0, timeout)
        me = threading.current_thread()
        with self._cond:
            self._user_closed = True
            initiate = self.state in _OPEN_STATES
            if initiate:
                self.state = _State.CLOSING
                self._cond.notify_all()
        if initiate:
            # From now on nobody waits for consumers: close must not hang on them.
            self.log.unbound()
            _keepalive.remove(self)
            if self._reader.ident is None:
                self._finish(CloseEvent(code=1000, initiator="client"))
            else:
                sent = self._send_close(1000, b"", deadline)
                if sent and self._reader is not me:
                    self._reader.join(min(_CLOSE_HANDSHAKE_TIMEOUT, self._left(deadline)))
                if self._reader.is_alive():
                    # No answer (or no way to send): unblock the reader.
                    self._shutdown_socket()
        self._join(self._reader, deadline, me)
        dispatcher = self._dispatcher
        if dispatcher is not None:
            self._join(dispatcher, deadline, me)
            if dispatcher.is_alive() and dispatcher is not me:
                logger.debug("callbacks still running after close(); they finish on their own")
        _live.discard(self)
        if raise_errors and me is not dispatcher:
            self.raise_callback_errors()

    def abandon(self) -> None:
        """Close from ``__del__``: garbage collection may run while this very thread
        holds one of the session's locks, so take none of them blockingly."""
        self._user_closed = True
        if self.state in _OPEN_STATES:
            self.state = _State.CLOSING
        # A deadline of now: no waiting for the send lock or for a full socket.
        self._send_close(1000, b"", time.monotonic())
        # The reader sees the end of the stream and finishes the session itself.
        self._shutdown_socket()
        self.log.try_unbound()
        _live.discard(self)

    @staticmethod
    def _left(deadline: float) -> float:
        return max(0.0, deadline - time.monotonic())

    def _join(self, thread: threading.Thread, deadline: float, me: threading.Thread) -> None:
        if thread is not me and thread.ident is not None:
            thread.join(self._left(deadline))

    def raise_callback_errors(self) -> None:
        with self._errors_lock:
            errors, self._unraised = self._unraised, []
        if errors:
            first = errors[0]
            raise SaynaCallbackError(
                f"{len(errors)} callback error(s) during the session; the first:"
                f" {_describe(first)}",
                errors=errors,
            ) from first

    def unraised_count(self) -> int:
        with self._errors_lock:
            return len(self._unraised)

    # --- sending ---------------------------------------------------------------

    def send_json(self, payload: dict[str, Any]) -> None:
        try:
            text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise SaynaValidationError(f"cannot encode the message as JSON: {exc}") from None
        self.send_raw(_build_frame(_OP_TEXT, text.encode("utf-8")))

    def send_binary(self, data: bytes | bytearray | memoryview) -> None:
        self.send_raw(_build_frame(_OP_BINARY, data))

    def send_raw(self, data: bytes | bytearray) -> None:
        """Write one complete, already masked frame; frames never interleave."""
        # Framing and masking happen before the lock: only the write is serialised.
        with self._send_lock:
            if self.state not in _OPEN_STATES:
                raise self.closed_error()
            sock = self._ws.sock
            try:
                if sock is None:
                    raise OSError("the socket is closed")
                sock.sendall(data)
                return
            except OSError as exc:
                failure = exc
        if self.state not in _OPEN_STATES:
            raise self.closed_error() from failure
        # The reader finds out why (a Close frame still unread, a reset) and ends
        # the session; this call reports the loss now.
        raise SaynaConnectionClosedError(
            f"sending failed, the connection is lost: {_describe(failure)}"
        ) from failure

    def closed_error(self) -> SaynaError:
        fatal = self.fatal
        if fatal is not None:
            return _copy_error(fatal)
        close = self.close_event
        if close is not None and close.initiator == "server":
            return SaynaNotConnectedError(
                f"the server ended the session ({self._describe_close(close)})"
            )
        return SaynaNotConnectedError("the session is closed")

    def _send_close(self, code: int | None, reason: bytes, deadline: float) -> bool:
        payload = b"" if code is None else struct.pack("!H", code) + reason
        data = _build_frame(_OP_CLOSE, payload)
        wait = min(self._left(deadline), _CLOSE_HANDSHAKE_TIMEOUT)
        lock = self._send_lock
        if not (lock.acquire(timeout=wait) if wait > 0 else lock.acquire(blocking=False)):
            return False  # a send is stuck; the socket will be shut down instead
        try:
            sock = self._ws.sock
            if sock is None or self._close_sent:
                return False
            self._close_sent = True
            # A peer that stopped reading would block even this small write.
            if not _writable(sock, wait):
                return False
            sock.sendall(data)
            return True
        except (OSError, ValueError):
            return False
        finally:
            self._send_lock.release()

    def _try_send_control(self, data: bytes | bytearray) -> bool:
        # For the reader and the keep-alive thread: never wait for the send lock,
        # never block on a full socket (they must keep serving everyone else).
        if not self._send_lock.acquire(blocking=False):
            return False
        try:
            sock = self._ws.sock
            if sock is None or self.state not in _OPEN_STATES:
                return False
            if not _writable(sock, 0):
                return False
            sock.sendall(data)
            return True
        except (OSError, ValueError):
            return False
        finally:
            self._send_lock.release()

    def _shutdown_socket(self) -> None:
        sock = self._ws.sock
        if sock is not None:
            with contextlib.suppress(OSError, ValueError):
                sock.shutdown(socket.SHUT_RDWR)

    def _close_socket(self) -> None:
        self._shutdown_socket()
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
        # websocket-client did the handshake (and TLS, and the proxy); from here
        # the frames are parsed by _frames.FrameReader straight off the socket.
        # Its blocking recv_into works for plain and TLS sockets alike: the
        # socket has no timeout, and a TLS record decrypted but not yet read
        # (SSLSocket.pending()) is returned by the next read without waiting,
        # as no one selects on this socket for reading.
        pending: list[Event] = []
        extend = self.log.extend
        connecting = _State.CONNECTING
        close: CloseEvent | None = None
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
                    if pending:
                        extend(pending)
                        pending.clear()
                    fill()
                    self.last_inbound = time.monotonic()
                    continue
                for opcode, payload in messages:
                    if opcode == _OP_BINARY:
                        event: Event = decode_binary(payload)
                    elif opcode == _OP_TEXT:
                        event = decode_text(payload)
                    elif opcode == _OP_CLOSE:
                        close = self._on_close_frame(payload)
                        break
                    else:
                        if opcode == _OP_PING:
                            self._try_send_control(_build_frame(_OP_PONG, payload))
                        # A pong needs nothing more: any bytes received prove the peer alive.
                        continue
                    if self.state is connecting:
                        self._before_ready(event)
                    pending.append(event)
                    if len(pending) >= BATCH:
                        # A large read is handed over in slices, so consumers
                        # start on it while the rest is decoded.
                        extend(pending)
                        pending.clear()
        except Exception as exc:
            close = self._on_transport_end(exc)
        finally:
            if close is None:  # pragma: no cover - BaseException in the reader
                close = CloseEvent(code=None, reason="reader stopped", initiator="network")
            if pending:
                extend(pending)
            self._finish(close)

    def _before_ready(self, event: Event) -> None:
        if isinstance(event, ReadyEvent):
            with self._cond:
                if self.state is _State.CONNECTING and self._config_error is None:
                    self.ready_event = event
                    self.state = _State.READY
                    self._cond.notify_all()
                else:
                    return
            if self._ping_interval:
                _keepalive.add(self)
        elif isinstance(event, ErrorEvent) and not _is_advisory_config_error(event.message):
            with self._cond:
                if self._config_error is None:
                    self._config_error = event
                    self._cond.notify_all()

    def _on_close_frame(self, payload: bytes) -> CloseEvent:
        code: int | None = None
        reason = ""
        if len(payload) >= 2:
            code = struct.unpack("!H", payload[:2])[0]
            reason = payload[2:].decode("utf-8", "replace")
        if self._close_sent or self._user_closed:
            return CloseEvent(code=1000, initiator="client")
        # Answer the server's Close (echoing its code, as RFC 6455 suggests).
        echo = b"" if code is None else payload[:2]
        self._try_send_control(_build_frame(_OP_CLOSE, echo))
        code = 1005 if code is None else code
        error = None
        if code not in _NORMAL_CLOSE_CODES:
            message = f"the server closed the session with code {code}"
            error = SaynaConnectionClosedError(
                f"{message}: {reason}" if reason else message, code=code, reason=reason
            )
        return CloseEvent(code=code, reason=reason, initiator="server", error=error)

    def _on_transport_end(self, exc: Exception) -> CloseEvent:
        if self._abort is not None:
            return self._abort
        if self._user_closed:
            # We closed; the server dropping TCP instead of answering is normal (§3.2).
            return CloseEvent(code=1000, initiator="client")
        if isinstance(
            exc, (websocket.WebSocketProtocolException, websocket.WebSocketPayloadException)
        ):
            self._try_send_control(_build_frame(_OP_CLOSE, struct.pack("!H", 1002)))
            reason = f"protocol error: {exc}"
        else:
            reason = f"connection lost: {_describe(exc)}"
        return CloseEvent(
            code=None,
            reason=reason,
            initiator="network",
            error=SaynaConnectionClosedError(
                f"the connection to the Sayna server ended unexpectedly ({reason})",
                reason=reason,
            ),
        )

    def _finish(self, close: CloseEvent) -> None:
        with self._cond:
            self.state = _State.CLOSED
            self.close_event = close
            self.fatal = close.error
            self._cond.notify_all()
        _keepalive.remove(self)
        self._close_socket()
        self.log.append(close, force=True)
        self.log.finish()
        if close.error is not None:
            logger.warning("session %d ended: %s", self.id, close.error)

    # --- keep-alive --------------------------------------------------------------

    def keepalive_tick(self, now: float) -> float:
        interval, timeout = self._ping_interval, self._ping_timeout
        if interval is None or self.state is not _State.READY:
            return now + 1.0
        log = self.log
        if log.paused:
            # The reader is not reading (backpressure), so answers would sit
            # unread; silence proves nothing until it reads again.
            self._ping_sent_at = None
            return now + interval
        last = max(self.last_inbound, log.resumed_at)
        sent = self._ping_sent_at
        if sent is not None and last >= sent:
            self._ping_sent_at = sent = None
        if sent is None:
            if now - last < interval:
                return last + interval
            self._ping_sent_at = sent = now
            self._ping_delivered = False
        if now - sent >= timeout:
            self._abort_unanswered(timeout)
            return now + 60.0
        if not self._ping_delivered:
            # The deadline runs even if the ping cannot be written yet (a send is
            # in progress, the socket is full): a peer that reads nothing and
            # says nothing for that long is gone.
            self._ping_delivered = self._try_send_control(_build_frame(_OP_PING, b""))
            if not self._ping_delivered:
                return min(sent + timeout, now + 0.05)
        return sent + timeout

    def _abort_unanswered(self, timeout: float) -> None:
        reason = f"no answer to a ping within {timeout:g} s"
        self._abort = CloseEvent(
            code=None,
            reason=reason,
            initiator="network",
            error=SaynaConnectionClosedError(
                f"the Sayna server stopped answering ({reason}); the connection is considered lost",
                reason=reason,
            ),
        )
        self._shutdown_socket()

    # --- callbacks -----------------------------------------------------------------

    def add_handler(self, key: EventKey, fn: Callable[[Any], Any], slot: str | None) -> None:
        # Until the user first sends, the session is being set up: callbacks
        # registered then also get what arrived before them (ready included),
        # whatever order the registrations and the dispatcher run in.
        with self._handlers_lock:
            since = self.log.end if self.user_sent else 0
            handlers = self._registry[0]
            if slot is not None:
                handlers = tuple(h for h in handlers if h.slot != slot)
            self._registry = ((*handlers, _Handler(key, fn, slot, since)), {})
            if self._dispatcher is None and not self._user_closed:
                cursor = self.log.open(iterator=False, start=since)
                self._dispatcher = threading.Thread(
                    target=self._dispatch_loop,
                    args=(cursor,),
                    name=f"sayna-dispatch-{self.id}",
                    daemon=True,
                )
                self._dispatcher.start()

    def remove_handler(
        self, key: EventKey, fn: Callable[[Any], Any] | None, slot: str | None
    ) -> bool:
        with self._handlers_lock:
            handlers = list(self._registry[0])
            for index, handler in enumerate(handlers):
                if slot is not None:
                    found = handler.slot == slot
                else:
                    found = handler.slot is None and handler.key == key and handler.fn == fn
                if found:
                    del handlers[index]
                    self._registry = (tuple(handlers), {})
                    return True
            return False

    def _dispatch_loop(self, cursor: Cursor) -> None:
        log = self.log
        seen: object = None
        try:
            while True:
                got = log.fetch(cursor)
                if got is None:  # pragma: no cover - no timeout was given
                    continue
                missed, first, events = got
                if not events:
                    if missed:
                        continue
                    return
                for seq, event in enumerate(events, first):
                    registry = self._registry
                    if registry is not seen:
                        seen = registry
                        self._catch_up(registry[0], seq)
                    handlers, routes = registry
                    cls = event.__class__
                    # Handlers match on class and wire type, and the type
                    # varies within a class only for unknown messages.
                    key = (cls, event.type) if cls is UnknownEvent else cls
                    matched = routes.get(key)
                    if matched is None:
                        matched = routes[key] = tuple(h for h in handlers if h.matches(event))
                    for handler in matched:
                        if seq >= handler.since:
                            # _call, inlined: this loop runs once per event.
                            try:
                                handler.fn(event)
                            except Exception as exc:
                                self._callback_failed(handler.fn, event, exc)
                    if cls is CloseEvent:
                        return
        finally:
            log.release(cursor)

    def _catch_up(self, handlers: tuple[_Handler, ...], seq: int) -> None:
        """Deliver to newly registered handlers what they are due from before ``seq``."""
        replayed = False
        for handler in handlers:
            if handler.replayed:
                continue
            handler.replayed = replayed = True
            if handler.since < seq:
                for event in self.log.snapshot(handler.since, seq):
                    if handler.matches(event):
                        self._call(handler.fn, event)
        if replayed:
            with self._handlers_lock:
                self._end_setup_if_replayed()

    def note_user_send(self) -> None:
        """The user sends for the first time: the session's setup is over."""
        if not self.user_sent:
            with self._handlers_lock:
                self.user_sent = True
                self._end_setup_if_replayed()

    def _end_setup_if_replayed(self) -> None:
        # Callbacks registered during the setup are due every event from the
        # start (ready included), so the log keeps everything until the first
        # send and until the dispatcher has caught all of those callbacks up.
        if self.user_sent and all(handler.replayed for handler in self._registry[0]):
            self.log.stop_keeping()

    def _call(self, fn: Callable[[Any], Any], event: Event) -> None:
        try:
            fn(event)
        except Exception as exc:
            self._callback_failed(fn, event, exc)

    def _callback_failed(self, fn: Callable[..., Any], event: Event, exc: Exception) -> None:
        logger.error(
            "a callback (%s) raised while handling a %s event; the session goes on",
            _callable_name(fn),
            event.type,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        with self._errors_lock:
            self.callback_errors.append(exc)
            self._unraised.append(exc)
        # Iterators see it too; an error raised while handling such an event is
        # not turned into another event (no loops).
        if not isinstance(event, CallbackErrorEvent):
            self.log.append(CallbackErrorEvent(error=exc, event=event, callback=fn), force=True)

    # --- polling -------------------------------------------------------------------

    def poll(self, match: Callable[[Event], bool], timeout: float | None) -> Event | None:
        """The next event matching ``match``; ``None`` on timeout.

        It consumes events as an iterator does: it starts where the previous
        iterator or poll stopped, and concurrent polls from different threads
        each see every event from their start, none steals from another.
        """
        log = self.log
        cursor = log.open(iterator=True)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                got = log.fetch(cursor, wait)
                if got is None:
                    return None
                missed, first, events = got
                if missed:
                    marker = log.discarded(missed)
                    if match(marker):
                        return marker
                    continue
                if not events:
                    raise self.closed_error()
                for index, event in enumerate(events):
                    if match(event):
                        cursor.yielded = first + index + 1
                        return event
                    if event.__class__ is CloseEvent:
                        cursor.yielded = first + index + 1
                        raise self.closed_error()
                cursor.yielded = first + len(events)
        finally:
            log.release(cursor)

    def raise_if_fatal(self) -> None:
        fatal = self.fatal
        if fatal is not None:
            raise _copy_error(fatal)


class Session:
    """A live realtime session: send commands, receive events. Get one from ``Sayna.connect``.

    **Lifecycle.** :meth:`Sayna.connect` returns the session once the server has
    answered the configuration with ``ready``. It stays open until you call
    :meth:`close` (or :meth:`disconnect`, or leave its ``with`` block), the server
    ends it (it does so when any remote LiveKit participant leaves), or the
    connection is lost. Whatever ends it, the last event is a
    :class:`CloseEvent`. A closed session cannot be reopened; connect again.
    ``close()`` returns promptly from any state: it sends a Close frame, waits
    at most half a second for the server's answer (the server often drops the
    connection instead), shuts the socket down, and lets the events already
    received reach their consumers. A session garbage-collected while open
    emits a :class:`ResourceWarning`; sessions still open at interpreter exit
    are closed. A forked child cannot use its parent's session.

    **Sending.** Every method that sends is safe to call from any number of
    threads at once (frames never interleave), checks its arguments before
    anything is sent (:class:`SaynaValidationError`), and raises
    :class:`SaynaNotConnectedError` once the session is closed — or, when the
    session ended abnormally, :class:`SaynaConnectionClosedError`.

    **Receiving.** Two ways, usable together on the same session:

    - callbacks: :meth:`on` (also a decorator; several per event type; ``None``
      for every event) and the ``register_on_*`` methods. They run in arrival
      order on one dispatcher thread per session, never on the thread that
      reads the socket, so a slow callback cannot stall reading. Callbacks
      registered before the session's first send (right after ``connect()``)
      also receive what arrived before them, ``ready`` included, so nothing is
      missed; callbacks registered later receive events from then on. Keep
      callbacks short and never wait in one for a later event: while it runs,
      the other callbacks wait, and past the buffer bound so does the socket;
    - iteration: ``for event in session.events(): ...`` yields every event in
      arrival order and ends after the :class:`CloseEvent`. Several iterators may
      run at once; each sees every event from where the previous iterator
      stopped (the first one from the beginning, ``ready`` included).
      :meth:`wait_for` and :meth:`next_event` consume the same way.

    **Buffering.** Events go into one log per session, read through one cursor
    per consumer (each active iterator, a running ``wait_for``/``next_event``,
    the callback dispatcher). After the first send, an entry is released as
    soon as every active consumer has passed it and a new iterator would start
    after it. When ``max_buffered_events`` entries (default 10 000) wait
    for an active consumer, the session stops reading the socket until that
    consumer catches up; the server then waits too (TCP backpressure), so an
    active consumer never loses an event. Without an active iterator, the log
    keeps only the newest ``max_buffered_events`` events (older ones are dropped
    in slices of 1/64 of that), holding at most ``max_buffered_audio_bytes`` of
    TTS audio among those no active consumer still needs, for iterators opened
    later; the first iterator
    opened after older ones were dropped receives an
    :class:`EventsDiscardedEvent` with their count (and a warning is logged). A
    session consumed only through callbacks therefore uses bounded memory.

    **Errors.** A server ``error`` message is an :class:`ErrorEvent`; the session
    goes on. An undecodable frame is a :class:`MalformedEvent` and an unknown
    type an :class:`UnknownEvent`, both with the raw data. An exception raised
    by a callback is logged (logger ``sayna``, with traceback), does not stop
    the session or the other callbacks, reaches iterators as a
    :class:`CallbackErrorEvent`, is kept in :attr:`callback_errors`, and is
    raised again by :meth:`close` as :class:`SaynaCallbackError` (each error
    once; not when ``close()`` runs from a callback, nor when the ``with`` block
    is left by another exception — then they are only logged). A session that
    ends abnormally (connection lost, server close with an error code,
    unanswered ping) raises :class:`SaynaConnectionClosedError`, with code and
    reason, from ``events()`` after its close event, from :meth:`wait_for`,
    :meth:`next_event`, and from the next send. A normal end by the server
    raises nothing from ``events()``.
    """

    __slots__ = ("__weakref__", "_core")

    def __init__(self, core: _Core) -> None:
        self._core = core

    # --- lifecycle -------------------------------------------------------------

    def close(self, timeout: float = 2.0) -> None:
        """End the session (idempotent); raise :class:`SaynaCallbackError` if callbacks failed."""
        self._core.close(timeout)

    def disconnect(self) -> None:
        """Alias of :meth:`close`, the official SDK's name."""
        self._core.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        core = self._core
        if exc_type is None:
            core.close()
            return
        core.close(raise_errors=False)
        count = core.unraised_count()
        if count:
            logger.error(
                "%d callback error(s) not raised from close(): another exception is"
                " propagating (see the errors logged above and Session.callback_errors)",
                count,
            )

    def __del__(self) -> None:
        core = getattr(self, "_core", None)
        if core is None or core.fork_generation != _fork_generation:
            return
        if core.state in _OPEN_STATES:
            warnings.warn(
                f"unclosed {self!r}; use 'with client.connect(...)' or call close()",
                ResourceWarning,
                source=self,
                stacklevel=2,
            )
            core.abandon()

    def __repr__(self) -> str:
        core = self._core
        ready = core.ready_event
        stream = f" stream_id={ready.stream_id!r}" if ready is not None else ""
        return f"<sayna.Session{stream} {core.state.value}>"

    # --- state -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the WebSocket is open."""
        return self._core.state in _OPEN_STATES

    @property
    def ready(self) -> bool:
        """True while the session is open and configured."""
        return self._core.state is _State.READY

    @property
    def without_audio(self) -> bool:
        """True when the session was opened with ``without_audio=True``."""
        return self._core.without_audio

    def _ready_field(self, name: str) -> str | None:
        ready = self._core.ready_event
        value = None if ready is None else getattr(ready, name)
        return value if isinstance(value, str) else None

    @property
    def ready_event(self) -> ReadyEvent | None:
        """The server's ``ready`` message."""
        return self._core.ready_event

    @property
    def received_stream_id(self) -> str | None:
        """The session id from ``ready`` (yours, or a UUID the server chose)."""
        return self._ready_field("stream_id")

    @property
    def stream_id(self) -> str | None:
        """Alias of :attr:`received_stream_id`."""
        return self._ready_field("stream_id")

    @property
    def livekit_room_name(self) -> str | None:
        """The LiveKit room of the session (LiveKit sessions only)."""
        return self._ready_field("livekit_room_name")

    @property
    def livekit_url(self) -> str | None:
        """The server's LiveKit URL."""
        return self._ready_field("livekit_url")

    @property
    def sayna_participant_identity(self) -> str | None:
        """The agent's identity in the room (LiveKit sessions only)."""
        return self._ready_field("sayna_participant_identity")

    @property
    def sayna_participant_name(self) -> str | None:
        """The agent's display name in the room (LiveKit sessions only)."""
        return self._ready_field("sayna_participant_name")

    @property
    def close_event(self) -> CloseEvent | None:
        """How the session ended, once it has."""
        return self._core.close_event

    @property
    def callback_errors(self) -> list[BaseException]:
        """Every exception raised by a callback so far, in order."""
        core = self._core
        with core._errors_lock:
            return list(core.callback_errors)

    # --- sending ---------------------------------------------------------------

    def _send(self, payload: dict[str, Any]) -> None:
        core = self._core
        core.check_process()
        core.note_user_send()
        core.send_json(payload)

    def _refuse_without_audio(self, what: str) -> None:
        if self._core.without_audio:
            raise SaynaValidationError(
                f"{what} needs audio, and this session was opened with without_audio=True",
                field="without_audio",
            )

    def speak(self, text: str, flush: bool = True, allow_interruption: bool = True) -> None:
        """Queue ``text`` for synthesis; audio arrives as :class:`TTSAudioEvent` frames."""
        require_text(text, "text")
        require_bool(flush, "flush")
        require_bool(allow_interruption, "allow_interruption")
        self._refuse_without_audio("speak()")
        self._send(
            {
                "type": "speak",
                "text": text,
                "flush": flush,
                "allow_interruption": allow_interruption,
            }
        )

    def tts_flush(self, allow_interruption: bool = True) -> None:
        """Send an empty ``speak`` (the official SDK's flush; a no-op on the server)."""
        require_bool(allow_interruption, "allow_interruption")
        self._refuse_without_audio("tts_flush()")
        self._send(
            {"type": "speak", "text": "", "flush": True, "allow_interruption": allow_interruption}
        )

    def clear(self) -> None:
        """Cancel queued and ongoing synthesis."""
        self._send({"type": "clear"})

    def send_message(
        self, message: str, role: str, topic: str = "messages", debug: Any = None
    ) -> None:
        """Publish a data packet to the LiveKit room; ``debug`` is any JSON value."""
        require_text(message, "message")
        require_text(role, "role")
        require_text(topic, "topic")
        payload: dict[str, Any] = {
            "type": "send_message",
            "message": message,
            "role": role,
            "topic": topic,
        }
        if debug is not None:
            try:
                json.dumps(debug, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise SaynaValidationError(
                    f"debug must be JSON-serializable: {exc}", field="debug"
                ) from None
            payload["debug"] = debug
        self._send(payload)

    def sip_transfer(self, transfer_to: str) -> None:
        """Transfer the room's SIP caller to a phone number (digits, optional leading +)."""
        number = normalize_phone_number(transfer_to, "transfer_to")
        self._send({"type": "sip_transfer", "transfer_to": number})

    def update_config(
        self,
        vad: VADConfigUpdate | None = None,
        turn_detect: TurnDetectConfigUpdate | None = None,
    ) -> None:
        """Tune voice activity / turn detection at runtime (give at least one)."""
        if vad is None and turn_detect is None:
            raise SaynaValidationError("update_config() needs vad or turn_detect", field="vad")
        payload: dict[str, Any] = {"type": "update_config"}
        if vad is not None:
            if not isinstance(vad, VADConfigUpdate):
                raise SaynaValidationError(
                    f"vad must be a VADConfigUpdate, not {type(vad).__name__}", field="vad"
                )
            payload["vad"] = to_wire(vad)
        if turn_detect is not None:
            if not isinstance(turn_detect, TurnDetectConfigUpdate):
                raise SaynaValidationError(
                    "turn_detect must be a TurnDetectConfigUpdate,"
                    f" not {type(turn_detect).__name__}",
                    field="turn_detect",
                )
            payload["turn_detect"] = to_wire(turn_detect)
        self._send(payload)

    def loading_start(self) -> None:
        """Start looping the configured loading clip into the LiveKit room."""
        self._refuse_without_audio("loading_start()")
        if not self._core.livekit:
            raise SaynaValidationError(
                "loading_start() needs a LiveKit room: connect with livekit_config",
                field="livekit_config",
            )
        self._send({"type": "loading_start"})

    def loading_stop(self) -> None:
        """Stop the loading clip (never answered, in any state)."""
        self._send({"type": "loading_stop"})

    def on_audio_input(self, audio: bytes | bytearray | memoryview) -> None:
        """Send raw audio for speech-to-text, in the format of the ``stt_config``."""
        given: object = audio
        if isinstance(given, bytes):
            data = given
        elif isinstance(given, str):
            raise SaynaValidationError("audio must be bytes-like, not str", field="audio")
        else:
            try:
                data = bytes(memoryview(given))  # type: ignore[arg-type]
            except TypeError:
                raise SaynaValidationError(
                    f"audio must be bytes-like, not {type(audio).__name__}", field="audio"
                ) from None
        if not data:
            raise SaynaValidationError("audio must not be empty", field="audio")
        self._refuse_without_audio("audio")
        core = self._core
        core.check_process()
        core.note_user_send()
        core.send_binary(data)

    send_audio = on_audio_input

    # --- callbacks ---------------------------------------------------------------

    def on(self, event_type: EventKey, handler: H | None = None) -> Any:
        """Call ``handler(event)`` for every event of ``event_type``.

        ``event_type`` is an event class (subclasses match), a wire type string
        (``"stt_result"``, or a type this client does not know), or ``None`` for
        every event. Without ``handler`` it returns a decorator. Several
        handlers per type run in registration order. Handlers registered before
        the first send also receive the earlier events (``ready`` included).
        """
        self._core.check_process()
        _check_key(event_type)

        def register(fn: H) -> H:
            if not callable(fn):
                raise SaynaValidationError("the handler must be callable", field="handler")
            self._core.add_handler(event_type, fn, None)
            return fn

        return register if handler is None else register(handler)

    def on_any(self, handler: H) -> H:
        """Call ``handler(event)`` for every event."""
        return self.on(None, handler)  # type: ignore[no-any-return]

    def off(self, event_type: EventKey, handler: Callable[..., Any]) -> bool:
        """Remove one registration made with :meth:`on`; False if there was none."""
        self._core.check_process()
        return self._core.remove_handler(event_type, handler, None)

    def _register_slot(
        self, slot: str, key: type[Event], callback: Callable[[Any], Any] | None
    ) -> None:
        # The official SDK keeps one callback per register_on_* name: registering
        # again replaces it, None removes it.
        core = self._core
        core.check_process()
        if callback is None:
            core.remove_handler(key, None, slot)
            return
        if not callable(callback):
            raise SaynaValidationError("the callback must be callable", field="callback")
        core.add_handler(key, callback, slot)

    def register_on_ready(self, callback: Callable[[ReadyEvent], Any] | None) -> None:
        """Set the one ``ready`` callback (replaces the previous one)."""
        self._register_slot("ready", ReadyEvent, callback)

    def register_on_stt_result(self, callback: Callable[[STTResultEvent], Any] | None) -> None:
        """Set the one transcript callback (replaces the previous one)."""
        self._register_slot("stt_result", STTResultEvent, callback)

    def register_on_tts_audio(self, callback: Callable[[bytes], Any] | None) -> None:
        """Set the one TTS audio callback; it receives the chunk's ``bytes``."""
        if callback is None or not callable(callback):
            self._register_slot("tts_audio", TTSAudioEvent, callback)
            return
        audio_callback = callback

        def deliver(event: TTSAudioEvent) -> None:
            audio_callback(event.data)

        deliver.__qualname__ = _callable_name(callback)
        self._register_slot("tts_audio", TTSAudioEvent, deliver)

    def register_on_error(self, callback: Callable[[ErrorEvent], Any] | None) -> None:
        """Set the one server ``error`` callback (replaces the previous one)."""
        self._register_slot("error", ErrorEvent, callback)

    def register_on_message(self, callback: Callable[[MessageEvent], Any] | None) -> None:
        """Set the one data-packet callback (replaces the previous one)."""
        self._register_slot("message", MessageEvent, callback)

    def register_on_participant_connected(
        self, callback: Callable[[ParticipantConnectedEvent], Any] | None
    ) -> None:
        """Set the one participant-joined callback (replaces the previous one)."""
        self._register_slot("participant_connected", ParticipantConnectedEvent, callback)

    def register_on_participant_disconnected(
        self, callback: Callable[[ParticipantDisconnectedEvent], Any] | None
    ) -> None:
        """Set the one participant-left callback (replaces the previous one)."""
        self._register_slot("participant_disconnected", ParticipantDisconnectedEvent, callback)

    def register_on_track_subscribed(
        self, callback: Callable[[TrackSubscribedEvent], Any] | None
    ) -> None:
        """Set the one track-subscribed callback (replaces the previous one)."""
        self._register_slot("track_subscribed", TrackSubscribedEvent, callback)

    def register_on_tts_playback_complete(
        self, callback: Callable[[TTSPlaybackCompleteEvent], Any] | None
    ) -> None:
        """Set the one playback-complete callback (replaces the previous one)."""
        self._register_slot("tts_playback_complete", TTSPlaybackCompleteEvent, callback)

    def register_on_sip_transfer_error(
        self, callback: Callable[[SIPTransferErrorEvent], Any] | None
    ) -> None:
        """Set the one SIP-transfer-error callback (replaces the previous one)."""
        self._register_slot("sip_transfer_error", SIPTransferErrorEvent, callback)

    # --- consuming ---------------------------------------------------------------

    def events(self, timeout: float | None = None) -> EventIterator:
        """Iterate over every event in arrival order; ends after the close event.

        ``timeout`` bounds the wait for each event (:class:`SaynaTimeoutError`,
        the iterator stays usable). Raises the session's
        :class:`SaynaConnectionClosedError` after the close event of an abnormal
        end. Close the iterator (or let it go) when you stop early.
        """
        core = self._core
        core.check_process()
        return EventIterator(core.log, core.raise_if_fatal, timeout)

    def __iter__(self) -> EventIterator:
        return self.events()

    def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event for this thread, or ``None`` if ``timeout`` passes first.

        After the close event has been returned, raises like a send would.
        """
        core = self._core
        core.check_process()
        return core.poll(lambda event: True, timeout)

    def wait_for(self, event: EventMatch, timeout: float | None = None) -> Event:
        """Skip events until one matches; return it.

        ``event`` is an event class, a wire type string, a tuple of those, or a
        predicate. Raises :class:`SaynaTimeoutError` after ``timeout`` seconds,
        and the session's closing error if it ends first.
        """
        core = self._core
        core.check_process()
        match = _matcher(event)
        found = core.poll(match, timeout)
        if found is None:
            raise SaynaTimeoutError(f"no matching event within {timeout:g} s")
        return found

    # --- conveniences (sayna._conveniences) ------------------------------------------

    @property
    def stt_config(self) -> STTConfig | None:
        """The speech-to-text settings of this session (``None`` without audio)."""
        return self._core.stt_config

    @property
    def tts_config(self) -> TTSConfig | None:
        """The text-to-speech settings of this session (``None`` without audio)."""
        return self._core.tts_config

    def say(self, text: str, *, timeout: float = 30.0) -> AudioResult:
        """Speak ``text``; block until the TTS queue drains; return the audio.

        The audio is everything received until the next ``tts_playback_complete``,
        which means "the queue drained": call it only when nothing else is being
        spoken. Blank text is refused; ``.save("x.wav")`` writes a playable file.
        """
        return _conveniences.say(self, text, timeout=timeout)

    def stream_audio(
        self,
        audio: _conveniences.AudioSource,
        *,
        realtime: bool = True,
        speed: float = 1.0,
        chunk_ms: int = 100,
        progress: _conveniences.ProgressCallback | None = None,
    ) -> int:
        """Send a WAV file, PCM bytes or chunks for speech-to-text; return bytes sent.

        WAV files are checked against :attr:`stt_config` first; ``realtime``
        paces frames like a microphone; ``progress(sent, total)`` follows along.
        """
        return _conveniences.stream_audio(
            self, audio, realtime=realtime, speed=speed, chunk_ms=chunk_ms, progress=progress
        )

    def transcribe(
        self,
        audio: _conveniences.AudioSource,
        *,
        timeout: float = 30.0,
        realtime: bool = True,
        speed: float = 1.0,
        chunk_ms: int = 100,
        progress: _conveniences.ProgressCallback | None = None,
    ) -> str:
        """Stream ``audio`` (as :meth:`stream_audio`) and return its final transcript.

        Final results up to the end-of-turn marker that follows the last frame;
        ``timeout`` bounds the wait after the last frame.
        """
        return _conveniences.transcribe(
            self,
            audio,
            timeout=timeout,
            realtime=realtime,
            speed=speed,
            chunk_ms=chunk_ms,
            progress=progress,
        )


def _validated(value: Any, cls: type, field: str) -> None:
    if value is not None and not isinstance(value, cls):
        raise SaynaValidationError(
            f"{field} must be a {cls.__name__}, not {type(value).__name__}", field=field
        )


def _require_positive_int(value: object, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SaynaValidationError(f"{field} must be a positive integer", field=field)


def _is_advisory_config_error(message: str) -> bool:
    """Whether a pre-``ready`` error is one the server sends without failing the config.

    The loading clip is checked while configuring, but a bad clip only disables
    the loading indicator (PROTOCOL.md §4.2 steps 3 and 6, §4.3.5): the server
    goes on to ``ready``, so these must not fail ``connect()``.
    """
    return "loading_audio" in message or "loading audio" in message.lower()


def connect(
    client: Sayna,
    stt_config: STTConfig | None = None,
    tts_config: TTSConfig | None = None,
    livekit_config: LiveKitConfig | None = None,
    without_audio: bool = False,
    stream_id: str | None = None,
    loading_audio: LoadingAudioConfig | None = None,
    *,
    timeout: float = 60.0,
    max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS,
    max_buffered_audio_bytes: int = DEFAULT_MAX_AUDIO_BYTES,
) -> Session:
    """Open a realtime session and return it once the server is ready.

    See :meth:`Sayna.connect` for the whole story.
    """
    require_bool(without_audio, "without_audio")
    _validated(stt_config, STTConfig, "stt_config")
    _validated(tts_config, TTSConfig, "tts_config")
    _validated(livekit_config, LiveKitConfig, "livekit_config")
    _validated(loading_audio, LoadingAudioConfig, "loading_audio")
    if not without_audio:
        if stt_config is None:
            raise SaynaValidationError(
                "stt_config is required unless without_audio=True", field="stt_config"
            )
        if tts_config is None:
            raise SaynaValidationError(
                "tts_config is required unless without_audio=True", field="tts_config"
            )
    if loading_audio is not None and (without_audio or livekit_config is None):
        raise SaynaValidationError(
            "loading_audio needs audio and a livekit_config (the server ignores it otherwise)",
            field="loading_audio",
        )
    if stream_id is not None and not isinstance(stream_id, str):
        raise SaynaValidationError("stream_id must be a string", field="stream_id")
    require_positive_seconds(timeout, "timeout")
    _require_positive_int(max_buffered_events, "max_buffered_events")
    _require_positive_int(max_buffered_audio_bytes, "max_buffered_audio_bytes")
    client._ensure_open()

    config: dict[str, Any] = {"type": "config", "audio": not without_audio}
    if stream_id is not None:
        config["stream_id"] = stream_id
    if stt_config is not None:
        config["stt_config"] = to_wire(stt_config)
    if tts_config is not None:
        config["tts_config"] = to_wire(tts_config)
    if livekit_config is not None:
        config["livekit"] = to_wire(livekit_config)
    if loading_audio is not None:
        config["loading_audio"] = to_wire(loading_audio)

    deadline = time.monotonic() + timeout
    headers = [f"User-Agent: {client._user_agent}"]
    if client._api_key:
        headers.append(f"Authorization: Bearer {client._api_key}")
    plan = network_plan(client._http, client._ws_url)
    # One deadline for all of connect: TCP, proxy, TLS, upgrade and ready.
    ws = open_websocket(
        client._ws_url,
        plan=plan,
        headers=headers,
        timeout=min(timeout, client._timeout),
        deadline=deadline,
    )
    core = _Core(
        ws,
        without_audio=without_audio,
        livekit=livekit_config is not None,
        max_buffered_events=max_buffered_events,
        max_buffered_audio_bytes=max_buffered_audio_bytes,
        ping_interval=client._ping_interval,
        ping_timeout=client._ping_timeout,
    )
    if not without_audio:
        core.stt_config, core.tts_config = stt_config, tts_config
    session = Session(core)
    # Registered before ready, so that closing the client also aborts a connect
    # still waiting in another thread.
    client._sessions.add(session)
    try:
        core.start()
        core.send_json(config)
        core.wait_ready(deadline, timeout)
    except BaseException:
        core.close(_CLOSE_HANDSHAKE_TIMEOUT, raise_errors=False)
        client._sessions.discard(session)
        raise
    return session


def _close_all_at_exit() -> None:
    for core in list(_live):
        if core.fork_generation == _fork_generation and core.state in _OPEN_STATES:
            try:
                core.close(0.0, raise_errors=False)
            except Exception:  # pragma: no cover - exit must go on
                logger.debug("closing a session at exit failed", exc_info=True)


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
