"""``sayna.converse``: the agent loop, listen → respond → speak, until it ends.

Built on the session's public face only: :meth:`Session.listen` for turns,
:meth:`Session.speak_stream` for answers, a callback for the caller hanging
up. Barge-in is the session's own setting (``connect(barge_in=...)``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Literal, Union

import attrs

from sayna._errors import (
    SaynaError,
    SaynaNotConnectedError,
    SaynaTimeoutError,
    SaynaValidationError,
)
from sayna._events import CloseEvent, Event, ParticipantDisconnectedEvent
from sayna._streaming import Reply
from sayna._turns import Turn
from sayna._validation import require_int, require_positive_seconds

if TYPE_CHECKING:
    from sayna._realtime.session import Session

__all__ = ["Conversation", "Line", "Respond", "converse"]

#: ``respond(turn)`` returns the answer: a text, an iterable of text pieces, or None to end.
Respond = Callable[[Turn], Union[str, Iterable[str], None]]  # noqa: UP007
EndedBy = Literal["respond", "hangup", "closed", "max_turns", "timeout"]

# After the session ends, how long to wait for the callbacks to report whether
# the caller hung up (they run on the dispatcher thread, in arrival order).
_HANGUP_NOTICE = 1.0


@attrs.frozen(kw_only=True)
class Line:
    """One line of a conversation: ``role`` "user" or "agent" and its ``text``.

    ``interrupted``: for an agent line, the caller cut it off (barge-in); for
    a user line, the caller spoke over the agent (``Turn.barged_in``).
    """

    role: Literal["user", "agent"]
    text: str
    interrupted: bool = False


@attrs.frozen(kw_only=True)
class Conversation:
    """What :func:`converse` returns: the ``lines`` in order and why it ended.

    ``ended_by``: ``"respond"`` (it returned ``None``), ``"hangup"`` (the
    caller left the room), ``"closed"`` (the session ended otherwise),
    ``"max_turns"`` or ``"timeout"``.
    """

    lines: tuple[Line, ...]
    ended_by: Literal["respond", "hangup", "closed", "max_turns", "timeout"]


Line.__module__ = Conversation.__module__ = "sayna"


class _RespondFailed(Exception):
    """Carries an exception raised by ``respond`` (or its iterable) through speak_stream."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _guarded(pieces: Iterable[str]) -> Iterator[str]:
    """``pieces``, with whatever they raise marked as the user's."""
    try:
        iterator = iter(pieces)
    except BaseException as exc:
        raise _RespondFailed(exc) from exc
    try:
        while True:
            try:
                piece = next(iterator)
            except StopIteration:
                return
            except BaseException as exc:
                raise _RespondFailed(exc) from exc
            yield piece
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


class _Ending:
    """Watches, through callbacks, whether the session ended by the caller hanging up."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.hung_up = threading.Event()
        self.closed = threading.Event()
        session.on(ParticipantDisconnectedEvent, self._left)
        session.on(CloseEvent, self._closed)

    def _left(self, event: Event) -> None:
        self.hung_up.set()

    def _closed(self, event: Event) -> None:
        self.closed.set()

    def reason(self) -> EndedBy:
        # The close callback comes after the participant's: once it ran, the
        # hang-up is known either way.
        self.closed.wait(_HANGUP_NOTICE)
        return "hangup" if self.hung_up.is_set() else "closed"

    def remove(self) -> None:
        self.session.off(ParticipantDisconnectedEvent, self._left)
        self.session.off(CloseEvent, self._closed)


def converse(
    session: Session,
    respond: Callable[[Turn], str | Iterable[str] | None],
    *,
    greeting: str | None = None,
    max_turns: int | None = None,
    timeout: float | None = None,
) -> Conversation:
    """Hold a conversation on ``session``: listen for a turn, answer it, repeat.

    ``respond(turn)`` gets each :class:`Turn` (``barged_in=True`` when the
    caller spoke over the previous answer) and returns a ``str`` (spoken),
    an iterable of ``str`` (streamed with :meth:`Session.speak_stream`, so an
    LLM's tokens are spoken as they come) or ``None`` to end. ``greeting`` is
    spoken first. It ends when ``respond`` returns ``None``, the caller hangs
    up, the session closes, ``max_turns`` turns were answered, or ``timeout``
    seconds passed; ``Conversation.ended_by`` says which. Turns the caller
    finished before hanging up still reach ``respond``. An exception
    from ``respond`` ends it and is raised from here; speech of that answer
    still playing is cleared and the session stays open and usable.
    """
    if not callable(respond):
        raise SaynaValidationError("respond must be callable", field="respond")
    if greeting is not None and (not isinstance(greeting, str) or not greeting.strip()):
        raise SaynaValidationError("greeting must be a non-blank str", field="greeting")
    if max_turns is not None:
        require_int(max_turns, "max_turns", minimum=1)
    if timeout is not None:
        require_positive_seconds(timeout, "timeout")
    deadline = None if timeout is None else time.monotonic() + timeout
    lines: list[Line] = []
    ending = _Ending(session)
    session.turns()  # keep turns from now on: the caller may speak during the greeting

    def left() -> float | None:
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def speak(answer: str | Iterable[str]) -> Reply:
        pieces = [answer] if isinstance(answer, str) else _guarded(answer)
        wait = left()
        try:
            reply = session.speak_stream(pieces, timeout=60.0 if wait is None else max(wait, 0.001))
        except _RespondFailed:
            # The answer broke off: what it queued must not go on playing.
            with contextlib.suppress(SaynaError):
                session.clear()
            raise
        lines.append(Line(role="agent", text=reply.text, interrupted=reply.interrupted))
        return reply

    def run() -> EndedBy:
        turns = 0
        try:
            if greeting is not None:
                with contextlib.suppress(SaynaNotConnectedError):
                    speak(greeting)  # a call that ended meanwhile: listen() says so
            while True:
                if max_turns is not None and turns >= max_turns:
                    return "max_turns"
                wait = left()
                if wait is not None and wait <= 0:
                    return "timeout"
                turn = session.listen(timeout=wait)
                lines.append(Line(role="user", text=turn.text, interrupted=turn.barged_in))
                turns += 1
                try:
                    answer = respond(turn)
                except BaseException as exc:
                    raise _RespondFailed(exc) from exc
                if answer is None:
                    return "respond"
                given: object = answer
                if not isinstance(given, (str, Iterable)) or isinstance(given, bytes):
                    raise SaynaValidationError(
                        f"respond must return a str, an iterable of str or None,"
                        f" not {type(answer).__name__}",
                        field="respond",
                    )
                try:
                    speak(answer)
                except SaynaNotConnectedError:
                    # The call ended during the answer. Turns heard before the
                    # end still go to respond; listen() then reports the end.
                    continue
        except SaynaTimeoutError:
            if deadline is not None and time.monotonic() >= deadline - 0.001:
                return "timeout"
            raise
        except SaynaNotConnectedError:
            # SaynaConnectionClosedError included: the session is over either way.
            return ending.reason()

    failed: BaseException | None = None
    try:
        ended_by = run()
    except _RespondFailed as failure:
        failed = failure.error
    finally:
        ending.remove()
    if failed is not None:
        # Raised outside the handler, so it carries only its own history.
        raise failed
    return Conversation(lines=tuple(lines), ended_by=ended_by)
