"""A session's states and transitions: connect, ready, drop, reconnect, close.

The core owns the state machine (:class:`State`) and the one condition that
guards it; everything else is a part it holds: the event log (consumers,
polling), the dispatcher (callbacks), the counters (stats), the current
connection (socket, reader thread) and the reconnect policy (a value). It is
built whole by :func:`sayna._realtime.connect.connect`. The recovery
transitions (a connection ends; the reconnect attempts) are functions over the
core in :mod:`sayna._realtime.recovery`, which the core calls into.

Three kinds of threads touch a session: the connection's reader (one per
connection, owns the receiving side of the socket), the dispatcher (one per
session, started with the first callback, runs user callbacks) and the
process-wide keep-alive thread (see :mod:`sayna._realtime.keepalive`). User threads
send and consume. The threads hold the :class:`SessionCore`, never the public
:class:`~sayna.Session`, so an abandoned session can be garbage-collected (and
warned about).

A session belongs to the process that opened it: :meth:`SessionCore.in_this_process`
is the one fork check, used by every public method, the finalizer and the
exit hook.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any

from sayna import _telemetry as telemetry
from sayna._errors import (
    SaynaConfigError,
    SaynaConnectionClosedError,
    SaynaError,
    SaynaNotConnectedError,
    SaynaTimeoutError,
)
from sayna._events import (
    CloseEvent,
    ErrorEvent,
    Event,
    ReadyEvent,
)
from sayna._forksafe import fork_generation
from sayna._models import STTConfig, TTSConfig
from sayna._realtime import recovery, registry, sending
from sayna._realtime.bargein import BargeIn, BargeInGuard
from sayna._realtime.connection import (
    Connection,
)
from sayna._realtime.dispatch import Dispatcher
from sayna._realtime.eventlog import EventLog
from sayna._realtime.hearing import Hearing
from sayna._realtime.opening import RealtimeSettings
from sayna._realtime.protocol import client_close, describe_close
from sayna._realtime.reconnect import (
    ReconnectPolicy,
    is_advisory_config_error,
)
from sayna._realtime.registry import close_all_at_exit
from sayna._realtime.states import LIVE_STATES, OPEN_STATES, State
from sayna._realtime.stats import Counters, SessionStats, SpeechTracker

__all__ = ["LIVE_STATES", "OPEN_STATES", "SessionCore", "State", "close_all_at_exit"]

logger = logging.getLogger("sayna")


_ids = itertools.count(1)

# Once close() has shut the socket down, the reader stops at its next read and
# records the end; close() waits this long past its own timeout for that, so
# that the session has ended (close_event set, every event in the log) when it
# returns. The reader never blocks once the log is unbound: this is only time
# for a loaded machine to schedule it.
READER_STOP_GRACE = 0.5


def _copy_error(error: SaynaConnectionClosedError) -> SaynaConnectionClosedError:
    # Each raise gets a fresh instance: re-raising one object from several
    # threads would tangle their tracebacks.
    return SaynaConnectionClosedError(error.message, code=error.code, reason=error.reason)


class SessionCore:
    """Everything a session is, minus the public face (see :class:`~sayna.Session`)."""

    def __init__(
        self,
        *,
        settings: RealtimeSettings,
        config: dict[str, Any],
        connect_timeout: float,
        policy: ReconnectPolicy | None,
        stt_config: STTConfig | None,
        tts_config: TTSConfig | None,
        livekit: bool,
        max_buffered_events: int,
        max_buffered_audio_bytes: int,
        barge_in: BargeIn | None = None,
    ) -> None:
        self.id = next(_ids)
        # A session belongs to the process that opened it.
        self._fork_generation = fork_generation()
        self.without_audio = not config["audio"]
        self.livekit = livekit
        # Kept for the conveniences: the audio format to check and to describe.
        self.stt_config = None if self.without_audio else stt_config
        self.tts_config = None if self.without_audio else tts_config
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
        self.speech = SpeechTracker(self.id)
        self.hearing = Hearing()
        #: Barge-in (connect(barge_in=...)), applied by the reader; None when off.
        self.barge_in = None if barge_in is None else BargeInGuard(barge_in)
        self.counters = Counters()
        # What a reconnect needs to open the same session again (the config
        # gains the first ready's stream id).
        self.settings = settings
        self.config = config
        self.connect_timeout = connect_timeout
        self.policy = policy  # None: a drop ends the session
        self._reconnector: threading.Thread | None = None
        self._lost_speech: tuple[str, ...] = ()
        self._dropped_audio = 0
        self._attempt_failure: str | None = None
        self._attempt = 0
        # When the current connection's ready came: a drop sooner than
        # STABLE_AFTER later goes on counting attempts instead of starting over.
        self._ready_at = 0.0
        # The socket of an attempt still upgrading: close() shuts it down.
        self._opening: Any = None
        # connect() is still waiting: it reports a failure itself (no WARNING).
        self._connect_waiting = True
        # The thread inside close(): another close() only waits for it; one
        # left by an interruption (Ctrl-C) is finished by the next close().
        self._closer: threading.Thread | None = None
        registry.register(self)

    @property
    def is_ready(self) -> bool:
        return self.state is State.READY

    @property
    def is_reconnecting(self) -> bool:
        return self.state is State.RECONNECTING

    @property
    def is_live(self) -> bool:
        """Connecting, ready or reconnecting: not closing nor closed."""
        return self.state in LIVE_STATES

    # --- the process ------------------------------------------------------------

    @property
    def in_this_process(self) -> bool:
        """False in a forked child: the connection belongs to the parent."""
        return self._fork_generation == fork_generation()

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
        try:
            self._wait_ready(deadline, timeout)
        finally:
            self._connect_waiting = False

    def _wait_ready(self, deadline: float, timeout: float) -> None:
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
                # Ready came, even if the connection is already being
                # replaced: the session is the caller's (issue 22, item 5).
                if self.state in (State.READY, State.RECONNECTING):
                    return
                if self.state is not State.CONNECTING:
                    close = self.close_event
                    # Closed by us (Session.close, Sayna.close) whether or not
                    # the close sequence has finished by the time this wakes.
                    if close is None or close.initiator == "client":
                        raise SaynaNotConnectedError("the session was closed while connecting")
                    when = "right after" if self.ready_event is not None else "before"
                    raise SaynaConnectionClosedError(
                        f"the connection closed {when} the session was ready"
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

    def before_ready(self, connection: Connection, event: Event) -> bool:
        """Called by a connection's reader for each event until its ``ready``.

        Returns whether the event goes into the log: on the first connection
        everything does; on a reconnect, the handshake's own events stay out
        and ``ready`` becomes a :class:`ReconnectedEvent`.
        """
        if self.state is State.RECONNECTING:
            recovery.ready_again(self, connection, event)
            return False
        if isinstance(event, ReadyEvent):
            with self._cond:
                if self.state is State.CONNECTING and self._config_error is None:
                    self.ready_event = event
                    self.state = State.READY
                    self._ready_at = time.monotonic()
                    connection.awaiting_ready = False
                    if "stream_id" not in self.config:
                        # A reconnect resumes this stream, not a new one the server picks.
                        self.config["stream_id"] = event.stream_id
                    self._cond.notify_all()
                else:
                    return True
            connection.start_keepalive()
        elif isinstance(event, ErrorEvent) and not is_advisory_config_error(event.message):
            with self._cond:
                if self._config_error is None:
                    self._config_error = event
                    self._cond.notify_all()
        return True

    # --- the end -----------------------------------------------------------------

    def connection_ended(self, connection: Connection, close: CloseEvent) -> None:
        """A connection's reader stopped: the session ends with it, or reconnects."""
        recovery.connection_ended(self, connection, close)

    def _retire(self, connection: Connection) -> None:
        """Release a connection that is over and keep its counters."""
        connection.release()
        with self._cond:
            if connection.counted:
                return
            connection.counted = True
            self.counters.retire(connection)

    def _finish(
        self, connection: Connection | None, close: CloseEvent, *, gave_up: bool = False
    ) -> None:
        with self._cond:
            if self.close_event is not None:
                finished = True
            else:
                finished = False
                # Read before the state changes: connect() may be about to
                # raise this end itself.
                connect_waiting = self._connect_waiting
                self.state = State.CLOSED
                self.close_event = close
                self.fatal = close.error
                self._cond.notify_all()
        if connection is not None:
            connection.release()
        if finished:
            return
        # Decided before the close event goes in: a wait that returns with it
        # releases its cursor, and it is still the consumer that reports it.
        watched = connect_waiting or self.log.has_consumer() or self.dispatcher.watches(close)
        self.log.append(close, force=True)
        self.log.finish()
        telemetry.session_ended(self)
        if close.error is not None:
            # One report per failure: an open iterator or a waiting call raises
            # the error and a close callback receives it, so the log only speaks
            # up (WARNING) when no consumer would.
            # Giving up reconnecting is always a WARNING: the drop itself was
            # logged at INFO, expecting a handled reconnect.
            level = logging.INFO if watched and not gave_up else logging.WARNING
            logger.log(level, "session %d ended: %s", self.id, close.error)

    def close(self, timeout: float = 2.0, *, raise_errors: bool = True) -> None:
        self.check_process()
        deadline = time.monotonic() + max(0.0, timeout)
        # close(timeout=0) never waits, not even for the reader.
        stop_by = deadline + READER_STOP_GRACE if timeout > 0 else deadline
        me = threading.current_thread()
        with self._cond:
            self._user_closed = True
            was = self.state
            initiate = was in LIVE_STATES
            # A close() interrupted (Ctrl-C, a Celery time limit) left the
            # session closing with no one at work: this one finishes it.
            resume = was is State.CLOSING and self.close_event is None and self._closer is None
            if initiate:
                self.state = State.CLOSING
                self._cond.notify_all()
            if initiate or resume:
                self._closer = me
            connection = self.connection
            opening = self._opening
        try:
            self._close_steps(
                connection,
                opening,
                deadline,
                stop_by,
                initiate=initiate,
                resume=resume,
                was=was,
            )
        except BaseException:
            # Interrupted: cut the socket without waiting for anything, so the
            # reader ends and records the end; a later close() finishes the rest.
            if connection is not None:
                connection.abandon()
            raise
        finally:
            if initiate or resume:
                with self._cond:
                    self._closer = None
        registry.forget(self)
        if raise_errors and me is not self.dispatcher.thread:
            self.dispatcher.raise_errors()

    def _close_steps(
        self,
        connection: Connection | None,
        opening: Any,
        deadline: float,
        stop_by: float,
        *,
        initiate: bool,
        resume: bool,
        was: State,
    ) -> None:
        me = threading.current_thread()
        self.dispatcher.stop_starting()
        if opening is not None:
            recovery.shutdown(opening)  # an attempt waiting for its upgrade answer ends now
        if initiate or resume:
            # From now on nobody waits for consumers: close must not hang on them.
            self.log.unbound()
            if connection is None or connection.counted or connection.reader_done:
                # Never connected, or between two reconnect attempts (the
                # reconnect thread also records the end when it stops).
                self._finish(None, client_close())
            elif was is State.RECONNECTING or resume:
                # An attempt not ready yet (or a close already tried): no
                # Close handshake to wait for, cut it.
                connection.abandon()
            else:
                connection.close(deadline)
        if connection is not None:
            connection.join(stop_by)
        reconnector = self._reconnector
        if reconnector is not None and reconnector is not me:
            reconnector.join(max(0.0, deadline - time.monotonic()))
        dispatcher = self.dispatcher.thread
        if dispatcher is not None:
            if dispatcher is not me and dispatcher.ident is not None:
                dispatcher.join(max(0.0, deadline - time.monotonic()))
            if dispatcher.is_alive() and dispatcher is not me:
                logger.debug("callbacks still running after close(); they finish on their own")

    def abandon(self) -> None:
        """Close from ``__del__``: garbage collection may run while this very thread
        holds one of the session's locks, so take none of them blockingly."""
        self._user_closed = True
        self.dispatcher.stop_starting()
        if self.state in LIVE_STATES:
            self.state = State.CLOSING
        connection = self.connection
        if connection is not None:
            connection.abandon()
        self.log.try_unbound()
        registry.forget(self)

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
        """A user's command (the rules: :mod:`sayna._realtime.sending`)."""
        sending.send_json(self, payload)

    def speak(self, text: str, payload: dict[str, Any]) -> None:
        """``speak()``: timed from now (see :mod:`sayna._realtime.stats`)."""
        sending.speak(self, text, payload)

    def send_binary(self, data: bytes | bytearray | memoryview) -> None:
        """User audio: dropped (counted) while reconnecting."""
        sending.send_binary(self, data)

    def await_connection(self, connection: Connection | None) -> None:
        """A command found ``connection`` unusable: wait for the next one, or raise the end."""
        with self._cond:
            while self.state is State.RECONNECTING or (
                self.state is State.READY and self.connection is connection
            ):
                self._cond.wait()
            if self.state is not State.READY:
                raise self.closed_error()

    def drop_audio(self, size: int) -> None:
        """Audio sent in the gap: counted, reported by the next ``ReconnectedEvent``."""
        with self._cond:
            self._dropped_audio += size

    # --- stats -----------------------------------------------------------------------

    def stats(self) -> SessionStats:
        with self._cond:
            connection = self.connection
            if connection is not None and connection.counted:
                connection = None
            return self.counters.snapshot(connection, self.speech.timings())
