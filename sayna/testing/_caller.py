"""The caller a :class:`~sayna.testing.FakeSession` can play: speech, silence, a hang-up.

A :class:`Caller` queues *steps* (``say``, ``backchannel``, ``silence``,
``hang_up``) and plays them one after another on one thread of the session,
so a test writes a script in a few calls and waits only where it needs to.
Speech reaches the client the way the real server reports a remote speaker
(docs/protocol.rst §5.2): interim ``stt_result`` frames that grow word by word
as the words are "spoken", one final result per sentence, then the end of the
turn (``is_speech_final``). The caller never sends audio: what the client sees
is what the stand-in STT would report, paced like speech.

The caller talks to its session through :class:`CallerSide` (the stand-in
behaviour implements it), so this module never names the behaviour.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sayna.testing._audio import encode_speech

__all__ = ["Caller", "CallerSide", "CallerSpeech"]

# Stand-in speech goes to the recogniser in pieces this long, like room audio frames.
_AUDIO_CHUNK_MS = 20
# A sentence ends at . ? ! followed by a space; each sentence is one segment
# with its own final result, as a streaming recogniser reports them.
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


class CallerSide(Protocol):
    """What a caller needs from the session it plays in (the stand-in behaviour)."""

    def caller_hears(self) -> str | None:
        """Why the session's STT cannot hear the caller (no audio, not listened to), or None."""

    def caller_result(self, transcript: str, *, final: bool, speech_final: bool) -> None:
        """Send one ``stt_result`` frame for the caller's speech."""

    def caller_vad(self, event: str, silence_ms: int | None) -> None:
        """Send one ``vad_event`` frame (§5.7)."""

    def caller_audio(self, pcm: bytes) -> None:
        """Feed stand-in speech to the session's recogniser, as the caller's room audio."""

    def caller_sample_rate(self) -> int:
        """The sample rate the session's recogniser listens at."""

    def caller_leaves(self) -> None:
        """The caller leaves the room / ends the call: ``participant_disconnected``, then Close."""

    def wait_tts_playing(self, stop: Callable[[], bool]) -> bool:
        """Block until TTS audio of an utterance is flowing; False when ``stop()`` came first."""

    def caller_stopped(self) -> bool:
        """The session is ending: steps still queued will not play."""

    def caller_sleep(self, seconds: float) -> bool:
        """Sleep; True when the session ended meanwhile."""

    def caller_thread(self, target: Callable[[], None]) -> threading.Thread:
        """A daemon thread of the session (not started)."""


class CallerSpeech:
    """One step of a :class:`Caller`'s script: what it is and whether it has played.

    ``started_at`` and ``ended_at`` are ``time.monotonic()`` seconds (None until
    then). ``spoken_at`` is when the first word was heard (the first result
    sent), for speech. :meth:`wait` blocks until the step has played.
    """

    def __init__(self, kind: str, text: str = "") -> None:
        self.kind = kind
        self.text = text
        self.started_at: float | None = None
        self.spoken_at: float | None = None
        self.ended_at: float | None = None
        self.error: str | None = None
        self._done = threading.Event()

    def __repr__(self) -> str:
        state = "done" if self._done.is_set() else "pending"
        shown = f" {self.text!r}" if self.text else ""
        return f"<CallerSpeech {self.kind}{shown} {state}>"

    @property
    def done(self) -> bool:
        """Whether the step has played (or failed, or was dropped with its session)."""
        return self._done.is_set()

    def wait(self, timeout: float = 10.0) -> CallerSpeech:
        """Block until the step has played; returns self.

        Raises TimeoutError after ``timeout`` seconds, and RuntimeError when the
        step could not play (the session has no STT, does not listen to the
        caller, or ended first).
        """
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self!r} did not finish within {timeout} s")
        if self.error is not None:
            raise RuntimeError(f"{self.kind} did not play: {self.error}")
        return self

    def _finish(self, error: str | None = None) -> None:
        if self.ended_at is None:
            self.ended_at = time.monotonic()
        self.error = error
        self._done.set()


