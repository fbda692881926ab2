"""The public realtime session: send commands, receive events (blocking API).

:class:`Session` is the face users hold; everything behind it lives in
:class:`sayna._realtime.core.SessionCore` (state, event log, connection, dispatcher),
which the threads hold instead, so an abandoned session can be
garbage-collected and warned about. ``Sayna.connect`` (:mod:`sayna._realtime.connect`)
makes one.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sayna import _conveniences
from sayna import _messages as messages
from sayna._audio import AudioResult
from sayna._devices import Speaker
from sayna._errors import SaynaTimeoutError, SaynaValidationError
from sayna._events import CloseEvent, Event
from sayna._models import (
    STTConfig,
    TTSConfig,
    TurnDetectConfigUpdate,
    VADConfigUpdate,
)
from sayna._playback import Playback
from sayna._raw import check_message
from sayna._realtime import commands
from sayna._realtime import hearing as _hearing
from sayna._realtime.bargein import BargeIn
from sayna._realtime.callbacks import Callbacks
from sayna._realtime.consumers import EventIterator, poll
from sayna._realtime.conversing import Conversing
from sayna._realtime.core import LIVE_STATES, OPEN_STATES, SessionCore, State
from sayna._realtime.dispatch import EventMatch, matcher
from sayna._realtime.readyfacts import ReadyFacts
from sayna._realtime.stats import SessionStats
from sayna._realtime.turnreader import SessionTurns
from sayna._renamed import missing_attribute
from sayna._validation import (
    normalize_phone_number,
    require_bool,
    require_text,
    require_wait,
)
from sayna._wav import WavAudio

__all__ = ["Session"]

logger = logging.getLogger("sayna")


class Session(ReadyFacts, Callbacks, Conversing):
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
    received reach their consumers; a reconnect attempt under way is cut at
    once. A ``close()`` interrupted (Ctrl-C, a time limit) shuts the socket
    down before the exception propagates, and the next ``close()`` finishes.
    A session garbage-collected while open emits a :class:`ResourceWarning`;
    sessions still open at interpreter exit are closed. A forked child cannot
    use its parent's session. Opened with ``reconnect=``, a session outlives a lost connection (see
    :meth:`Sayna.connect`): it stays the same object, with the same callbacks
    and iterators, and reports the gap as :class:`ReconnectingEvent` and
    :class:`ReconnectedEvent`; :meth:`stats` counts what it carried.

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
    session consumed only through callbacks therefore uses bounded memory. The
    session's own :class:`ReconnectingEvent` and :class:`ReconnectedEvent`
    count against the same bound (a reconnect waits for room, as reading
    does); only the final :class:`CloseEvent` and callback errors may go past it.

    **Errors.** A server ``error`` message is an :class:`ErrorEvent`; the session
    goes on. An undecodable frame is a :class:`MalformedEvent` and an unknown
    type an :class:`UnknownEvent`, both with the raw data. An exception raised
    by a callback is logged (logger ``sayna``, with traceback), does not stop
    the session or the other callbacks, reaches iterators as a
    :class:`CallbackErrorEvent`, is kept in :attr:`callback_errors`, and is
    raised again by :meth:`close` as :class:`SaynaCallbackError` (each error
    once; not when ``close()`` runs from a callback, nor when the ``with`` block
    is left by another exception — then they are only logged). ``SystemExit``,
    ``KeyboardInterrupt`` and other non-``Exception`` errors are handled alike,
    except that :meth:`close` raises them as themselves. A session that
    ends abnormally (connection lost, server close with an error code,
    unanswered ping) raises :class:`SaynaConnectionClosedError`, with code and
    reason, from ``events()`` after its close event, from :meth:`wait_for`,
    :meth:`next_event`, and from the next send. A normal end by the server
    raises nothing from ``events()``.
    """

    __slots__ = ("__weakref__", "_core", "_turns")

    def __init__(self, core: SessionCore) -> None:
        self._core = core
        self._turns = SessionTurns(core)

    # --- lifecycle -------------------------------------------------------------

    def close(self, timeout: float = 2.0) -> None:
        """End the session (idempotent); raise :class:`SaynaCallbackError` if callbacks failed."""
        self._core.close(require_wait(timeout, allow_none=False))

    def disconnect(self) -> None:
        """Alias of :meth:`close`, the official SDK's name."""
        self._core.close()

    def finish(self, timeout: float = 10.0) -> None:
        """Wait until the server has answered all audio sent so far, then :meth:`close`.

        Answered means: the last turn ended (its results are in the event log,
        for iterators and callbacks), or no result came for a second after the
        last frame (the audio held no speech); see :doc:`/conversations-testing`
        for the exact rule. Closes in every case; raises
        :class:`SaynaTimeoutError` afterwards when ``timeout`` seconds were not
        enough, and returns at once when the session has already ended.
        """
        wait = require_wait(timeout, allow_none=False)
        core = self._core
        core.check_process()
        _hearing.finish(
            core.hearing, wait, live=lambda: core.state in LIVE_STATES, close=core.close
        )

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        core = self._core
        if exc_type is None:
            core.close()
            return
        core.close(raise_errors=False)
        count = core.dispatcher.unraised_count()
        if count:
            logger.error(
                "%d callback error(s) not raised from close(): another exception is"
                " propagating (see the errors logged above and Session.callback_errors)",
                count,
            )

    def __del__(self) -> None:
        core = getattr(self, "_core", None)
        if core is None or not core.in_this_process:
            return
        if core.state in LIVE_STATES:
            warnings.warn(
                f"unclosed {self!r}; use 'with client.connect(...)' or call close()",
                ResourceWarning,
                source=self,
                stacklevel=2,
            )
            core.abandon()

    if not TYPE_CHECKING:  # type checkers keep flagging unknown names

        def __getattr__(self, name: str) -> Any:
            # Only reached for names the class lacks: point old SDK names at ours.
            return missing_attribute(self, name)

    def __repr__(self) -> str:
        core = self._core
        ready = core.ready_event
        stream = f" stream_id={ready.stream_id!r}" if ready is not None else ""
        return f"<sayna.Session{stream} {core.state.value}>"

    # --- state -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the WebSocket is open (False while reconnecting)."""
        return self._core.state in OPEN_STATES

    @property
    def ready(self) -> bool:
        """True while the session is open and configured (False while reconnecting)."""
        return self._core.state is State.READY

    @property
    def barge_in(self) -> BargeIn | None:
        """The barge-in policy given to ``connect(barge_in=...)``; ``None`` when off."""
        guard = self._core.barge_in
        return None if guard is None else guard.policy

    @property
    def without_audio(self) -> bool:
        """True when the session was opened with ``without_audio=True``."""
        return self._core.without_audio

    @property
    def close_event(self) -> CloseEvent | None:
        """How the session ended, once it has."""
        return self._core.close_event

    def stats(self) -> SessionStats:
        """Counters and per-utterance timings so far (see :class:`SessionStats`)."""
        return self._core.stats()

    @property
    def callback_errors(self) -> list[BaseException]:
        """Every exception raised by a callback so far, in order."""
        core = self._core
        with core.dispatcher.errors_lock:
            return list(core.dispatcher.errors)

    # --- sending ---------------------------------------------------------------

    def _send(self, payload: dict[str, Any]) -> None:
        core = self._core
        core.check_process()
        core.send_json(payload)

    def send_json(self, message: Mapping[str, Any]) -> None:
        """Send ``message``, a JSON object with a string ``type``, as it is.

        For messages this version has no method for (the server ignores
        fields it does not know, and answers an unknown ``type`` with an
        ``error`` event). Checked first: :class:`SaynaValidationError` for a
        non-object, a missing or empty ``type``, or a value JSON cannot hold.
        """
        self._send(check_message(message))

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
        core = self._core
        core.check_process()
        guard = core.barge_in
        if guard is not None:
            guard.spoke(text, allow_interruption, core.log)
        core.speak(text, messages.speak(text, flush=flush, allow_interruption=allow_interruption))

    def tts_flush(self, allow_interruption: bool = True) -> None:
        """Send an empty ``speak`` (the official SDK's flush; a no-op on the server)."""
        require_bool(allow_interruption, "allow_interruption")
        self._refuse_without_audio("tts_flush()")
        guard = self._core.barge_in
        if guard is not None:
            guard.spoke("", allow_interruption, self._core.log)
        self._send(messages.speak("", flush=True, allow_interruption=allow_interruption))

    def play_on(self, speaker: Speaker) -> Playback:
        """Play this session's speech on ``speaker`` as it arrives.

        Returns a :class:`~sayna.audio.Playback`. The speech is converted to
        the speaker's rate and channels, and dropped from the speaker
        on a VAD ``speech_start`` (barge-in). ``playback.stop()`` (or leaving
        ``with``) ends it. See :ref:`audio-devices`.
        """
        return Playback(self, speaker)

    def clear(self) -> None:
        """Cancel queued and ongoing synthesis."""
        self._send(messages.clear())
        guard = self._core.barge_in
        if guard is not None:
            guard.cleared()

    def send_message(
        self, message: str, role: str, topic: str = "messages", debug: Any = None
    ) -> None:
        """Publish a data packet to the LiveKit room; ``debug`` is any JSON value."""
        require_text(message, "message")
        require_text(role, "role")
        require_text(topic, "topic")
        commands.check_debug(debug)
        self._send(messages.send_message(message, role, topic, debug))

    def sip_transfer(self, transfer_to: str) -> None:
        """Transfer the room's SIP caller to a phone number (digits, optional leading +)."""
        number = normalize_phone_number(transfer_to, "transfer_to")
        self._send(messages.sip_transfer(number))

    def update_config(
        self,
        vad: VADConfigUpdate | None = None,
        turn_detect: TurnDetectConfigUpdate | None = None,
    ) -> None:
        """Tune voice activity / turn detection at runtime (give at least one)."""
        commands.check_config_update(vad, turn_detect)
        self._send(messages.update_config(vad, turn_detect))

    def loading_start(self) -> None:
        """Start looping the configured loading clip into the LiveKit room."""
        self._refuse_without_audio("loading_start()")
        if not self._core.livekit:
            raise SaynaValidationError(
                "loading_start() needs a LiveKit room: connect with livekit_config",
                field="livekit_config",
            )
        self._send(messages.loading_start())

    def loading_stop(self) -> None:
        """Stop the loading clip (never answered, in any state)."""
        self._send(messages.loading_stop())

    def on_audio_input(
        self, audio_data: bytes | bytearray | memoryview | AudioResult | WavAudio
    ) -> None:
        """Send audio for speech-to-text, in the format of the ``stt_config``.

        Raw bytes go as they are; an :class:`AudioResult` or :class:`WavAudio`
        is converted to the ``stt_config``'s rate and channels first.
        """
        data = commands.audio_bytes(audio_data, self._core.stt_config)
        self._refuse_without_audio("on_audio_input()")
        core = self._core
        core.check_process()
        core.send_binary(data)

    send_audio = on_audio_input

    # --- consuming ---------------------------------------------------------------

    def events(self, timeout: float | None = None) -> EventIterator:
        """Iterate over every event in arrival order; ends after the close event.

        ``timeout`` bounds the wait for each event (:class:`SaynaTimeoutError`,
        the iterator stays usable). Raises the session's
        :class:`SaynaConnectionClosedError` after the close event of an abnormal
        end. Close the iterator (or let it go) when you stop early.
        """
        wait = require_wait(timeout)
        core = self._core
        core.check_process()
        return EventIterator(core.log, core.raise_if_fatal, wait)

    def __iter__(self) -> EventIterator:
        return self.events()

    def skip_pending(self) -> bool:
        """Pass over every event no iterator has reached yet; the next read sees only newer ones.

        For calls whose contract is "what arrives from now on" (``say()``,
        ``transcribe()``). Returns ``False`` if the session's end was among
        the events passed over, and raises the error it ended with, if any.
        """
        core = self._core
        core.check_process()
        for event in core.log.skip():
            if isinstance(event, CloseEvent):
                if event.error is not None:
                    raise core.closed_error()
                return False
        # The end is recorded a moment before its CloseEvent reaches the log:
        # a session ended all the same (say() after a close must not race it).
        close = core.close_event
        if close is not None:
            if close.error is not None:
                raise core.closed_error()
            return False
        return True

    @property
    def blocked_by(self) -> str | None:
        """Which consumer keeps the reader waiting, when backpressure holds it; else ``None``.

        A sentence naming the consumer, how long the reader has waited and
        how many events it holds unread, for timeout messages and debugging.
        """
        return self._core.log.held_by

    def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event for this thread, or ``None`` if ``timeout`` passes first.

        After the close event has been returned, raises like a send would.
        """
        wait = require_wait(timeout)
        core = self._core
        core.check_process()
        return poll(core.log, lambda event: True, wait, core.closed_error)

    def wait_for(self, event: EventMatch, timeout: float | None = None) -> Event:
        """Skip events until one matches; return it.

        ``event`` is an event class, a wire type string, a tuple of those, or a
        predicate. Raises :class:`SaynaTimeoutError` after ``timeout`` seconds,
        and the session's closing error if it ends first.
        """
        wait = require_wait(timeout)
        core = self._core
        core.check_process()
        match = matcher(event)
        found = poll(core.log, match, wait, core.closed_error)
        if found is None:
            note = _conveniences.stall_note(self)
            raise SaynaTimeoutError(f"no matching event within {timeout:g} s{note}")
        return found

    # --- conversations (sayna._realtime.conversing) ------------------------------------
    # Their face lives in its own module, a base of this class; named here too
    # so that the API page keeps them in this place (autodoc orders members by
    # the class's own source).

    listen = Conversing.listen
    turns = Conversing.turns
    speak_stream = Conversing.speak_stream

    # --- conveniences (sayna._conveniences) ------------------------------------------

    @property
    def stt_config(self) -> STTConfig | None:
        """The speech-to-text settings of this session (``None`` without audio)."""
        return self._core.stt_config

    @property
    def tts_config(self) -> TTSConfig | None:
        """The text-to-speech settings of this session (``None`` without audio)."""
        return self._core.tts_config

    say = Conversing.say
    stream_audio = Conversing.stream_audio
    transcribe = Conversing.transcribe
