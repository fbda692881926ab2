"""Barge-in: the caller speaking over our speech stops it.

:class:`BargeIn` is the policy, a value given to ``connect(barge_in=...)``.
:class:`BargeInGuard` applies it on the connection's reader thread, where
frames become log entries: while an interruptible utterance plays, a
transcript with enough words (or a VAD ``speech_start``) sends ``clear`` at
once, and the TTS audio of the cancelled utterances that still arrives is
dropped before it reaches the log, so that iterators, callbacks and waits
all agree on what was heard. The server answers ``clear`` with nothing and
sends no completion for cancelled speech (docs/protocol.rst §3.3), so the
dropping lasts until the next ``speak``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import TYPE_CHECKING

import attrs

from sayna import _messages as messages
from sayna._errors import SaynaError, SaynaValidationError
from sayna._events import (
    Event,
    SpeechInterruptedEvent,
    STTResultEvent,
    TTSAudioEvent,
    TTSPlaybackCompleteEvent,
    VADEvent,
)
from sayna._realtime.connection import text_frame
from sayna._validation import int_at_least

if TYPE_CHECKING:
    from sayna._realtime.connection import Connection
    from sayna._realtime.eventlog import EventLog

__all__ = ["DEFAULT_BACKCHANNELS", "BargeIn", "BargeInGuard", "resolve_barge_in", "words"]

logger = logging.getLogger("sayna")

#: Words a listener says to show attention, not to take the turn.
DEFAULT_BACKCHANNELS = frozenset(
    {
        "ah",
        "aha",
        "hm",
        "hmm",
        "mhm",
        "mm",
        "mm-hmm",
        "mmhmm",
        "oh",
        "ok",
        "okay",
        "right",
        "sure",
        "uh",
        "uh-huh",
        "um",
        "yeah",
        "yep",
    }
)

_WORD = re.compile(r"[\w'-]+")
# VAD events that mean the caller started (or went on) talking (§5.7).
_VAD_SPEECH = frozenset({"speech_start", "speech_resumed"})


def words(text: str) -> list[str]:
    """The lower-cased words of ``text``, punctuation dropped ("Mhm." -> ["mhm"])."""
    return [w.strip("'-") for w in _WORD.findall(text.lower()) if w.strip("'-")]


def _ignore_set(value: object) -> frozenset[str]:
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise SaynaValidationError("ignore must be a collection of words", field="ignore")
    found: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            raise SaynaValidationError("ignore must hold strings", field="ignore")
        found.update(words(item))
    return frozenset(found)


@attrs.frozen
class BargeIn:
    """When the caller's speech interrupts ours (``connect(barge_in=BargeIn(...))``).

    A transcript interrupts when it holds at least ``min_words`` words that
    are not in ``ignore`` (backchannels such as "mhm" or "yeah", compared
    case-insensitively without punctuation). ``vad``: a VAD ``speech_start``
    event interrupts too, where the server sends them.
    """

    min_words: int = attrs.field(default=1, validator=int_at_least(1))
    ignore: frozenset[str] = attrs.field(default=DEFAULT_BACKCHANNELS, converter=_ignore_set)
    vad: bool = True

    def interrupts(self, event: Event) -> str | None:
        """What was heard, if ``event`` interrupts our speech; else ``None``."""
        if event.__class__ is STTResultEvent:
            transcript = event.transcript
            counted = [w for w in words(transcript) if w not in self.ignore]
            return transcript if len(counted) >= self.min_words else None
        if self.vad and event.__class__ is VADEvent and event.event in _VAD_SPEECH:
            return ""
        return None


BargeIn.__module__ = "sayna"


def resolve_barge_in(value: object) -> BargeIn | None:
    """``connect(barge_in=...)``: False/None (off), True (defaults) or a :class:`BargeIn`."""
    if value is None or value is False:
        return None
    if value is True:
        return BargeIn()
    if isinstance(value, BargeIn):
        return value
    raise SaynaValidationError(
        f"barge_in must be a bool or a BargeIn, not {type(value).__name__}", field="barge_in"
    )


class BargeInGuard:
    """The session's barge-in state; :meth:`take` runs on the reader thread.

    ``watching`` is the one attribute the reader checks per frame: it is true
    while interruptible speech is queued or cancelled audio is being dropped.
    """

    __slots__ = (
        "_allow",
        "_cancelled",
        "_discarded",
        "_discarding",
        "_heard",
        "_lock",
        "_playing",
        "interruptions",
        "last_reaction",
        "policy",
        "watching",
    )

    def __init__(self, policy: BargeIn) -> None:
        self.policy = policy
        self._lock = threading.Lock()
        self._playing: list[str] = []  # utterances sent and not completed
        self._allow = True  # the last speak's allow_interruption (a server-wide switch)
        self._discarding = False
        self._discarded = 0
        self._heard = ""
        self._cancelled: tuple[str, ...] = ()
        self.watching = False
        #: Interruptions so far.
        self.interruptions = 0
        #: Seconds from reading the interrupting frame to ``clear`` sent (the last one).
        self.last_reaction: float | None = None

    def spoke(self, text: str, allow_interruption: bool, log: EventLog) -> None:
        """A ``speak`` is about to go out (user thread): the dropping ends here."""
        with self._lock:
            if self._discarding:
                log.append(self._interruption(), force=True)
            if text.strip():
                self._playing.append(text)
            self._allow = allow_interruption
            self.watching = bool(self._playing)

    def cleared(self) -> None:
        """The user sent ``clear``: nothing of ours plays any more."""
        with self._lock:
            self._playing.clear()
            self.watching = self._discarding

    def _interruption(self) -> SpeechInterruptedEvent:
        # Called with the lock held: the dropping window closes.
        event = SpeechInterruptedEvent(
            heard=self._heard, cancelled_text=self._cancelled, discarded_bytes=self._discarded
        )
        self._discarding = False
        self._discarded = 0
        self._heard, self._cancelled = "", ()
        return event

    def take(self, event: Event, out: list[Event], connection: Connection) -> None:
        """Put ``event`` into ``out`` (the reader's batch), or drop it; react to speech."""
        cls = event.__class__
        with self._lock:
            if self._discarding:
                if cls is TTSAudioEvent:
                    self._discarded += len(event.data)  # type: ignore[attr-defined]
                    return
                # The first other frame after the clear closes the window: the
                # cancelled audio the server had queued came before it.
                out.append(self._interruption())
            if self._playing:
                if cls is TTSPlaybackCompleteEvent:
                    self._playing.clear()
                elif self._allow:
                    heard = self.policy.interrupts(event)
                    if heard is not None:
                        out.append(event)
                        self._interrupt(heard, connection)
                        return
            self.watching = bool(self._playing) or self._discarding
        out.append(event)

    def _interrupt(self, heard: str, connection: Connection) -> None:
        # Lock held. The clear goes out before anything else is read.
        try:
            connection.send_raw(text_frame(messages.clear()))
        except SaynaError as exc:
            logger.debug("barge-in could not send clear: %s", exc)
        self.last_reaction = time.monotonic() - connection.last_inbound
        self.interruptions += 1
        self._cancelled = tuple(self._playing)
        self._playing.clear()
        self._heard = heard
        self._discarding = True
        self.watching = True

    def flush(self, out: list[Event]) -> None:
        """The connection ended: report an interruption still open."""
        with self._lock:
            if self._discarding:
                out.append(self._interruption())
            self._playing.clear()
            self.watching = False
