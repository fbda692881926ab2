"""Blocking conveniences over a realtime :class:`~sayna.Session`.

Say a text and get its audio; stream a WAV file (or chunks) at real-time pace;
transcribe a file to its final text. Built on the session's public API only
(``speak``, ``on_audio_input``, ``next_event``), so they work beside callbacks
and iterators.

Both :func:`say` and :func:`transcribe` own the session's event stream while
they run: events that arrived earlier and were never consumed are skipped
first (callbacks still see everything), and the events they wait for are
consumed (a later ``events()`` iterator starts after them). They are meant for
one conversation turn at a time: the server does not tag audio or results
with the request that caused them (docs/protocol.rst §3.3), so a ``speak`` or audio
sent by another thread meanwhile would be mixed in.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

import attrs

from sayna._audio import DEFAULT_SAMPLE_RATE, AudioResult
from sayna._devices import Microphone
from sayna._errors import (
    SaynaConnectionError,
    SaynaError,
    SaynaNotConnectedError,
    SaynaTimeoutError,
    SaynaValidationError,
)
from sayna._events import (
    CloseEvent,
    ErrorEvent,
    Event,
    EventsDiscardedEvent,
    ReconnectedEvent,
    ReconnectingEvent,
    SpeechInterruptedEvent,
    STTResultEvent,
    TTSAudioEvent,
    TTSPlaybackCompleteEvent,
)
from sayna._models import STTConfig, TTSConfig
from sayna._resample import Resampler, resample, to_channels
from sayna._validation import is_finite_number, require_positive_seconds, require_text
from sayna._wav import (
    PCM16_ENCODINGS,
    WavAudio,
    bytes_per_second,
    check_pcm_format,
    pace,
    read_wav,
    split_pcm,
)

if TYPE_CHECKING:
    from sayna._realtime.session import Session

__all__ = [
    "AudioSource",
    "ProgressCallback",
    "input_pcm",
    "say",
    "stall_note",
    "stream_audio",
    "transcribe",
]

#: ``progress(bytes_sent, total_bytes)``; ``total_bytes`` is None for an iterable of chunks.
ProgressCallback = Callable[[int, int | None], None]
#: A WAV path, a read :class:`WavAudio`, an :class:`AudioResult` (``say()``,
#: ``speak_rest()``), a :class:`Microphone`, raw PCM bytes, or an iterable of PCM chunks.
AudioSource = (
    str
    | os.PathLike[str]
    | WavAudio
    | AudioResult
    | Microphone
    | bytes
    | bytearray
    | memoryview
    | Iterable[bytes]
)

C = TypeVar("C", STTConfig, TTSConfig)

# The server's TTS output when the config leaves them unset (docs/protocol.rst §4.3.2).
_DEFAULT_TTS_FORMAT = "linear16"
_DEFAULT_TTS_RATE = 24000
# After the audio ends with no turn open (the file ends in silence, or holds
# no speech at all), wait this long for late results before calling the text
# final: a recogniser reports speech it heard within its endpointing delay.
_SETTLE_SECONDS = 1.0
# An end-of-turn marker after the last frame ends the transcript only if no
# further result follows this soon: a server still working through audio sent
# faster than it processes it may close one turn and then report the next.
_TURN_QUIET_SECONDS = 0.3

# Server errors that end a speak without a completion, and the one after
# which a completion still follows (§3.3).
_SPEAK_REFUSED = (
    "Failed to synthesize speech",
    "Audio processing is disabled",
    "Voice manager not configured",
)
_SPEAK_FAILED = "TTS error"
_STT_FAILED = ("STT streaming error", "Failed to process audio")


def _audio_config(config: C | None) -> C:
    """The session's STT or TTS config; a session without audio has neither."""
    if config is None:
        raise SaynaValidationError(
            "this session has no audio (opened with without_audio=True)", field="without_audio"
        )
    return config


def _closed(event: CloseEvent, doing: str) -> SaynaError:
    if event.error is not None:
        return event.error
    return SaynaNotConnectedError(f"the session closed while {doing}")


def stall_note(session: Session) -> str:
    """For a timeout message: the consumer that holds the session's reader, if one does."""
    held_by = session.blocked_by
    return f"; {held_by}" if held_by else ""


def _skip_unconsumed(session: Session, call: str) -> None:
    """Pass over what arrived before the call, so that only new events count.

    That is the documented contract, so nothing is logged for events that were
    dropped meanwhile; a session that already ended says so.
    """
    if not session.skip_pending():
        raise SaynaNotConnectedError(f"{call} needs an open session; this one is closed")


