"""The embedded local server: ``sayna fake-server`` and the offline ``sayna demo``."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sayna._cli._common import EXIT_ERROR, EXIT_OK, Context, UsageError, required_keys
from sayna._cli._realtime import describe_event
from sayna._cli._rest import save_audio
from sayna._client import Sayna
from sayna._conveniences import say, transcribe
from sayna._events import Event, STTResultEvent, TTSAudioEvent
from sayna._models import STTConfig, TTSConfig

if TYPE_CHECKING:
    from sayna.testing import FakeServer

__all__ = [
    "DEMO_SENTENCE",
    "demo",
    "fake_server",
    "fake_server_class",
    "running_fake_server",
    "same_words",
]

TESTING_EXTRA_MODULES = frozenset({"h11", "wsproto"})
TESTING_EXTRA_MESSAGE = (
    "the local server needs the testing extra: pip install 'sayna[testing]' (missing: {name})"
)
DEMO_SENTENCE = "Hello from Sayna! This sentence went to speech and back."
SAMPLE_RATE = 16000
# Fewer, larger TTS frames than the server's default keep the event list readable.
TTS_CHUNK_MS = 200


def fake_server_class() -> type[FakeServer]:
    """``sayna.testing.FakeServer``, or a usage error naming the missing extra."""
    try:
        from sayna.testing import FakeServer
    except ImportError as exc:
        cause: BaseException | None = exc
        while cause is not None:  # sayna.testing re-raises with the original as cause
            name = getattr(cause, "name", None)
            if name in TESTING_EXTRA_MODULES:
                raise UsageError(TESTING_EXTRA_MESSAGE.format(name=name)) from exc
            cause = cause.__cause__
        raise
    return FakeServer


@contextmanager
def running_fake_server(**options: Any) -> Iterator[FakeServer]:
    """A started local server, stopped on exit."""
    with fake_server_class()(**options) as server:
        yield server


def fake_server(ctx: Context) -> int:
    """``sayna fake-server``: print the URL, serve until Ctrl-C."""
    _refuse_url(ctx, "fake-server")
    a = ctx.args
    keys = required_keys(a.require_key)
    cassette = a.cassette
    if cassette is not None and not os.path.isfile(cassette):
        raise UsageError(f"no cassette at {cassette!r}")
    server = _started(a.host, a.port, keys, cassette)
    with server:
        # Ctrl-C is the documented way to stop it, from the moment the URL is
        # out (a script reading that line may interrupt at once).
        try:
            ctx.out(server.url)
            auth = f"auth on, {len(keys)} key(s)" if keys else "auth off"
            ctx.note(f"sayna: local server at {server.url} ({auth}); Ctrl-C stops it")
            ctx.note(f"sayna: try  SAYNA_URL={server.url} sayna health")
            threading.Event().wait()
        except KeyboardInterrupt:
            ctx.note("sayna: stopped")
    return EXIT_OK


def _started(host: str, port: int, keys: dict[str, str], cassette: str | None) -> FakeServer:
    """A listening server, or one usage line for what stopped it (address, port, cassette)."""
    cls = fake_server_class()
    from sayna.testing._cassette import CassetteError

    try:
        server = cls(host=host, port=port, api_keys=keys or None, cassette=cassette)
    except CassetteError as exc:
        raise UsageError(f"cannot replay {cassette!r}: {exc}") from exc
    try:
        return server.start()
    except (OSError, OverflowError) as exc:
        # A busy port, an address this machine does not have, a bad host name.
        # socket.create_server appends "(while attempting to bind ...)": the
        # address is in our own message already.
        reason = (getattr(exc, "strerror", None) or str(exc)).split(" (while attempting", 1)[0]
        raise UsageError(f"cannot listen on {host}:{port}: {reason}") from exc


def _refuse_url(ctx: Context, command: str) -> None:
    # These commands run their own server: a --url would be silently ignored.
    if ctx.args.url:
        raise UsageError(
            f"sayna {command} runs its own local server and takes no --url"
            " (`sayna say` and `sayna transcribe` talk to a server you name)"
        )


def same_words(a: str, b: str) -> bool:
    """Equal up to case, punctuation and spacing (what a real recogniser may change)."""

    def words(text: str) -> list[str]:
        return re.findall(r"\w+", text.casefold())

    return words(a) == words(b)


class _Printer:
    """Prints each event as it arrives (on the session's callback thread)."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self._out = out
        self._seen = threading.Condition()
        self._count: dict[str, int] = {}
        # An utterance arrives as dozens of audio chunks: one summary line per
        # run of chunks, printed when the next other event arrives, reads better.
        self._audio_chunks = 0
        self._audio_bytes = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, TTSAudioEvent):
            self._audio_chunks += 1
            self._audio_bytes += len(event.data)
        else:
            if self._audio_chunks:
                plural = "s" if self._audio_chunks > 1 else ""
                self._out(
                    f"  <- tts_audio  {self._audio_chunks} chunk{plural}, {self._audio_bytes} bytes"
                )
                self._audio_chunks = self._audio_bytes = 0
            self._out(f"  <- {describe_event(event)}")
        key = self._key(event)
        with self._seen:
            self._count[key] = self._count.get(key, 0) + 1
            self._seen.notify_all()

    @staticmethod
    def _key(event: Event) -> str:
        if isinstance(event, STTResultEvent) and event.is_speech_final:
            return "end_of_turn"
        return event.type

    def wait(self, key: str, count: int, timeout: float = 2.0) -> None:
        """Let the callback thread print up to the event the main thread already saw."""
        with self._seen:
            self._seen.wait_for(lambda: self._count.get(key, 0) >= count, timeout)


