"""User turns: the ``is_final`` transcripts of one utterance, up to the end of turn.

:class:`Turn` is the value ``Session.listen()`` returns; :class:`TurnAssembler`
builds turns from events, with no I/O (the session's turn reader feeds it
from the event log, see :mod:`sayna._realtime.turnreader`).
"""

from __future__ import annotations

import attrs

from sayna._events import (
    Event,
    SpeechInterruptedEvent,
    STTResultEvent,
    TTSAudioEvent,
    TTSPlaybackCompleteEvent,
)

__all__ = ["Turn", "TurnAssembler"]


@attrs.frozen(kw_only=True)
class Turn:
    """One user turn: the final transcripts up to the end-of-turn marker.

    ``text``: the ``is_final`` segments joined with spaces. ``segments``: the
    :class:`STTResultEvent` they came from. ``started_at`` / ``ended_at``:
    ``time.monotonic()`` when the session's turn reader took the first result
    of the turn and its end. ``barged_in``: the caller spoke over our speech
    (the turn began while our TTS audio was arriving and not complete, our
    audio went on during it, or it interrupted us: :class:`SpeechInterruptedEvent`).
    """

    text: str
    segments: tuple[STTResultEvent, ...]
    started_at: float
    ended_at: float
    barged_in: bool = False


Turn.__module__ = "sayna"


class TurnAssembler:
    """Feed events in log order; :meth:`take` returns each turn once it ends."""

    __slots__ = ("_barged", "_segments", "_speaking", "_started")

    def __init__(self) -> None:
        self._segments: list[STTResultEvent] = []
        self._started: float | None = None
        self._barged = False
        self._speaking = False  # our TTS audio is arriving and has not completed

    @property
    def pending(self) -> bool:
        """Whether final segments wait for their end-of-turn marker."""
        return bool(self._segments)

    def take(self, event: Event, now: float) -> Turn | None:
        """Account for ``event`` (fetched at ``now``); the turn it ends, if any."""
        cls = event.__class__
        if cls is STTResultEvent:
            assert isinstance(event, STTResultEvent)
            text = event.transcript.strip()
            if text and self._started is None:
                self._started = now
                # The caller started while our speech was still playing.
                self._barged = self._barged or self._speaking
            if event.is_speech_final:
                # The marker may carry the last words or none (§5.2).
                if text:
                    self._segments.append(event)
                return self.end(now)
            if event.is_final and text:
                self._segments.append(event)
        elif cls is TTSAudioEvent:
            self._speaking = True
            if self._started is not None:
                self._barged = True  # our speech went on while the caller talked
        elif cls is SpeechInterruptedEvent:
            self._speaking = False
            self._barged = True
        elif cls is TTSPlaybackCompleteEvent:
            self._speaking = False
        return None

    def end(self, now: float) -> Turn | None:
        """Close the turn at ``now`` (end of turn, or the session's end); None if empty."""
        segments, self._segments = tuple(self._segments), []
        started, self._started = self._started, None
        barged, self._barged = self._barged, False
        if not segments:
            return None
        return Turn(
            text=" ".join(s.transcript.strip() for s in segments),
            segments=segments,
            started_at=now if started is None else started,
            ended_at=now,
            barged_in=barged,
        )