def _positive(value: float, name: str) -> None:
    if not value >= 0:
        raise ValueError(f"{name} must be zero or more, not {value!r}")


class Caller:
    """The remote speaker of one fake session (``fake_session.caller``).

    Every method queues a step and returns its :class:`CallerSpeech` at once;
    steps play in the order they were queued. Steps still queued when the
    session ends are dropped (their ``wait`` raises RuntimeError).
    """

    def __init__(self, side: CallerSide) -> None:
        self._side = side
        self._lock = threading.Lock()
        self._steps: collections.deque[tuple[CallerSpeech, Callable[[CallerSpeech], None]]] = (
            collections.deque()
        )
        self._wakeup = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._stopped = False

    def __repr__(self) -> str:
        with self._lock:
            pending = len(self._steps)
        return f"<Caller {pending} step(s) queued>"

    # --- the script -----------------------------------------------------------------

    def say(
        self,
        text: str,
        *,
        interim: bool = True,
        word_ms: int = 120,
        during_reply: bool = False,
        vad: bool = False,
        audio: bool = False,
    ) -> CallerSpeech:
        """Speak ``text`` as one turn: growing interims, a final per sentence, the turn's end.

        One word takes ``word_ms``; with ``interim`` each word adds an interim
        result. ``during_reply`` first waits until the session's TTS audio is
        flowing (sent on the socket, or published into the LiveKit room), so
        the caller talks over the agent. ``vad`` adds ``vad_event`` frames
        (``speech_start``, then ``turn_end``): that message is in the server's
        schema, but Sayna 0.1.15 never sends it, so use it only to model a
        server that does. ``audio`` sends the text instead as stand-in speech
        into the session's recogniser, in real time, as the caller's room
        audio: the recogniser reports it (interims per word as the audio
        arrives, one final, the end of the turn), and ``interim``/``word_ms``
        do not apply.
        """
        if not text.strip():
            raise ValueError("the caller cannot say blank text")
        _positive(word_ms, "word_ms")
        segments = [part for part in _SENTENCE_END.split(text.strip()) if part.strip()]

        def play(step: CallerSpeech) -> None:
            if audio:
                self._speak_audio(step, text.strip(), during_reply, vad)
            else:
                self._speak(step, segments, interim, word_ms / 1000, during_reply, vad)

        return self._queue(CallerSpeech("say", text), play)

    def backchannel(
        self,
        text: str = "mhm",
        *,
        interim: bool = True,
        word_ms: int = 120,
        during_reply: bool = False,
        vad: bool = False,
        audio: bool = False,
    ) -> CallerSpeech:
        """A short acknowledgement ("mhm", "okay"), typically ``during_reply``.

        On the wire it is a turn like any other (a real recogniser reports it
        too); it is meant *not* to interrupt an agent whose barge-in ignores
        such words.
        """
        speech = self.say(
            text, interim=interim, word_ms=word_ms, during_reply=during_reply, vad=vad, audio=audio
        )
        speech.kind = "backchannel"
        return speech

    def silence(self, seconds: float) -> CallerSpeech:
        """Say nothing for ``seconds`` (later steps wait)."""
        _positive(seconds, "seconds")

        def play(step: CallerSpeech) -> None:
            if self._side.caller_sleep(seconds):
                step._finish("the session ended")

        return self._queue(CallerSpeech("silence"), play)

    def hang_up(self) -> CallerSpeech:
        """Leave the call: ``participant_disconnected``, then the server closes the socket."""

        def play(step: CallerSpeech) -> None:
            self._side.caller_leaves()

        return self._queue(CallerSpeech("hang_up"), play)

    def script(self, *steps: str | float | None) -> list[CallerSpeech]:
        """Queue several steps: a str is said, a number is that many seconds of silence,
        ``None`` hangs up. ``caller.script("Hello.", 0.5, "Bye.", None)``.
        """
        handles: list[CallerSpeech] = []
        for step in steps:
            if step is None:
                handles.append(self.hang_up())
            elif isinstance(step, str):
                handles.append(self.say(step))
            elif isinstance(step, (int, float)) and not isinstance(step, bool):
                handles.append(self.silence(float(step)))
            else:
                raise TypeError(f"a script step is a str, a number or None, not {step!r}")
        return handles

    def run_script(self, play: Callable[[Caller], object]) -> CallerSpeech:
        """Call ``play(self)`` as the next step, on the caller's thread (FakeServer(caller=))."""

        def run(step: CallerSpeech) -> None:
            play(self)

        return self._queue(CallerSpeech("script"), run)

    # --- playing --------------------------------------------------------------------

    def _queue(self, step: CallerSpeech, play: Callable[[CallerSpeech], None]) -> CallerSpeech:
        with self._lock:
            if self._stopped:
                step._finish("the session ended")
                return step
            self._steps.append((step, play))
            if self._thread is None:
                self._thread = self._side.caller_thread(self._run)
                self._thread.start()
            self._wakeup.notify_all()
        return step

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._steps and not self._stopped:
                    self._wakeup.wait(0.25)
                    if self._side.caller_stopped():
                        self._stopped = True
                if self._stopped:
                    dropped = list(self._steps)
                    self._steps.clear()
                    break
                step, play = self._steps.popleft()
            step.started_at = time.monotonic()
            try:
                play(step)
            finally:
                if not step.done:
                    step._finish()
        for step, _ in dropped:
            step._finish("the session ended")

    def stop(self) -> None:
        """The session ends: drop queued steps and let the thread finish."""
        with self._lock:
            self._stopped = True
            self._wakeup.notify_all()

    def join(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _may_speak(self, step: CallerSpeech, during_reply: bool) -> bool:
        """Whether the caller can start ``step`` now; if not, the step ends with the reason."""
        side = self._side
        problem = side.caller_hears()
        if problem is not None:
            step._finish(problem)
            return False
        if during_reply and not side.wait_tts_playing(side.caller_stopped):
            step._finish("the session ended before any TTS audio flowed")
            return False
        return True

    def _speak(
        self,
        step: CallerSpeech,
        segments: list[str],
        interim: bool,
        word_seconds: float,
        during_reply: bool,
        vad: bool,
    ) -> None:
        side = self._side
        if not self._may_speak(step, during_reply):
            return
        if vad:
            side.caller_vad("speech_start", None)
        for segment in segments:
            words = segment.split()
            for count in range(1, len(words) + 1):
                if side.caller_sleep(word_seconds):
                    step._finish("the session ended")
                    return
                if interim:
                    side.caller_result(" ".join(words[:count]), final=False, speech_final=False)
                    if step.spoken_at is None:
                        step.spoken_at = time.monotonic()
            side.caller_result(segment, final=True, speech_final=False)
            if step.spoken_at is None:
                step.spoken_at = time.monotonic()
        if vad:
            side.caller_vad("turn_end", round(word_seconds * 1000))
        side.caller_result("", final=True, speech_final=True)

    def _speak_audio(self, step: CallerSpeech, text: str, during_reply: bool, vad: bool) -> None:
        side = self._side
        if not self._may_speak(step, during_reply):
            return
        rate = side.caller_sample_rate()
        pcm = encode_speech(text, rate)
        chunk = rate * 2 * _AUDIO_CHUNK_MS // 1000
        if vad:
            side.caller_vad("speech_start", None)
        started = time.monotonic()
        starts = range(0, len(pcm), chunk)
        for index, start in enumerate(starts):
            # Real time: chunk n leaves when n chunks' worth of speech has passed.
            delay = started + index * _AUDIO_CHUNK_MS / 1000 - time.monotonic()
            if delay > 0 and side.caller_sleep(delay):
                step._finish("the session ended")
                return
            if vad and index == len(starts) - 1:
                # The recogniser ends the turn on the last piece: the VAD's turn_end first.
                side.caller_vad("turn_end", 0)
            side.caller_audio(pcm[start : start + chunk])
            if step.spoken_at is None:
                step.spoken_at = time.monotonic()