def say(
    session: Session,
    text: str,
    *,
    timeout: float = 30.0,
) -> AudioResult:
    """Speak ``text`` and return the whole utterance's audio once synthesis ends.

    Collects the binary audio from the ``speak`` until the next
    ``tts_playback_complete``, which means "the TTS queue drained" (not "this
    speak is done"): only correct when nothing else is queued. The result's
    ``audio_format``/``sample_rate`` come from the session's ``tts_config``,
    so ``.save("x.wav")`` writes a playable file. Blank text is refused.
    With barge-in (``connect(barge_in=...)``) it returns early when the
    caller speaks over it, with what arrived so far and ``interrupted=True``.
    Raises :class:`SaynaTimeoutError` after ``timeout`` seconds,
    :class:`SaynaError` when the server reports a synthesis failure, and
    :class:`SaynaConnectionError` as soon as a reconnect reports the text lost.
    """
    require_text(text, "text")  # the server answers blank text with nothing at all
    require_positive_seconds(timeout, "timeout")
    config = _audio_config(session.tts_config)
    _skip_unconsumed(session, "say()")
    session.speak(text)
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    failure: str | None = None
    interrupted = False
    while True:
        remaining = deadline - time.monotonic()
        event = session.next_event(timeout=remaining) if remaining > 0 else None
        if event is None:
            received = sum(map(len, chunks))
            raise SaynaTimeoutError(
                f"speech not complete within {timeout:g} s ({received} bytes of audio so far)"
                + stall_note(session)
            )
        if isinstance(event, TTSAudioEvent):
            chunks.append(event.data)
        elif isinstance(event, TTSPlaybackCompleteEvent):
            break
        elif isinstance(event, SpeechInterruptedEvent):
            interrupted = True  # barge-in: the rest was cancelled, no completion follows
            break
        elif isinstance(event, ErrorEvent):
            if event.message.startswith(_SPEAK_REFUSED):
                raise SaynaError(f"the server could not speak: {event.message}")
            if event.message.startswith(_SPEAK_FAILED):
                failure = event.message  # a completion still follows
        elif isinstance(event, CloseEvent):
            raise _closed(event, "waiting for speech")
        elif isinstance(event, ReconnectedEvent) and text in event.lost_speech:
            # The server forgot the queued speech with the old connection: no
            # completion will come for it (issue 22, item 11).
            raise SaynaConnectionError(
                f"the connection dropped before the speech was complete; the session"
                f" reconnected (attempt {event.attempt}) but the server lost the text"
                f" {text!r} ({sum(map(len, chunks))} bytes of its audio had arrived);"
                f" say it again"
            )
    if failure is not None:
        raise SaynaError(f"the server could not speak: {failure}")
    headers = {
        "x-audio-format": config.audio_format or _DEFAULT_TTS_FORMAT,
        "x-sample-rate": str(config.sample_rate or _DEFAULT_TTS_RATE),
    }
    return AudioResult(b"".join(chunks), headers, interrupted=interrupted)


def _from_result(result: AudioResult) -> WavAudio:
    """The PCM of an :class:`AudioResult`, described by its headers (always mono)."""
    if not result.is_pcm:
        kind = result.audio_format or result.content_type or "not PCM"
        raise SaynaValidationError(
            f"the AudioResult holds {kind} audio; only 16-bit linear PCM can be sent for"
            " speech-to-text (ask for audio_format='linear16')",
            field="audio",
        )
    return WavAudio(
        pcm=result.data[: len(result.data) - len(result.data) % 2],
        sample_rate=result.sample_rate or DEFAULT_SAMPLE_RATE,
        channels=1,
        sample_width=2,
        name="the AudioResult",
    )


def _fit(audio: WavAudio, config: STTConfig) -> WavAudio:
    """``audio`` converted to the session's rate and channel count, then checked.

    Channels are mixed down before resampling and copied up after it, so the
    resampler always works on the fewer channels.
    """
    if audio.sample_width == 2 and config.encoding.lower() in PCM16_ENCODINGS:
        if config.channels < audio.channels:
            audio = _rechannel(audio, config.channels)
        if audio.sample_rate != config.sample_rate:
            pcm = resample(
                audio.pcm, audio.sample_rate, config.sample_rate, channels=audio.channels
            )
            audio = attrs.evolve(audio, pcm=pcm, sample_rate=config.sample_rate)
        if config.channels > audio.channels:
            audio = _rechannel(audio, config.channels)
    audio.check(config)
    if not audio.pcm:
        raise SaynaValidationError(f"{audio.name} holds no audio (0 frames)", field="audio")
    return audio


def _rechannel(audio: WavAudio, channels: int) -> WavAudio:
    pcm = audio.pcm[: len(audio.pcm) - len(audio.pcm) % audio.frame_size]
    return attrs.evolve(audio, pcm=to_channels(pcm, audio.channels, channels), channels=channels)


