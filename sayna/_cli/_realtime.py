"""Subcommands over a realtime session: ``say`` and ``transcribe``."""

from __future__ import annotations

import threading

from sayna._cli._common import (
    DEFAULT_STT_MODEL,
    DEFAULT_STT_PROVIDER,
    EXIT_OK,
    Context,
    StatusLine,
    UsageError,
    progress_bar,
)
from sayna._cli._rest import check_output_format, report_audio, tts_config_from
from sayna._conveniences import say as say_text
from sayna._conveniences import transcribe as transcribe_audio
from sayna._events import (
    CloseEvent,
    ErrorEvent,
    Event,
    ReadyEvent,
    STTResultEvent,
    TTSAudioEvent,
    TTSPlaybackCompleteEvent,
)
from sayna._models import STTConfig, TTSConfig
from sayna._wav import read_wav

__all__ = ["LiveLine", "describe_event", "say", "stt_provider_for", "transcribe"]

# The defaults of Sayna.connect and of the conveniences, used when --timeout is not given.
CONNECT_TIMEOUT = 60.0
WAIT_TIMEOUT = 30.0


def describe_event(event: Event) -> str:
    """One readable line for an event."""
    if isinstance(event, TTSAudioEvent):
        return f"tts_audio  {len(event.data)} bytes"
    if isinstance(event, STTResultEvent):
        if event.is_speech_final:
            kind = "end of turn"
        elif event.is_final:
            kind = "final"
        else:
            kind = "interim"
        text = f"  {event.transcript!r}" if event.transcript else ""
        return f"stt_result  {kind}{text}  (confidence {event.confidence:.2f})"
    if isinstance(event, ReadyEvent):
        return f"ready  stream_id={event.stream_id}"
    if isinstance(event, TTSPlaybackCompleteEvent):
        return "tts_playback_complete"
    if isinstance(event, ErrorEvent):
        return f"error  {event.message}"
    if isinstance(event, CloseEvent):
        code = "" if event.code is None else f" code={event.code}"
        return f"close{code} {event.reason}".rstrip()
    return f"{event.type}  {event!r}"


def stt_provider_for(tts_provider: str) -> tuple[str, str]:
    # Every Sayna provider does both directions; using the same one for the
    # side we do not need avoids asking the server for a second credential.
    model = DEFAULT_STT_MODEL if tts_provider == DEFAULT_STT_PROVIDER else ""
    return tts_provider, model


def say(ctx: Context) -> int:
    """``sayna say TEXT -o FILE``: speak over a realtime session, save the audio."""
    a = ctx.args
    check_output_format(a.output, a.format)
    tts = tts_config_from(ctx)
    provider, model = stt_provider_for(a.tts_provider)
    # The server needs an STT config on every audio session, even one that only speaks.
    stt = STTConfig(provider=provider, model=model)
    with (
        ctx.client() as client,
        client.connect(
            stt_config=stt, tts_config=tts, timeout=ctx.timeout or CONNECT_TIMEOUT
        ) as session,
    ):
        result = say_text(session, a.text, timeout=ctx.timeout or WAIT_TIMEOUT)
        first_audio = session.stats().speech[-1].first_audio
    report_audio(ctx, a.output, result)
    if first_audio is not None:
        ctx.note(f"first audio after {first_audio * 1000:.1f} ms")
    return EXIT_OK


class LiveLine:
    """The interactive stderr line of ``transcribe``: progress plus the newest hypothesis."""

    def __init__(self, line: StatusLine) -> None:
        self._line = line
        self._lock = threading.Lock()  # progress and results come from two threads
        self._progress = ""
        self._heard = ""
        self._final = ""

    def progress(self, sent: int, total: int | None) -> None:
        with self._lock:
            self._progress = progress_bar(sent, total)
            self._render()

    def result(self, event: STTResultEvent) -> None:
        with self._lock:
            if event.is_final and event.transcript.strip():
                self._final = f"{self._final} {event.transcript.strip()}".strip()
                self._heard = self._final
            elif not event.is_final:
                self._heard = f"{self._final} {event.transcript.strip()}".strip()
            self._render()

    def _render(self) -> None:
        self._line.show(self._progress, self._heard)


def transcribe(ctx: Context) -> int:
    """``sayna transcribe FILE.wav``: send the file, print its final transcript."""
    a = ctx.args
    audio = read_wav(a.file)
    if not audio.pcm:
        raise UsageError(f"{a.file} holds no audio (0 frames)")
    # Several channels are mixed down to one: the server transcribes mono speech.
    stt = STTConfig(
        provider=a.stt_provider,
        model=a.stt_model,
        language=a.language,
        sample_rate=audio.sample_rate,
        channels=1,
    )
    audio = audio.to_mono()
    audio.check(stt)  # 16-bit PCM only, before any connection
    # The server needs a TTS config on every audio session, even one that only listens.
    tts = TTSConfig(provider=a.stt_provider, model="")
    paced = a.realtime or a.speed is not None
    with (
        ctx.status() as status,
        ctx.client() as client,
        client.connect(
            stt_config=stt, tts_config=tts, timeout=ctx.timeout or CONNECT_TIMEOUT
        ) as session,
    ):
        live: LiveLine | None = None
        if status.enabled:
            live = LiveLine(status)
            session.on(STTResultEvent, live.result)
        text = transcribe_audio(
            session,
            audio,
            timeout=ctx.timeout or WAIT_TIMEOUT,
            realtime=paced,
            speed=a.speed or 1.0,
            chunk_ms=a.chunk_ms,
            progress=live.progress if live is not None else None,
        )
    if ctx.json:
        ctx.emit_json({"file": a.file, "seconds": round(audio.duration, 3), "text": text})
    else:
        ctx.out(text)
    return EXIT_OK
