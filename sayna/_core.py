"""A session minus its public face: state, event log, connection, dispatcher.

Three kinds of threads touch a session: the connection's reader (one per
connection, owns the receiving side of the socket), the dispatcher (one per
session, started with the first callback, runs user callbacks) and the
process-wide keep-alive thread (see :mod:`sayna._keepalive`). User threads
send and consume. The threads hold the :class:`SessionCore`, never the public
:class:`~sayna.Session`, so an abandoned session can be garbage-collected (and
warned about).

A session belongs to the process that opened it: :meth:`SessionCore.in_this_process`
is the one fork check, used by every public method, the finalizer and the
exit hook.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from sayna._connection import Connection
from sayna._dispatch import Dispatcher
from sayna._errors import (
    SaynaConfigError,
    SaynaConnectionClosedError,
    SaynaError,
    SaynaNotConnectedError,
    SaynaTimeoutError,
)
from sayna._eventlog import EventLog
from sayna._events import CloseEvent, ErrorEvent, Event, ReadyEvent
from sayna._models import STTConfig, TTSConfig
from sayna._wsprotocol import OPEN_STATES, State, client_close, describe_close

__all__ = ["SessionCore", "close_all_at_exit"]

logger = logging.getLogger("sayna")

_ids = itertools.count(1)
# Bumped in a forked child: a session belongs to the process that opened it.
_fork_generation = 0
# Live sessions, closed at interpreter exit. Weak: a collected session is gone.
_live: weakref.WeakSet[SessionCore] = weakref.WeakSet()


def _copy_error(error: SaynaConnectionClosedError) -> SaynaConnectionClosedError:
    # Each raise gets a fresh instance: re-raising one object from several
    # threads would tangle their tracebacks.
    return SaynaConnectionClosedError(error.message, code=error.code, reason=error.reason)


def is_advisory_config_error(message: str) -> bool:
    """Whether a pre-``ready`` error is one the server sends without failing the config.

    The loading clip is checked while configuring, but a bad clip only disables
    the loading indicator (PROTOCOL.md §4.2 steps 3 and 6, §4.3.5): the server
    goes on to ``ready``, so these must not fail ``connect()``.
    """
    return "loading_audio" in message or "loading audio" in message.lower()


class SessionCore:
    """Everything a session is, minus the public face (see :class:`~sayna.Session`)."""

    def __init__(
        self,
        *,
        without_audio: bool,
        livekit: bool,
        max_buffered_events: int,
        max_buffered_audio_bytes: int,
    ) -> None:
        self.id = next(_ids)
        self._fork_generation = _fork_generation
        self.without_audio = without_audio
        self.livekit = livekit
        # Kept for the conveniences: the audio format to check and to describe.
        self.stt_config: STTConfig | None = None
        self.tts_config: TTSConfig | None = None
        self.log = EventLog(max_buffered_events, max_buffered_audio_bytes)
        self.dispatcher = Dispatcher(self.log, self.id)
        self._cond = threading.Condition(threading.Lock())
        self.state = State.CONNECTING
        self.ready_event: ReadyEvent | None = None
        self._config_error: ErrorEvent | None = None
        self.close_event: CloseEvent | None = None
        self.fatal: SaynaConnectionClosedError | None = None
        self._user_closed = False
        self.connection: Connection | None = None
        _live.add(self)

    # --- the process ------------------------------------------------------------

    @property
    def in_this_process(self) -> bool:
        """False in a forked child: the connection belongs to the parent."""
        return self._fork_generation == _fork_generation

    def check_process(self) -> None:
        if not self.in_this_process:
            raise SaynaNotConnectedError(
                "this session was opened in the parent process; a forked child cannot use"
                " its connection. Open a new session in the child."
            )

    # --- connecting --------------------------------------------------------------

    def attach(self, ws: Any, *, ping_interval: float | None, ping_timeout: float) -> Connection:
        """Serve the session over ``ws`` (an upgraded WebSocket) from now on."""
        connection = Connection(
            ws,
            self,
            name=f"sayna-reader-{self.id}",
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
        )
        self.connection = connection
        return connection

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
                if self.state is State.READY:
                    return
                if self.state is not State.CONNECTING:
                    close = self.close_event
                    if close is None:
                        raise SaynaNotConnectedError("the session was closed while connecting")
                    raise SaynaConnectionClosedError(
                        f"the connection closed before the session was ready"
                        f" ({describe_close(close)})",
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

    def before_ready(self, event: Event) -> None:
        """Called by the reader for each event until ``ready``."""
        if isinstance(event, ReadyEvent):
            with self._cond:
                if self.state is State.CONNECTING and self._config_error is None:
                    self.ready_event = event
                    self.state = State.READY
                    self._cond.notify_all()
                else:
                    return
            connection = self.connection
            if connection is not None:
                connection.start_keepalive()
        elif isinstance(event, ErrorEvent) and not is_advisory_config_error(event.message):
            with self._cond:
                if self._config_error is None:
                    self._config_error = event
                    self._cond.notify_all()

    # --- the end -----------------------------------------------------------------

    def connection_ended(self, connection: Connection, close: CloseEvent) -> None:
        """The connection's reader stopped: the session ends with it."""
        self._finish(connection, close)

    def _finish(self, connection: Connection | None, close: CloseEvent) -> None:
        with self._cond:
            self.state = State.CLOSED
            self.close_event = close
            self.fatal = close.error
            self._cond.notify_all()
        if connection is not None:
            connection.release()
        self.log.append(close, force=True)
        self.log.finish()
        if close.error is not None:
            logger.warning("session %d ended: %s", self.id, close.error)

    def close(self, timeout: float = 2.0, *, raise_errors: bool = True) -> None:
        self.check_process()
        deadline = time.monotonic() + max(0.0, timeout)
        me = threading.current_thread()
        with self._cond:
            self._user_closed = True
            initiate = self.state in OPEN_STATES
            if initiate:
                self.state = State.CLOSING
                self._cond.notify_all()
        self.dispatcher.stop_starting()
        connection = self.connection
        if initiate:
            # From now on nobody waits for consumers: close must not hang on them.
            self.log.unbound()
            if connection is None:
                self._finish(None, client_close())
            else:
                connection.close(deadline)
        if connection is not None:
            connection.join(deadline)
        dispatcher = self.dispatcher.thread
        if dispatcher is not None:
            if dispatcher is not me and dispatcher.ident is not None:
                dispatcher.join(max(0.0, deadline - time.monotonic()))
            if dispatcher.is_alive() and dispatcher is not me:
                logger.debug("callbacks still running after close(); they finish on their own")
        _live.discard(self)
        if raise_errors and me is not dispatcher:
            self.dispatcher.raise_errors()

    def abandon(self) -> None:
        """Close from ``__del__``: garbage collection may run while this very thread
        holds one of the session's locks, so take none of them blockingly."""
        self._user_closed = True
        self.dispatcher.stop_starting()
        if self.state in OPEN_STATES:
            self.state = State.CLOSING
        connection = self.connection
        if connection is not None:
            connection.abandon()
        self.log.try_unbound()
        _live.discard(self)

    def closed_error(self) -> SaynaError:
        fatal = self.fatal
        if fatal is not None:
            return _copy_error(fatal)
        close = self.close_event
        if close is not None and close.initiator == "server":
            return SaynaNotConnectedError(f"the server ended the session ({describe_close(close)})")
        return SaynaNotConnectedError("the session is closed")

    def raise_if_fatal(self) -> None:
        fatal = self.fatal
        if fatal is not None:
            raise _copy_error(fatal)

    # --- sending -------------------------------------------------------------------

    def send_json(self, payload: dict[str, Any]) -> None:
        """A user's command: ends the setup (see the dispatcher), then goes out."""
        if not self.dispatcher.user_sent:
            self.dispatcher.note_user_send()
        self._current().send_json(payload)

    def send_binary(self, data: bytes | bytearray | memoryview) -> None:
        """User audio: ends the setup, then goes out."""
        if not self.dispatcher.user_sent:
            self.dispatcher.note_user_send()
        self._current().send_binary(data)

    def _current(self) -> Connection:
        connection = self.connection
        if connection is None:
            raise self.closed_error()
        return connection

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


def close_all_at_exit() -> None:
    """Close every session of this process still open (registered with atexit)."""
    for core in list(_live):
        if core.in_this_process and core.state in OPEN_STATES:
            try:
                core.close(0.0, raise_errors=False)
            except Exception:  # pragma: no cover - exit must go on
                logger.debug("closing a session at exit failed", exc_info=True)


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


atexit.register(close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
