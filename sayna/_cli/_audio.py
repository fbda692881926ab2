"""Subcommands on the laptop's audio devices: ``listen``, and ``say --play``.

Both check the device (and the ``sayna[audio]`` extra) before connecting, so
a machine without either gets one line and exit 2, not a session opened for
nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from sayna._cli import _realtime
from sayna._cli._common import EXIT_OK, Context, UsageError
from sayna._cli._realtime import LiveLine
from sayna._cli._rest import check_output_format, report_audio, tts_config_from
from sayna._conveniences import say as say_text
from sayna._conveniences import transcribe as transcribe_audio
from sayna._devices import Microphone, Speaker, open_check
from sayna._events import STTResultEvent
from sayna._models import STTConfig, TTSConfig

__all__ = ["listen", "say"]

CONNECT_TIMEOUT = 60.0
WAIT_TIMEOUT = 30.0
# What the session asks the recogniser for; the microphone is converted to it.
_STT_RATE = 16000


@contextmanager
def _interrupt_closes(mic: Microphone) -> Iterator[None]:
    """The first Ctrl-C ends the recording (the transcript is then finished); the second quits."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers live on the main thread only (tests call main() elsewhere)
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, previous)
        mic.close()

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def listen(ctx: Context) -> int:
    """``sayna listen``: the microphone, transcribed live; Ctrl-C prints the final text."""
    a = ctx.args
    name = open_check("input", a.device)
    stt = STTConfig(
        provider=a.stt_provider,
        model=a.stt_model,
        language=a.language,
        sample_rate=_STT_RATE,
        channels=1,
    )
    tts = TTSConfig(provider=a.stt_provider, model="")  # the server wants one on every session
    mic = Microphone(sample_rate=a.sample_rate, channels=a.channels, device=a.device)
    with (
        ctx.status() as status,
        ctx.client() as client,
        client.connect(
            stt_config=stt, tts_config=tts, timeout=ctx.timeout or CONNECT_TIMEOUT
        ) as session,
        mic,
        _interrupt_closes(mic),
    ):
        ctx.note(f"listening on {name}; Ctrl-C ends")
        if status.enabled:
            session.on(STTResultEvent, LiveLine(status).result)
        timer = threading.Timer(a.seconds, mic.close) if a.seconds else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            # Paced like speech: a real microphone is anyway, and a device that
            # delivers faster (a file behind a virtual device) then behaves like one.
            text = transcribe_audio(
                session, mic, timeout=ctx.timeout or WAIT_TIMEOUT, realtime=True
            )
        finally:
            if timer is not None:
                timer.cancel()
    if ctx.json:
        ctx.emit_json({"device": name, "text": text})
    else:
        ctx.out(text)
    return EXIT_OK


def say(ctx: Context) -> int:
    """``sayna say TEXT`` with ``-o FILE``, ``--play``, or both."""
    a = ctx.args
    if not a.play:
        if not a.output:
            raise UsageError("say needs -o FILE, --play, or both")
        return _realtime.say(ctx)
    if a.output:
        check_output_format(a.output, a.format)
    name = open_check("output", a.device)
    tts = tts_config_from(ctx)
    provider, model = _realtime.stt_provider_for(a.tts_provider)
    stt = STTConfig(provider=provider, model=model)
    with (
        ctx.client() as client,
        client.connect(
            stt_config=stt, tts_config=tts, timeout=ctx.timeout or CONNECT_TIMEOUT
        ) as session,
        Speaker(sample_rate=a.sample_rate, device=a.device) as speaker,
        session.play_on(speaker) as playback,
    ):
        result = say_text(session, a.text, timeout=ctx.timeout or WAIT_TIMEOUT)
        playback.drain(timeout=ctx.timeout or WAIT_TIMEOUT)
    if a.output:
        report_audio(ctx, a.output, result)
    ctx.note(f"played {len(result)} bytes on {name}")
    return EXIT_OK