def input_pcm(audio: AudioResult | WavAudio, config: STTConfig | None) -> bytes:
    """The bytes ``on_audio_input`` sends for audio our own API returned."""
    if config is None:
        raise SaynaValidationError(
            "on_audio_input() cannot send audio: this session was opened with without_audio=True",
            field="without_audio",
        )
    if isinstance(audio, AudioResult):
        audio = _from_result(audio)
    return _fit(audio, config).pcm


def _chunks(
    source: AudioSource, config: STTConfig, chunk_ms: int
) -> tuple[Iterable[bytes], int | None]:
    """The chunks to send and their total size (None when unknown); empty audio is refused."""
    if isinstance(source, (str, os.PathLike)):
        source = read_wav(source)
    elif isinstance(source, AudioResult):
        # Before the iterable case: an AudioResult unpacks as (bytes, headers).
        source = _from_result(source)
    if isinstance(source, WavAudio):
        source = _fit(source, config)
        return source.chunks(chunk_ms), len(source.pcm)
    if isinstance(source, (bytes, bytearray, memoryview)):
        pcm = bytes(source)
        if not pcm:
            raise SaynaValidationError("audio must not be empty", field="audio")
        chunks = split_pcm(
            pcm, chunk_ms=chunk_ms, sample_rate=config.sample_rate, channels=config.channels
        )
        return chunks, len(pcm)
    if isinstance(source, Microphone):
        return _live(source, source.sample_rate, source.channels, config), None
    if isinstance(source, Iterable):
        return source, None
    raise SaynaValidationError(
        f"audio must be a WAV path, a WavAudio or AudioResult, PCM bytes or an iterable of"
        f" chunks, not {type(source).__name__}",
        field="audio",
    )


def _live(chunks: Iterable[bytes], rate: int, channels: int, config: STTConfig) -> Iterator[bytes]:
    """A live source's chunks converted to the session's format as they come.

    Everything that can fail (encoding, channel change, soxr missing) fails
    here, before the first chunk is read.
    """
    check_pcm_format(
        config,
        sample_rate=config.sample_rate,
        channels=config.channels,
        sample_width=2,
        name="the microphone",
    )
    to_channels(b"", channels, config.channels)  # refuses e.g. 2 -> 3 channels now
    fewer = min(channels, config.channels)
    resampler = Resampler(rate, config.sample_rate, fewer)

    def convert() -> Iterator[bytes]:
        for chunk in chunks:
            if config.channels < channels:
                chunk = to_channels(chunk, channels, config.channels)
            chunk = resampler.process(chunk)
            yield to_channels(chunk, fewer, config.channels)
        yield to_channels(resampler.flush(), fewer, config.channels)

    return convert()


