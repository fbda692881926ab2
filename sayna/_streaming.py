"""``Session.speak_stream``: speak text while it is being produced.

Built on the session's public face. The calling thread pulls the pieces (an
LLM's tokens), cuts them into utterances (:mod:`sayna._sentences`) and sends
each with ``speak`` at once; a watcher thread reads the session's events
meanwhile (audio, completion, interruption), so the timings do not depend on
how slowly the pieces come. An exception from the iterable is raised on the
calling thread, after the watcher stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from sayna._errors import (
    SaynaError,
    SaynaNotConnectedError,
    SaynaTimeoutError,
    SaynaValidationError,
)
from sayna._events import (
    CloseEvent,
    ErrorEvent,
    SpeechInterruptedEvent,
    STTResultEvent,
    TTSAudioEvent,
    TTSPlaybackCompleteEvent,
)
from sayna._sentences import SentenceCutter
from sayna._validation import require_bool, require_positive_seconds

if TYPE_CHECKING:
    from sayna._realtime.bargein import BargeIn
    from sayna._realtime.consumers import EventIterator
    from sayna._realtime.session import Session

__all__ = ["Reply", "TextSource", "speak_stream"]

#: What ``speak_stream`` takes: any iterable of text pieces (a list, a generator).
TextSource = Iterable[str]

# How often the watcher looks up from its wait to see whether it should stop.
_POLL = 0.05
# Server errors that end a speak without audio (docs/protocol.rst §3.3).
_SPEAK_FAILED = ("TTS error", "Failed to synthesize speech")


@attrs.frozen(kw_only=True)
class Reply:
    """What ``speak_stream`` spoke.

    ``text``: everything the iterable gave, joined. ``spoken``: the utterances
    that played to the end. ``interrupted``: the caller spoke over it
    (barge-in) and the rest was cancelled. ``audio_bytes``: TTS audio
    received. ``first_audio``: seconds from the first piece to the first
    audio (``None`` if no audio came).
    """

    text: str
    spoken: tuple[str, ...]
    interrupted: bool
    audio_bytes: int
    first_audio: float | None


Reply.__module__ = "sayna"


class _Watcher:
    """Reads the session's events while the caller produces and speaks."""

    def __init__(self, session: Session, events: EventIterator, barge_in: BargeIn | None) -> None:
        self._session = session
        self._events = events
        self._barge_in = barge_in
        #: The caller started talking (by the session's barge-in policy): speak no more.
        self.caller_spoke = False
        self._lock = threading.Lock()
        self.done = threading.Event()
        self.stop = False
        self.first_piece_at: float | None = None
        self.first_audio_at: float | None = None
        self.audio_bytes = 0
        self.interruption: SpeechInterruptedEvent | None = None
        self.error: BaseException | None = None
        self.last: str | None = None  # the last utterance sent
        self.finished_producing = False
        self.thread = threading.Thread(target=self._run, name="sayna-speak-stream", daemon=True)

    def cut_short(self) -> bool:
        """The caller interrupted (or began to): no further sentence may go out."""
        return self.interruption is not None or self.caller_spoke

    def release(self) -> None:
        """The thread never started (the iterable failed first): let the cursor go."""
        self._events.close()

    def sent(self, utterance: str) -> None:
        with self._lock:
            self.last = utterance

    def producing_done(self) -> None:
        with self._lock:
            self.finished_producing = True
        self._check_complete()

    def _check_complete(self) -> None:
        # tts_playback_complete means "the queue drained", not "this speak is
        # done" (§3.3): the stream is over when the session's timing of our
        # last utterance has its completion (set by the reader, in order).
        with self._lock:
            if not self.finished_producing:
                return
            last = self.last
        if last is None:
            self.done.set()
            return
        for timing in reversed(self._session.stats().speech):
            if timing.text == last:
                if timing.complete is not None:
                    self.done.set()
                return

    def _run(self) -> None:
        try:
            while not self.stop and not self.done.is_set():
                try:
                    event = next(self._events)
                except SaynaTimeoutError:
                    continue
                except StopIteration:
                    self.error = SaynaNotConnectedError("the session closed while speaking")
                    break
                cls = event.__class__
                if cls is TTSAudioEvent:
                    if self.first_audio_at is None:
                        self.first_audio_at = time.monotonic()
                    self.audio_bytes += len(event.data)  # type: ignore[attr-defined]
                elif cls is TTSPlaybackCompleteEvent:
                    self._check_complete()
                elif cls is STTResultEvent and self._barge_in is not None:
                    # The reader has sent clear already if our speech was playing;
                    # its report comes a little later, and no further sentence
                    # may go out meanwhile.
                    if self._barge_in.interrupts(event) is not None:
                        self.caller_spoke = True
                        self._check_complete()
                elif cls is SpeechInterruptedEvent:
                    self.interruption = event  # type: ignore[assignment]
                    break
                elif cls is ErrorEvent and event.message.startswith(_SPEAK_FAILED):  # type: ignore[attr-defined]
                    self.error = SaynaError(f"the server could not speak: {event.message}")  # type: ignore[attr-defined]
                    break
                elif cls is CloseEvent:
                    close: CloseEvent = event  # type: ignore[assignment]
                    self.error = close.error or SaynaNotConnectedError(
                        "the session closed while speaking"
                    )
                    break
        except BaseException as exc:  # the session's fatal error, from the iterator
            self.error = exc
        finally:
            self._events.close()
            self.done.set()


