"""What a session does for a conversation: turns, streamed replies, the conveniences.

A base class of :class:`~sayna.Session` (its methods render as the session's
own), like :mod:`~sayna._realtime.callbacks` and :mod:`~sayna._realtime.readyfacts`:
thin, documented methods over the modules that own each feature — user turns
(:mod:`sayna._realtime.turnreader`, :mod:`sayna._turns`), ``speak_stream``
(:mod:`sayna._streaming`) and the blocking conveniences (:mod:`sayna._conveniences`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

from sayna import _conveniences
from sayna._audio import AudioResult
from sayna._streaming import Reply, TextSource, speak_stream
from sayna._turns import Turn
from sayna._validation import require_wait

if TYPE_CHECKING:
    from sayna._realtime.session import Session
    from sayna._realtime.turnreader import SessionTurns

__all__ = ["Conversing"]


class Conversing:
    """The conversation face of :class:`~sayna.Session`."""

    __slots__ = ()

    _turns: SessionTurns

    @property
    def _session(self) -> Session:
        # Only Session has this base; the features take the public face.
        return cast("Session", self)

    # --- turns (sayna._realtime.turnreader) -------------------------------------------

    def listen(self, timeout: float | None = None) -> Turn:
        """The next user turn: ``is_final`` transcripts joined up to the end of turn.

        Every turn is returned once, in order, including one that ended before
        the call (while you were speaking your answer, say); the session keeps
        turns from the first ``listen()`` or :meth:`turns` call on. Raises
        :class:`SaynaTimeoutError` after ``timeout`` seconds without a whole
        turn, and the session's closing error once it has ended and every
        turn was returned (a turn cut short by the end is returned first).
        """
        return self._turns.listen(require_wait(timeout))

    def turns(self, timeout: float | None = None) -> Iterator[Turn]:
        """Iterate over user turns as :meth:`listen` returns them; ends with the session.

        The session keeps turns for :meth:`listen` from the first call of
        either (turns still buffered then included): call ``turns()`` early,
        before speaking a greeting, so that nothing said meanwhile is missed.
        ``timeout`` bounds the wait for each turn (:class:`SaynaTimeoutError`).
        A normal end stops the iteration; an abnormal one raises its error.
        """
        return self._turns.turns(require_wait(timeout))

    def speak_stream(
        self,
        chunks: TextSource,
        *,
        allow_interruption: bool = True,
        timeout: float = 60.0,
    ) -> Reply:
        """Speak text as it is produced (an LLM's tokens); return once it has played.

        ``chunks`` is any iterable of text pieces. They are cut into
        utterances at sentence ends (the first one early, for a short time to
        first audio; never inside a word; "Dr." or "3.5" end nothing), and
        each is spoken while the iterable goes on producing. Returns when the
        last audio has arrived, or early when the caller interrupted
        (``barge_in``); see :class:`Reply`. ``timeout`` bounds the whole call
        (:class:`SaynaTimeoutError`).
        """
        return speak_stream(
            self._session, chunks, allow_interruption=allow_interruption, timeout=timeout
        )

    # --- conveniences (sayna._conveniences) ------------------------------------------

    def say(self, text: str, *, timeout: float = 30.0) -> AudioResult:
        """Speak ``text``; block until the TTS queue drains; return the audio.

        The audio is everything received until the next ``tts_playback_complete``,
        which means "the queue drained": call it only when nothing else is being
        spoken. Blank text is refused; ``.save("x.wav")`` writes a playable file.
        If a reconnect loses the text, :class:`SaynaConnectionError` at once.
        """
        return _conveniences.say(self._session, text, timeout=timeout)

    def stream_audio(
        self,
        audio: _conveniences.AudioSource,
        *,
        realtime: bool = True,
        speed: float = 1.0,
        chunk_ms: int = 100,
        progress: _conveniences.ProgressCallback | None = None,
    ) -> int:
        """Send a WAV file, PCM bytes or chunks for speech-to-text; return bytes sent.

        WAV files are converted to :attr:`stt_config`'s rate and channels; ``realtime``
        paces frames like a microphone; ``progress(sent, total)`` follows along.
        """
        return _conveniences.stream_audio(
            self._session,
            audio,
            realtime=realtime,
            speed=speed,
            chunk_ms=chunk_ms,
            progress=progress,
        )

    def transcribe(
        self,
        audio: _conveniences.AudioSource,
        *,
        timeout: float = 30.0,
        realtime: bool = False,
        speed: float = 1.0,
        chunk_ms: int = 100,
        progress: _conveniences.ProgressCallback | None = None,
    ) -> str:
        """Send ``audio`` (as :meth:`stream_audio`) and return its final transcript.

        ``audio`` may be what :meth:`say` or :meth:`Sayna.speak_rest` returned.
        It goes as fast as the server reads it; ``realtime=True`` paces it like
        a microphone. Final results up to the end-of-turn marker that follows
        the last frame; ``timeout`` bounds the wait after the last frame. A
        reconnect meanwhile raises :class:`SaynaConnectionError` at once (audio
        was lost), never a transcript with a gap.
        """
        return _conveniences.transcribe(
            self._session,
            audio,
            timeout=timeout,
            realtime=realtime,
            speed=speed,
            chunk_ms=chunk_ms,
            progress=progress,
        )