def _frames(
    source: AudioSource,
    config: STTConfig,
    *,
    chunk_ms: int,
    realtime: bool,
    speed: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> tuple[Iterable[bytes], int | None]:
    """Check the source and plan its frames (nothing is sent yet)."""
    chunks, total = _chunks(source, config, chunk_ms)
    if not is_finite_number(speed) or speed <= 0:
        raise SaynaValidationError("speed must be a positive number", field="speed")
    if realtime:
        rate = bytes_per_second(config.sample_rate, config.channels)
        chunks = pace(chunks, bytes_per_second=rate, speed=speed, clock=clock, sleep=sleep)
    return chunks, total


def _send(
    session: Session,
    frames: Iterable[bytes],
    total: int | None,
    progress: ProgressCallback | None,
    after_each: Callable[[], object] | None = None,
) -> int:
    # Checked before the first frame: a bad callback found after it would
    # leave the server holding part of the audio.
    if progress is not None and not callable(progress):
        raise SaynaValidationError(
            f"progress must be a callable (sent, total), not {type(progress).__name__}",
            field="progress",
        )
    sent = 0
    for frame in frames:
        if not frame:
            continue  # the session refuses empty frames, and they carry nothing
        session.on_audio_input(frame)
        sent += len(frame)
        if progress is not None:
            progress(sent, total)
        if after_each is not None:
            after_each()
    if not sent:
        raise SaynaValidationError("audio must not be empty (no chunk held a byte)", field="audio")
    return sent


def stream_audio(
    session: Session,
    source: AudioSource,
    *,
    realtime: bool = True,
    speed: float = 1.0,
    chunk_ms: int = 100,
    progress: ProgressCallback | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send audio for speech-to-text; return the number of bytes sent.

    ``source`` is a WAV path or :class:`WavAudio` (converted to the session's
    ``stt_config`` rate and channels before anything is sent), raw PCM in that format
    (cut into ``chunk_ms`` frames), or an iterable of chunks sent as they are.
    ``realtime`` paces frames as a microphone would (``speed`` times faster);
    otherwise they go as fast as the socket takes them. ``progress(sent, total)``
    is called after every frame (anything but a callable is refused before the
    first frame). Results arrive as :class:`STTResultEvent`.
    """
    config = _audio_config(session.stt_config)
    frames, total = _frames(
        source, config, chunk_ms=chunk_ms, realtime=realtime, speed=speed, clock=clock, sleep=sleep
    )
    return _send(session, frames, total, progress)


class _Turn:
    """The transcript as results arrive (docs/protocol.rst §5.2)."""

    def __init__(self) -> None:
        self.finals: list[str] = []
        self.open = False  # results arrived since the last end-of-turn marker
        self.ended = False  # at least one end-of-turn marker arrived
        self.ended_after_audio = False
        self.last_result_at = 0.0

    @property
    def text(self) -> str:
        return " ".join(t.strip() for t in self.finals if t.strip())

    def take(self, event: Event, *, audio_done: bool) -> None:
        """Account for one event; raise for those that make the transcript unreliable."""
        if isinstance(event, STTResultEvent):
            self.last_result_at = time.monotonic()
            if event.is_speech_final:
                # The turn's text is the finals before it; the marker may be empty.
                if event.transcript.strip():
                    self.finals.append(event.transcript)
                self.open = False
                self.ended = True
                self.ended_after_audio = audio_done
            else:
                # A blank result (silence reported as an empty interim) opens
                # no turn: no end of turn would follow it.
                if event.transcript.strip():
                    self.open = True
                if event.is_final:
                    self.finals.append(event.transcript)
        elif isinstance(event, ErrorEvent) and event.message.startswith(_STT_FAILED):
            raise SaynaError(f"speech recognition failed: {event.message}")
        elif isinstance(event, EventsDiscardedEvent):
            raise SaynaError(f"{event.count} events were discarded; the transcript is incomplete")
        elif isinstance(event, CloseEvent):
            raise _closed(event, "transcribing")
        elif isinstance(event, ReconnectingEvent):
            # Audio sent during the gap is dropped and the server's recogniser
            # starts over: the transcript would silently miss speech (item 11).
            raise SaynaConnectionError(
                f"the connection dropped while transcribing ({event.reason}); the session"
                f" reconnects (attempt {event.attempt}), but the audio sent meanwhile and"
                f" what the server had not yet transcribed are lost (text so far:"
                f" {self.text!r})"
            )


def transcribe(
    session: Session,
    source: AudioSource,
    *,
    timeout: float = 30.0,
    realtime: bool = False,
    speed: float = 1.0,
    chunk_ms: int = 100,
    progress: ProgressCallback | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Send ``source`` (as :func:`stream_audio`) and return its final transcript.

    By default the audio goes as fast as the server reads it. The protocol's
    flow control is TCP itself: the server reads one frame at a time and reads
    the next only when the previous one is handled (docs/protocol.rst §3.3), so a
    blocking send waits for it; results are consumed between frames, so the
    server's outgoing queue never fills. ``realtime=True`` paces frames like a
    microphone (``speed`` times faster), for live sources and for servers
    whose recogniser must hear audio at its own pace.

    The text is assembled from the ``is_final`` results (the end-of-turn
    marker may carry no text); several turns are joined with spaces. It is
    complete at an end-of-turn marker (``is_speech_final``) received after the
    last frame and followed by 0.3 s without results, or, when no turn is open
    at the end of the audio (it ended earlier, or the audio held no speech:
    then the text is ``""``), one quiet second after the audio.
    ``timeout`` bounds the wait after the last frame (:class:`SaynaTimeoutError`,
    whose message holds the text so far). A reconnect while it runs raises
    :class:`SaynaConnectionError` at once: audio sent during the gap is dropped.
    """
    require_positive_seconds(timeout, "timeout")
    config = _audio_config(session.stt_config)
    frames, total = _frames(
        source, config, chunk_ms=chunk_ms, realtime=realtime, speed=speed, clock=clock, sleep=sleep
    )
    _skip_unconsumed(session, "transcribe()")
    turn = _Turn()

    def collect(wait: float, *, audio_done: bool) -> None:
        """Take every event available within ``wait`` seconds."""
        event = session.next_event(timeout=wait)
        while event is not None:
            turn.take(event, audio_done=audio_done)
            event = session.next_event(timeout=0)

    # Consume while sending, so that a long file never piles results up.
    _send(session, frames, total, progress, lambda: collect(0, audio_done=False))
    audio_end = time.monotonic()
    deadline = audio_end + timeout
    while True:
        now = time.monotonic()
        closed = not turn.open
        if turn.ended_after_audio:
            complete_at = turn.last_result_at + _TURN_QUIET_SECONDS
        else:
            complete_at = audio_end + _SETTLE_SECONDS
        if closed and now >= complete_at:
            return turn.text
        if now >= deadline:
            raise SaynaTimeoutError(
                f"no end of turn within {timeout:g} s after the audio ended"
                f" (text so far: {turn.text!r})" + stall_note(session)
            )
        until = min(deadline, complete_at) if closed else deadline
        collect(until - now, audio_done=True)
