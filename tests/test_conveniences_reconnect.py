"""say() and transcribe() across a reconnect: what was lost raises at once (issue 22, item 11)."""

from __future__ import annotations

import threading
import time

import pytest

from sayna import ReconnectPolicy, Sayna, SaynaConnectionError
from sayna.testing import FakeServer, encode_speech
from tests.support.speech_configs import STT, TTS

POLICY = ReconnectPolicy(max_attempts=3, initial_delay=0.05, max_delay=0.1)


def test_say_raises_at_once_when_a_drop_loses_its_speech() -> None:
    """A drop mid-speech: say() raises at once, naming the reconnect and the lost text."""
    # Synthesis at real-time pace: a long text is still being spoken at the drop.
    with FakeServer(tts_speedup=1.0) as server, Sayna(server.url) as client:
        session = client.connect(STT, TTS, reconnect=POLICY, timeout=5)
        fake = server.wait_for_session()
        text = "a long sentence that takes the speech provider several seconds to say"
        timer = threading.Timer(0.4, fake.drop)
        timer.start()
        started = time.monotonic()
        with pytest.raises(SaynaConnectionError) as info:
            session.say(text, timeout=15)
        elapsed = time.monotonic() - started
        timer.join()
        message = str(info.value)
        assert "reconnected" in message
        assert text in message
        assert elapsed < 3, elapsed  # the reconnect takes ~0.1 s; the timeout was 15 s
        assert session.ready  # the session itself carries on
        session.close()


def test_transcribe_raises_when_a_drop_loses_audio() -> None:
    """A drop mid-stream: transcribe() raises naming the reconnect instead of a gappy transcript."""
    pcm = (
        encode_speech("first sentence here", 16000)
        + b"\x00\x00" * 8000
        + encode_speech("second sentence there", 16000)
    )
    with FakeServer() as server, Sayna(server.url) as client:
        session = client.connect(STT, TTS, reconnect=POLICY, timeout=5)
        fake = server.wait_for_session()
        seconds = len(pcm) / 32000
        # In the middle of the audio, streamed at twice real time.
        timer = threading.Timer(seconds / 4, fake.drop)
        timer.start()
        with pytest.raises(SaynaConnectionError) as info:
            session.transcribe(pcm, realtime=True, speed=2.0, timeout=10)
        timer.join()
        assert "reconnects" in str(info.value)
        assert "lost" in str(info.value)
        session.close()