def demo(ctx: Context) -> int:
    """Say a sentence, stream the audio back, compare the transcript; write the WAV."""
    _refuse_url(ctx, "demo")
    a = ctx.args
    output = os.path.abspath(a.output)
    sentence: str = a.text or DEMO_SENTENCE
    stt = STTConfig(provider="deepgram", model="nova-3", sample_rate=SAMPLE_RATE)
    tts = TTSConfig(
        provider="deepgram",
        model="aura-asteria-en",
        audio_format="linear16",
        sample_rate=SAMPLE_RATE,
    )
    write = ctx.note if ctx.json else ctx.out
    lock = threading.Lock()

    def out(line: str) -> None:
        # Event lines come from the session's callback thread: keep lines whole.
        with lock:
            write(line)

    started = time.monotonic()
    with running_fake_server(tts_chunk_ms=TTS_CHUNK_MS) as server:
        out(f"sayna demo: local server at {server.url} (stand-in speech providers, no key)")
        out(
            f"-> connect  stt {stt.provider}/{stt.model} and tts {tts.provider}, "
            f"both {SAMPLE_RATE} Hz 16-bit mono"
        )
        with (
            Sayna(server.url) as client,
            client.connect(stt_config=stt, tts_config=tts, timeout=10) as session,
        ):
            printer = _Printer(out)
            session.on(None, printer)
            printer.wait("ready", 1)
            out(f"-> speak  {sentence!r}")
            audio = say(session, sentence, timeout=ctx.timeout or 10.0)
            printer.wait("tts_playback_complete", 1)
            seconds = len(audio) / (2 * SAMPLE_RATE)
            out(f"-> audio  {seconds:.2f} s back for transcription, at {a.speed:g}x real time")
            # Paced, so that the interim results scroll by as they would live.
            transcript = transcribe(
                session, audio, timeout=ctx.timeout or 10.0, realtime=True, speed=a.speed
            )
            printer.wait("end_of_turn", 1)
        summary = save_audio(output, audio)
    match = same_words(transcript, sentence)
    elapsed = time.monotonic() - started
    out(f"transcript: {transcript!r}")
    out(f"match: {'yes' if match else 'NO'}")
    out(f"wrote {summary}")
    out(f"done in {elapsed:.1f} s")
    if ctx.json:
        ctx.emit_json(
            {
                "sentence": sentence,
                "transcript": transcript,
                "match": match,
                "path": output,
                "seconds": round(seconds, 3),
            }
        )
    return EXIT_OK if match else EXIT_ERROR
