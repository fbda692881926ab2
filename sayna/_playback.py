"""A session's synthesized speech, played on a :class:`~sayna.audio.Speaker` as it arrives."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

from sayna._devices import Speaker
from sayna._errors import SaynaValidationError
from sayna._events import TTSAudioEvent, VADEvent
from sayna._g711 import alaw_decode, ulaw_decode
from sayna._resample import Resampler, to_channels
from sayna._wav import PCM16_ENCODINGS

if TYPE_CHECKING:
    from sayna._realtime.session import Session

__all__ = ["BARGE_IN_EVENTS", "Playback"]

#: VAD events after which what is still queued for the speaker is dropped.
BARGE_IN_EVENTS = frozenset({"speech_start", "speech_resumed"})
# The server's TTS output when the config leaves them unset (docs/protocol.rst §4.3.2).
_DEFAULT_FORMAT = "linear16"
_DEFAULT_RATE = 24000


class Playback:
    """Feeds a session's :class:`~sayna.TTSAudioEvent` audio to a speaker until stopped.

    Made by :meth:`Session.play_on <sayna.Session.play_on>`. The audio is
    decoded (G.711) and resampled to the speaker's format by a callback, on
    the session's dispatcher thread; a VAD ``speech_start`` (the caller
    talks over the agent) and :meth:`clear` drop what is queued;
    :meth:`drain` waits until what was received has played. A context
    manager: leaving it stops feeding (what is queued still plays; the
    speaker stays open).
    """

    def __init__(self, session: Session, speaker: Speaker) -> None:
        config = session.tts_config
        if config is None:
            raise SaynaValidationError(
                "play_on() needs speech, and this session has no tts_config "
                "(opened with without_audio=True)",
                field="without_audio",
            )
        fmt = (config.audio_format or _DEFAULT_FORMAT).strip().lower()
        if fmt in PCM16_ENCODINGS:
            self._decode = None
        elif fmt.startswith(("mulaw", "ulaw")):
            self._decode = ulaw_decode
        elif fmt.startswith("alaw"):
            self._decode = alaw_decode
        else:
            raise SaynaValidationError(
                f"play_on() plays PCM and G.711 speech; tts_config.audio_format is {fmt!r}",
                field="audio_format",
            )
        self._session = session
        self._speaker = speaker
        self._rate = config.sample_rate or _DEFAULT_RATE
        self._lock = threading.Lock()
        self._resampler: Resampler
        self._odd: bytes
        self._restart_filter()  # soxr missing: the error comes now, not at the first frame
        self._stopped = False
        session.on(TTSAudioEvent, self._on_audio)
        session.on(VADEvent, self._on_vad)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "playing"
        return f"<Playback {self._rate} Hz -> {self._speaker!r}, {state}>"

    def _on_audio(self, event: TTSAudioEvent) -> None:
        data = event.data if self._decode is None else self._decode(event.data)
        with self._lock:
            if self._stopped:
                return
            data = self._odd + data
            cut = len(data) - len(data) % 2
            self._odd = data[cut:]
            self._play(self._resampler.process(data[:cut]))

    def _play(self, pcm: bytes) -> None:
        # Lock held: the speaker's format, queued after what was fed before.
        if pcm:
            self._speaker.feed(to_channels(pcm, 1, self._speaker.channels))

    def _restart_filter(self) -> None:
        # Lock held (or the constructor): what comes next starts a new stream.
        self._resampler = Resampler(self._rate, self._speaker.sample_rate)
        self._odd = b""  # a byte of a sample split across two frames

    def _on_vad(self, event: VADEvent) -> None:
        if event.event in BARGE_IN_EVENTS:
            self.clear()

    def clear(self) -> None:
        """Drop what is queued for the speaker (call it with ``session.clear()``)."""
        with self._lock:
            self._speaker.clear()
            # A fresh filter: the old one's tail belongs to the dropped speech.
            self._restart_filter()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until the speech received so far has been played; False on ``timeout``.

        Use it, not ``speaker.drain()``, before closing the speaker: the
        session's callbacks may still be feeding its last frames after
        :meth:`~sayna.Session.say` has returned or an iterator has seen the
        ``tts_playback_complete``, and the resampler holds the last few
        milliseconds until this flushes it.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._session.wait_callbacks(timeout):
            return False
        self._feed_tail()
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self._speaker.drain(left)

    def _feed_tail(self) -> None:
        # The filter's last milliseconds end what was said; speech arriving
        # later starts a fresh filter, as after clear().
        with self._lock:
            if self._stopped:
                return
            tail = self._resampler.flush()
            self._restart_filter()
            self._play(tail)

    def stop(self) -> None:
        """Stop feeding the speaker; what is queued still plays."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._session.off(TTSAudioEvent, self._on_audio)
        self._session.off(VADEvent, self._on_vad)

    def __enter__(self) -> Playback:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
