"""Session.stats(): counters, ping round trip and per-utterance timings (issue 14, G)."""

from __future__ import annotations

import attrs
import pytest

from sayna import (
    ReconnectedEvent,
    ReconnectPolicy,
    Sayna,
    SessionStats,
    SpeechTiming,
)
from sayna._realtime.stats import SpeechTracker
from sayna.testing import FakeServer, encode_speech
from tests.support.polling import wait_until
from tests.support.speech_configs import STT, TTS


def test_counters_and_timing_of_one_utterance(sayna_server: FakeServer, client: Sayna) -> None:
    """say() shows up as one timing; bytes and messages are counted both ways."""
    with client.connect(STT, TTS) as session:
        fake = sayna_server.wait_for_session()
        start = session.stats()
        assert start == SessionStats(0, 1, 1, 0, 0, None, ())  # ready in, config out
        audio = session.say("how are you", timeout=10)
        pcm = encode_speech("yes")
        session.on_audio_input(pcm)
        fake.wait_for_frame("binary")
        stats = session.stats()
    assert stats.reconnects == 0
    assert stats.audio_bytes_received == len(audio.data)
    assert stats.audio_bytes_sent == len(pcm)
    assert stats.messages_sent == 3  # config, speak, audio
    # ready + every audio frame + the completion
    assert stats.messages_received >= 3
    (timing,) = stats.speech
    assert timing.text == "how are you"
    assert timing.audio_bytes == len(audio.data)
    assert timing.first_audio is not None
    assert timing.complete is not None
    assert 0 < timing.first_audio <= timing.complete < 10
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stats.reconnects = 5  # type: ignore[misc]


def test_ping_round_trip_is_measured(sayna_server: FakeServer) -> None:
    """With keep-alive pings, ping_rtt becomes the last round trip in seconds."""
    with (
        Sayna(sayna_server.url, ping_interval=0.05, ping_timeout=5) as client,
        client.connect(STT, TTS) as session,
    ):
        wait_until(lambda: session.stats().ping_rtt is not None)
        rtt = session.stats().ping_rtt
    assert rtt is not None
    assert 0 <= rtt < 5


def test_counters_add_up_over_a_reconnect(sayna_server: FakeServer, client: Sayna) -> None:
    """Counts of the lost connection are kept; reconnects counts the new one."""
    policy = ReconnectPolicy(max_attempts=3, initial_delay=0.05, max_delay=0.1)
    with client.connect(STT, TTS, reconnect=policy) as session:
        fake = sayna_server.wait_for_session()
        session.on_audio_input(b"\x00\x01" * 800)
        fake.wait_for_frame("binary")
        before = session.stats()
        fake.drop()
        session.wait_for(ReconnectedEvent, timeout=10)
        after = session.stats()
    assert after.reconnects == 1
    assert after.audio_bytes_sent == before.audio_bytes_sent == 1600
    assert after.messages_sent == before.messages_sent + 1  # the config, again
    assert after.messages_received >= before.messages_received


def test_speech_tracker_keeps_the_last_hundred_and_reports_lost_texts() -> None:
    """Queued utterances share a completion; a drop lists the unfinished; 100 are kept."""
    tracker = SpeechTracker(1)
    tracker.spoke("a", 0.0)
    tracker.spoke("b", 1.0)
    tracker.audio(10, 2.0)
    tracker.audio(5, 2.5)
    tracker.complete(3.0)
    assert tracker.timings() == (SpeechTiming("a", 2.0, 3.0, 15), SpeechTiming("b", 1.0, 2.0, 0))
    tracker.spoke("lost", 4.0)
    assert tracker.take_lost() == ("lost",)
    assert tracker.timings()[-1] == SpeechTiming("lost", None, None, 0)
    assert not tracker.active
    for n in range(150):
        tracker.spoke(str(n), float(n))
        tracker.complete(float(n) + 1)
    timings = tracker.timings()
    assert len(timings) == 100
    assert timings[0].text == "50"
    assert timings[-1] == SpeechTiming("149", None, 1.0, 0)
