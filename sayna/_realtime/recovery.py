"""The recovery transitions of a session: a connection ends, the reconnect attempts.

Part of the core, in its own file: these functions make transitions of
:class:`~sayna._realtime.core.SessionCore` (its state, under its condition,
through its own fields), so they are no policy; the policy is a value
(:class:`~sayna._realtime.reconnect.ReconnectPolicy`), and the attempt loop
that uses it lives here, beside the other transitions (the way urllib3 keeps
``Retry`` a value and the loop in ``urlopen``). The core calls in through
:func:`connection_ended` (a reader stopped) and :func:`ready_again` (an
event before a new connection's ready); :func:`_reconnect` runs on the
``sayna-reconnect-N`` thread.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from sayna import _telemetry as telemetry
from sayna._errors import SaynaConnectionClosedError, SaynaError, SaynaHttpError
from sayna._events import (
    CloseEvent,
    ErrorEvent,
    Event,
    ReadyEvent,
    ReconnectedEvent,
    ReconnectingEvent,
)
from sayna._realtime.connection import CLOSE_HANDSHAKE_TIMEOUT, Connection
from sayna._realtime.protocol import client_close, describe, describe_close
from sayna._realtime.reconnect import (
    STABLE_AFTER,
    Attempt,
    ReconnectPolicy,
    is_advisory_config_error,
    is_resumable,
)
from sayna._realtime.states import State

if TYPE_CHECKING:
    from sayna._realtime.core import SessionCore

__all__ = ["connection_ended", "ready_again", "shutdown"]

logger = logging.getLogger("sayna")


def ready_again(core: SessionCore, connection: Connection, event: Event) -> None:
    """:meth:`SessionCore.before_ready` while reconnecting: the new connection's ready."""
    if isinstance(event, ReadyEvent):
        with core._cond:
            if core.connection is not connection or core.state is not State.RECONNECTING:
                return
            core.ready_event = event
            core.state = State.READY
            core._ready_at = time.monotonic()
            connection.awaiting_ready = False
            core.counters.reconnects += 1
            lost, core._lost_speech = core._lost_speech, ()
            dropped, core._dropped_audio = core._dropped_audio, 0
            attempt = core._attempt
            core._cond.notify_all()
        logger.info("session %d reconnected (attempt %d)", core.id, attempt)
        # On the reader thread, before anything this connection reads next.
        core.hearing.reconnected()
        # Not forced: like any event it waits for room (issue 22, item 7).
        core.log.append(ReconnectedEvent(attempt, event.stream_id, lost, dropped))
        connection.start_keepalive()
    elif isinstance(event, ErrorEvent) and not is_advisory_config_error(event.message):
        with core._cond:
            if core.connection is connection and core._attempt_failure is None:
                core._attempt_failure = f"the server refused the config: {event.message}"
                core._cond.notify_all()


def connection_ended(core: SessionCore, connection: Connection, close: CloseEvent) -> None:
    """A connection's reader stopped: the session ends with it, or reconnects."""
    with core._cond:
        current = connection is core.connection
        attempt = current and core.state is State.RECONNECTING
        if attempt and core._attempt_failure is None:
            # A reconnect attempt's connection ended before its ready.
            core._attempt_failure = (
                f"the connection ended ({close.reason or describe_close(close)})"
            )
            core._cond.notify_all()
        policy = core.policy
        resume = (
            current
            and policy is not None
            and core.state is State.READY
            and not core._user_closed
            and is_resumable(close, protocol_violation=connection.protocol_violation)
        )
        if resume:
            core.state = State.RECONNECTING
            # A connection that did not stay up STABLE_AFTER seconds proved
            # nothing: its drop continues the count instead of restarting
            # it, so a server that answers ready and drops is given up on.
            proven = time.monotonic() - core._ready_at >= STABLE_AFTER
            first_attempt = 1 if proven else core._attempt + 1
            core._lost_speech = core.speech.take_lost()
            # Audio refused since the send that found the drop counts too.
            core._cond.notify_all()
    if not current or attempt or resume:
        core._retire(connection)
        if resume:
            assert policy is not None
            # INFO: a handled drop is routine; giving up is the WARNING.
            logger.info(
                "session %d lost its connection (%s); reconnecting",
                core.id,
                close.reason or describe_close(close),
            )
            core._reconnector = threading.Thread(
                target=_reconnect,
                args=(core, policy, close, first_attempt),
                name=f"sayna-reconnect-{core.id}",
                daemon=True,
            )
            core._reconnector.start()
        return
    core._finish(connection, close)


def _reconnect(
    core: SessionCore, policy: ReconnectPolicy, ended: CloseEvent, first: int = 1
) -> None:
    """Run the attempts (on the reconnect thread) after ``ended``.

    Opens new sockets with the policy's backoff, re-sends the config (with
    the stream id of the first ``ready``) and stops at the first ``ready``,
    a refusal of the credentials, the user closing the session or the
    last attempt. ``first`` is above 1 when the connection that ended had
    not proven itself (see :data:`~sayna._realtime.reconnect.STABLE_AFTER`).
    """
    if ended.initiator == "server":
        reason = f"the server closed the connection ({describe_close(ended)})"
    else:
        reason = ended.reason or describe_close(ended)
    failure: BaseException | None = None
    try:
        with telemetry.reconnect_span(core.id, lambda: core.is_ready):
            _attempts(core, policy, ended, reason, first)
    except BaseException as exc:  # reported below as the session's end
        failure = exc
    finally:
        # Whatever stops this thread ends the session, never leaves it
        # reconnecting for good (issue 22, item 10). The exception's text
        # may carry a proxy URL with credentials: only its type is shown;
        # it is the error's __cause__.
        if _reconnecting(core):
            why = "the reconnect thread stopped"
            if failure is not None:
                why = f"the reconnect thread failed ({type(failure).__name__})"
            give_up(core, ended, reason, why, cause=failure)
        elif failure is not None:
            finish_if_closing(core)


