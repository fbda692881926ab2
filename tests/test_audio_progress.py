"""A bad ``progress`` argument is refused before the first audio frame leaves."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from sayna import Sayna, SaynaValidationError, Session
from sayna.testing import FakeServer, encode_speech
from tests.support.speech_configs import STT, TTS


@pytest.fixture
def served() -> Iterator[tuple[FakeServer, Session]]:
    """A session on a local server, and the server."""
    with (
        FakeServer() as server,
        Sayna(server.url) as client,
        client.connect(stt_config=STT, tts_config=TTS) as session,
    ):
        yield server, session


def _binary_frames(server: FakeServer) -> int:
    time.sleep(0.2)  # a frame already written would have arrived by now
    return sum(1 for f in server.sessions[0].received if f.kind == "binary")


@pytest.mark.parametrize("method", ["stream_audio", "transcribe"])
@pytest.mark.parametrize("progress", ["x", 3, b"cb"])
def test_a_progress_that_is_not_callable_sends_nothing(
    served: tuple[FakeServer, Session], method: str, progress: object
) -> None:
    """stream_audio/transcribe raise SaynaValidationError(field='progress'); no frame was sent."""
    server, session = served
    audio = encode_speech("hello there", 16000)
    with pytest.raises(SaynaValidationError) as caught:
        getattr(session, method)(audio, realtime=False, progress=progress)
    assert caught.value.field == "progress"
    assert "progress must be a callable" in str(caught.value)
    assert _binary_frames(server) == 0


def test_a_callable_progress_follows_every_frame(served: tuple[FakeServer, Session]) -> None:
    """A real callback still sees each frame's running total, ending at the whole size."""
    server, session = served
    audio = encode_speech("hello there", 16000)
    seen: list[tuple[int, int | None]] = []
    sent = session.stream_audio(audio, realtime=False, progress=lambda a, b: seen.append((a, b)))
    assert seen[-1] == (sent, len(audio))
    assert _binary_frames(server) == len(seen)
