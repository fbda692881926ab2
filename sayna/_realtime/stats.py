"""Session counters and per-utterance timings: ``Session.stats()``.

Counters are kept by each connection (its reader and its send lock count
without extra locking) and summed over the connections of a session. Speech
timings are measured from ``speak()`` with ``time.monotonic()``.

TTS is serial and the server marks only the queue draining
(``tts_playback_complete``), not each utterance's end (docs/protocol.rst §3.3), so
the timings are exact for one utterance at a time (what ``say()`` and a
turn-taking agent do). With several queued: an utterance's ``first_audio`` is
the first audio frame after it was queued, audio counts toward the oldest
utterance not yet complete, and one completion completes them all.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Protocol

import attrs

from sayna import _telemetry as telemetry

__all__ = ["SessionStats", "SpeechTiming", "SpeechTracker"]

# How many utterances stats() reports (the newest).
SPEECH_KEPT = 100


@attrs.frozen
class SpeechTiming:
    """One ``speak()``: seconds from the call to its first audio frame and to completion.

    ``first_audio`` / ``complete`` stay ``None`` until that happens (or if it
    never did: a drop, a ``clear()``, a blank text). ``audio_bytes``: TTS audio
    received for it.
    """

    text: str
    first_audio: float | None
    complete: float | None
    audio_bytes: int


@attrs.frozen
class SessionStats:
    """Counters of a session so far, over every connection it had.

    Messages are WebSocket text and binary messages (the config frame
    included, control frames not); audio bytes are binary payloads.
    ``ping_rtt``: the last keep-alive ping's round trip in seconds (``None``
    before the first answered ping). ``speech``: the last 100 utterances,
    oldest first.
    """

    reconnects: int
    messages_received: int
    messages_sent: int
    audio_bytes_received: int
    audio_bytes_sent: int
    ping_rtt: float | None
    speech: tuple[SpeechTiming, ...]


# Pickles name the public path, which survives moves of this module (see
# sayna/_stats.py for the one they had before).
SpeechTiming.__module__ = SessionStats.__module__ = "sayna"


class _Utterance:
    __slots__ = ("audio_bytes", "complete", "first_audio", "span", "started", "text")

    def __init__(self, text: str, started: float, session_id: int) -> None:
        self.text = text
        self.started = started
        # Its OpenTelemetry span (sayna._telemetry), None without the API.
        self.span: object = telemetry.speech_start(text, session_id)
        self.first_audio: float | None = None
        self.complete: float | None = None
        self.audio_bytes = 0

    def timing(self) -> SpeechTiming:
        first = None if self.first_audio is None else self.first_audio - self.started
        done = None if self.complete is None else self.complete - self.started
        return SpeechTiming(self.text, first, done, self.audio_bytes)


class SpeechTracker:
    """Utterances in flight and the last :data:`SPEECH_KEPT` ones, for timings and drops."""

    def __init__(self, session_id: int) -> None:
        #: The session's number, on its speech spans (sayna._telemetry).
        self.session_id = session_id
        self._lock = threading.Lock()
        self._open: list[_Utterance] = []
        self._done: collections.deque[_Utterance] = collections.deque(maxlen=SPEECH_KEPT)
        #: True while an utterance waits for audio or completion: the reader
        #: checks this one attribute per frame and takes the lock only then.
        self.active = False

    def spoke(self, text: str, now: float) -> object:
        """``speak(text)`` is about to send; return a token for :meth:`withdraw`."""
        utterance = _Utterance(text, now, self.session_id)
        with self._lock:
            self._open.append(utterance)
            self.active = True
        return utterance

    def withdraw(self, token: object) -> None:
        """The ``speak()`` of ``token`` was never sent."""
        with self._lock:
            if token in self._open:
                self._open.remove(token)
            self.active = bool(self._open)
            spans = _spans([token])  # type: ignore[list-item]
        _end(spans, time.monotonic(), "not_sent")

    def audio(self, size: int, now: float) -> None:
        with self._lock:
            if not self._open:
                return
            for utterance in self._open:
                if utterance.first_audio is None:
                    utterance.first_audio = now
                    if utterance.span is not None:  # once per speech, not per frame
                        telemetry.speech_audio(utterance.span, utterance.started, now)
            self._open[0].audio_bytes += size

    def complete(self, now: float) -> None:
        with self._lock:
            done = list(self._open)
            for utterance in done:
                utterance.complete = now
                self._done.append(utterance)
            self._open.clear()
            self.active = False
            spans = _spans(done)
        _end(spans, now)

    def take_lost(self) -> tuple[str, ...]:
        """The texts not complete yet (the connection dropped); they are done, unfinished."""
        with self._lock:
            cut = list(self._open)
            self._done.extend(cut)
            self._open.clear()
            self.active = False
            spans = _spans(cut)
        _end(spans, time.monotonic(), "connection_lost")
        return tuple(u.text for u in cut)

    def end_spans(self, failure: str) -> None:
        """The session ended: the spans of speech still in flight end with ``failure``."""
        with self._lock:
            spans = _spans(self._open)
        _end(spans, time.monotonic(), failure)

    def timings(self) -> tuple[SpeechTiming, ...]:
        with self._lock:
            every = [*self._done, *self._open]
        return tuple(u.timing() for u in every[-SPEECH_KEPT:])


def _spans(utterances: list[_Utterance]) -> list[tuple[object, float]]:
    """Take the spans of ``utterances`` (under the tracker's lock: each ends once)."""
    taken = []
    for utterance in utterances:
        if utterance.span is not None:
            taken.append((utterance.span, utterance.started))
            utterance.span = None
    return taken


def _end(spans: list[tuple[object, float]], now: float, failure: str | None = None) -> None:
    # Outside the lock: an exporter may take its time.
    for span, started in spans:
        telemetry.speech_end(span, started, now, failure)


class _Counted(Protocol):
    """What a connection counts (see :class:`~sayna._realtime.connection.Connection`)."""

    received_messages: int
    received_audio: int
    sent_messages: int
    sent_audio: int

    @property
    def rtt(self) -> float | None: ...


class Counters:
    """A session's totals over the connections that ended, and its reconnects.

    Not locked: the core updates and reads it under its own lock.
    """

    __slots__ = ("audio_in", "audio_out", "received", "reconnects", "rtt", "sent")

    def __init__(self) -> None:
        self.reconnects = 0
        self.received = self.audio_in = self.sent = self.audio_out = 0
        self.rtt: float | None = None  # the last answered ping's, of any connection

    def retire(self, connection: _Counted) -> None:
        """Add an ended connection's counts (once per connection)."""
        self.received += connection.received_messages
        self.audio_in += connection.received_audio
        self.sent += connection.sent_messages
        self.audio_out += connection.sent_audio
        if connection.rtt is not None:
            self.rtt = connection.rtt

    def snapshot(self, current: _Counted | None, speech: tuple[SpeechTiming, ...]) -> SessionStats:
        """The totals so far, with the live connection's (``current``) counted in."""
        received, audio_in = self.received, self.audio_in
        sent, audio_out, rtt = self.sent, self.audio_out, self.rtt
        if current is not None:
            received += current.received_messages
            audio_in += current.received_audio
            sent += current.sent_messages
            audio_out += current.sent_audio
            if current.rtt is not None:
                rtt = current.rtt
        return SessionStats(self.reconnects, received, sent, audio_in, audio_out, rtt, speech)