def _attempts(
    core: SessionCore, policy: ReconnectPolicy, ended: CloseEvent, reason: str, first: int
) -> None:
    last = reason
    if first > policy.max_attempts:
        give_up(
            core,
            ended,
            reason,
            f"{policy.max_attempts} reconnect(s) in a row lost the connection within"
            f" {STABLE_AFTER:g} s of ready",
        )
        return
    for attempt in range(first, policy.max_attempts + 1):
        delay = policy.delay(attempt)
        # Not forced: with an unread iterator these wait for room like any
        # event, so reconnects cannot grow the log past its bound (item 7).
        core.log.append(ReconnectingEvent(attempt, delay, last))
        if not sleep_while_reconnecting(core, delay):
            finish_if_closing(core)
            return
        telemetry.step("attempt", {"sayna.attempt": attempt})
        outcome = try_reconnect(core, attempt)
        if outcome.done:
            finish_if_closing(core)
            return
        last = f"attempt {attempt} failed: {outcome.failure}"
        if outcome.refused:
            give_up(core, ended, reason, f"the server refused the credentials ({outcome.failure})")
            return
    give_up(core, ended, reason, f"{policy.max_attempts} attempt(s) failed; the {last}")


def _opened(core: SessionCore, sock: Any) -> None:
    """An attempt's socket is connected and about to upgrade: close() may cut it."""
    with core._cond:
        core._opening = sock
        cut = core.state is not State.RECONNECTING
    if cut:
        shutdown(sock)


def sleep_while_reconnecting(core: SessionCore, delay: float) -> bool:
    """Wait ``delay`` seconds; False if the session is closing meanwhile."""
    deadline = time.monotonic() + delay
    with core._cond:
        while core.state is State.RECONNECTING:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            core._cond.wait(remaining)
        return False


def try_reconnect(core: SessionCore, attempt: int) -> Attempt:
    """Open a new connection and re-send the config; wait for its ready."""
    settings = core.settings
    timeout = core.connect_timeout
    deadline = time.monotonic() + timeout
    try:
        ws = settings.open_websocket(timeout, deadline, functools.partial(_opened, core))
    except SaynaHttpError as exc:
        return Attempt(failure=describe(exc), refused=exc.status_code in (401, 403))
    except SaynaError as exc:
        if not _reconnecting(core):
            return Attempt(done=True)  # close() cut the upgrade
        return Attempt(failure=describe(exc))
    finally:
        with core._cond:
            core._opening = None
    with core._cond:
        if core.state is not State.RECONNECTING:
            ws.shutdown()
            return Attempt(done=True)
        connection = core.attach(
            ws, ping_interval=settings.ping_interval, ping_timeout=settings.ping_timeout
        )
        core._attempt = attempt
        core._attempt_failure = None
    connection.start()
    try:
        connection.send_json(core.config)
    except SaynaError as exc:
        with core._cond:
            if core._attempt_failure is None:
                core._attempt_failure = describe(exc)
    with core._cond:
        while _reconnecting(core) and core._attempt_failure is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                core._attempt_failure = f"no ready within {timeout:g} s"
                break
            core._cond.wait(remaining)
        if not _reconnecting(core):
            return Attempt(done=True)
        failure = core._attempt_failure or "failed"
    # A failed attempt is cut, not closed politely: waiting for the
    # server's Close answer added half a second per attempt to the
    # documented give-up bound (issue 22, item 9).
    connection.abandon()
    connection.join(time.monotonic() + CLOSE_HANDSHAKE_TIMEOUT)
    core._retire(connection)
    return Attempt(failure=failure)


def _reconnecting(core: SessionCore) -> bool:
    # A function, not an inline test: other threads change the state while
    # this one waits, which a type checker's narrowing cannot know.
    return core.state is State.RECONNECTING


def give_up(
    core: SessionCore,
    ended: CloseEvent,
    reason: str,
    why: str,
    *,
    cause: BaseException | None = None,
) -> None:
    """End the session after the attempts failed (``ended``: the original drop)."""
    message = (
        f"the connection to the Sayna server was lost ({reason}) and reconnecting failed: {why}"
    )
    error = SaynaConnectionClosedError(message, code=ended.code, reason=ended.reason)
    error.__cause__ = cause
    close = CloseEvent(
        code=ended.code,
        reason=f"{reason}; {why}",
        initiator=ended.initiator,
        error=error,
    )
    with core._cond:
        if core.state is not State.RECONNECTING:
            close = client_close()
    core._finish(None, close, gave_up=close.error is not None)


def finish_if_closing(core: SessionCore) -> None:
    """The reconnect thread stops: if the user closed meanwhile, record the end."""
    if core.state is State.CLOSING:
        # An attempt's connection still closing reports the same end;
        # whichever comes first is recorded.
        core._finish(None, client_close())


def shutdown(sock: Any) -> None:
    """Cut a socket still upgrading (an attempt's, or one close() finds)."""
    with contextlib.suppress(OSError, ValueError):
        sock.shutdown(socket.SHUT_RDWR)