def speak_stream(
    session: Session, chunks: TextSource, *, allow_interruption: bool = True, timeout: float = 60.0
) -> Reply:
    """See :meth:`Session.speak_stream`."""
    require_bool(allow_interruption, "allow_interruption")
    require_positive_seconds(timeout, "timeout")
    if isinstance(chunks, (str, bytes)) or not isinstance(chunks, Iterable):
        raise SaynaValidationError(
            "chunks must be an iterable of text pieces (wrap one text in a list)", field="chunks"
        )
    deadline = time.monotonic() + timeout
    if not session.skip_pending():
        raise SaynaNotConnectedError("speak_stream() needs an open session; this one is closed")
    # The watcher's cursor is open from here, so nothing is missed; its thread
    # starts after the first speak, which then goes out without waiting for it.
    policy = session.barge_in if allow_interruption else None
    watcher = _Watcher(session, session.events(timeout=_POLL), policy)
    cutter = SentenceCutter()
    given: list[str] = []
    sent: list[str] = []

    def say(utterance: str) -> None:
        watcher.sent(utterance)
        session.speak(utterance, allow_interruption=allow_interruption)
        sent.append(utterance)
        if len(sent) == 1:
            watcher.thread.start()

    iterator = iter(chunks)
    try:
        for piece in iterator:
            if not isinstance(piece, str):
                raise SaynaValidationError(
                    f"speak_stream() pieces must be str, not {type(piece).__name__}",
                    field="chunks",
                )
            if watcher.first_piece_at is None:
                watcher.first_piece_at = time.monotonic()
            given.append(piece)
            if (
                watcher.interruption is not None
                or watcher.error is not None
                or watcher.caller_spoke
            ):
                break
            if time.monotonic() > deadline:
                raise SaynaTimeoutError(f"speak_stream() did not finish within {timeout:g} s")
            for utterance in cutter.feed(piece):
                # One piece may hold several sentences: the caller may have
                # interrupted while the previous one was being sent.
                if watcher.cut_short():
                    break
                say(utterance)
        else:
            rest = cutter.flush()
            stopped = watcher.interruption is not None or watcher.caller_spoke
            if rest is not None and not stopped and watcher.error is None:
                say(rest)
        if not sent:
            watcher.thread.start()  # nothing to speak: it only has to stop again
        watcher.producing_done()
        finished = watcher.done.wait(max(0.0, deadline - time.monotonic()))
        if not finished:
            raise SaynaTimeoutError(
                f"speak_stream() did not finish within {timeout:g} s"
                f" ({watcher.audio_bytes} bytes of audio so far)"
            )
    finally:
        watcher.stop = True
        close = getattr(iterator, "close", None)
        if close is not None:
            close()  # a generator stopped early runs its cleanup now
        if watcher.thread.ident is not None:
            watcher.thread.join()
        else:
            watcher.release()
    if watcher.error is not None:
        raise watcher.error
    interruption = watcher.interruption
    cancelled = set(interruption.cancelled_text) if interruption is not None else set()
    first_audio = None
    if watcher.first_audio_at is not None and watcher.first_piece_at is not None:
        first_audio = watcher.first_audio_at - watcher.first_piece_at
    return Reply(
        text="".join(given),
        spoken=tuple(u for u in sent if u not in cancelled),
        interrupted=interruption is not None or watcher.caller_spoke,
        audio_bytes=watcher.audio_bytes,
        first_audio=first_audio,
    )
