"""The end of speech: finish() waits for the answer to the audio sent; transcribe() ends early."""

from __future__ import annotations

import time

import pytest

from sayna import (
    CloseEvent,
    ReconnectedEvent,
    ReconnectPolicy,
    Sayna,
    SaynaTimeoutError,
    Session,
    STTResultEvent,
)
from sayna.testing import FakeServer, FakeSession, encode_speech
from tests.support.speech_configs import STT, TTS_16K

SENTENCE = "Book a table for two people tonight"
# A second of 16 kHz mono 16-bit silence.
SILENCE = bytes(32000)


def cut_mid_sentence(text: str = SENTENCE, keep: float = 0.6) -> bytes:
    """Stand-in speech of ``text`` that stops part-way (the file ends mid-sentence)."""
    pcm = encode_speech(text, 16000)
    return pcm[: int(len(pcm) * keep) & ~1]


def results_after(session: Session) -> list[tuple[str, bool, bool]]:
    """The STT results left for an iterator once the session is closed."""
    return [
        (e.transcript, e.is_final, e.is_speech_final)
        for e in session.events(timeout=5)
        if isinstance(e, STTResultEvent)
    ]


@pytest.mark.fake_server(tts_speedup=50, stt_endpoint_ms=300)
class TestTranscribe:
    def test_audio_without_speech_returns_empty_soon_after_the_audio(
        self, session: Session
    ) -> None:
        """Silence gives "" about a second after the last frame, not after the timeout."""
        started = time.monotonic()
        assert session.transcribe(SILENCE * 2, timeout=20) == ""
        assert time.monotonic() - started < 3.0

    def test_a_file_that_ends_mid_sentence_returns_the_words_heard(self, session: Session) -> None:
        """Speech cut off part-way still returns its sentence, as far as it was spoken."""
        text = session.transcribe(cut_mid_sentence(), timeout=10)
        assert text
        assert SENTENCE.startswith(text)
        assert len(text.split()) >= 3

    def test_a_whole_sentence_then_silence_is_still_the_sentence(self, session: Session) -> None:
        """Trailing silence after a finished sentence changes nothing."""
        assert session.transcribe(encode_speech(SENTENCE) + SILENCE, timeout=10) == SENTENCE


@pytest.mark.fake_server(tts_speedup=50, stt_endpoint_ms=400)
class TestFinish:
    # An endpointing delay longer than the quiet second: only the open turn keeps finish() waiting.
    @pytest.mark.fake_server(tts_speedup=50, stt_endpoint_ms=1500)
    def test_the_last_sentence_is_delivered_before_the_session_closes(
        self, session: Session
    ) -> None:
        """finish() after audio cut mid-sentence waits for its final and end of turn."""
        session.stream_audio(cut_mid_sentence(), realtime=False)
        session.finish(timeout=10)
        assert not session.connected
        got = results_after(session)
        finals = [t for t, final, end in got if final and not end]
        assert len(finals) == 1
        assert SENTENCE.startswith(finals[0])
        assert got[-1] == ("", True, True)

    def test_silence_is_answered_a_second_after_the_last_frame(self, session: Session) -> None:
        """Audio with no speech: finish() closes about one second after it was sent."""
        session.stream_audio(SILENCE, realtime=False)
        started = time.monotonic()
        session.finish(timeout=10)
        took = time.monotonic() - started
        assert 0.9 <= took < 2.5
        assert results_after(session) == []

    def test_without_audio_it_closes_at_once(self, session: Session) -> None:
        """Nothing sent, nothing to wait for."""
        started = time.monotonic()
        session.finish()
        assert time.monotonic() - started < 0.5
        assert session.close_event is not None

    def test_a_turn_that_never_ends_times_out_and_still_closes(
        self, server: FakeServer, session: Session
    ) -> None:
        """An open turn with no end: SaynaTimeoutError after the timeout, the session closed."""
        fake: FakeSession = server.wait_for_session()
        session.stream_audio(SILENCE, realtime=False)
        fake.send_event(
            {
                "type": "stt_result",
                "transcript": "and then",
                "is_final": False,
                "is_speech_final": False,
                "confidence": 0.8,
            }
        )
        session.wait_for(STTResultEvent, timeout=5)
        started = time.monotonic()
        with pytest.raises(SaynaTimeoutError, match="not answered"):
            session.finish(timeout=0.5)
        assert 0.4 <= time.monotonic() - started < 2.0
        assert not session.connected

    def test_a_hang_up_meanwhile_ends_the_wait_quietly(
        self, server: FakeServer, session: Session
    ) -> None:
        """The server ending the session (the caller hung up) ends finish() without error."""
        fake = server.wait_for_session()
        session.stream_audio(SILENCE, realtime=False)
        fake.send_event(
            {
                "type": "stt_result",
                "transcript": "hold on",
                "is_final": False,
                "is_speech_final": False,
                "confidence": 0.8,
            }
        )
        fake.caller.hang_up()
        started = time.monotonic()
        session.finish(timeout=10)
        assert time.monotonic() - started < 2.0
        assert isinstance(session.close_event, CloseEvent)
        assert session.close_event.initiator == "server"


@pytest.mark.fake_server(tts_speedup=50, stt_endpoint_ms=400)
def test_after_a_reconnect_only_audio_sent_since_counts(server: FakeServer) -> None:
    """A turn the lost connection left open cannot end: finish() does not wait for it."""
    policy = ReconnectPolicy(max_attempts=3, initial_delay=0.05, max_delay=0.2)
    with Sayna(server.url) as client:
        session = client.connect(stt_config=STT, tts_config=TTS_16K, reconnect=policy)
        fake = server.wait_for_session()
        session.stream_audio(SILENCE, realtime=False)
        fake.send_event(
            {
                "type": "stt_result",
                "transcript": "and then",
                "is_final": False,
                "is_speech_final": False,
                "confidence": 0.8,
            }
        )
        session.wait_for(STTResultEvent, timeout=5)
        fake.drop()
        session.wait_for(ReconnectedEvent, timeout=5)
        started = time.monotonic()
        session.finish(timeout=5)
        assert time.monotonic() - started < 1.0
        assert not session.connected


def test_stt_is_used() -> None:
    """The session fixture's STT is the 16 kHz mono config these byte counts assume."""
    assert (STT.sample_rate, STT.channels) == (16000, 1)
