"""say / stream_audio / transcribe against the local FakeServer."""

from __future__ import annotations

import pathlib
import threading
import time

import pytest

from sayna import SaynaError, SaynaTimeoutError, SaynaValidationError
from sayna._client import Sayna
from sayna._conveniences import say, stream_audio, transcribe
from sayna._events import TTSPlaybackCompleteEvent
from sayna._realtime.session import Session
from sayna._wav import read_wav, write_wav
from sayna.testing import FakeServer, decode_speech, encode_speech
from tests.support.polling import wait_until
from tests.support.speech_configs import STT, TTS_16K


def _binary_frames(server: FakeServer) -> list[bytes]:
    return [f.data for f in server.sessions[0].received if f.kind == "binary"]


def test_say_returns_the_utterance_audio(session: Session) -> None:
    """say returns exactly the spoken text's audio, described as 16 kHz linear16."""
    audio = say(session, "Good evening")
    assert audio.audio_format == "linear16"
    assert audio.sample_rate == 16000
    assert audio.is_pcm
    assert decode_speech(audio.data, 16000) == "Good evening"


def test_say_then_transcribe_round_trip(session: Session, tmp_path: pathlib.Path) -> None:
    """Audio from say, saved as WAV and streamed back, transcribes to the same text."""
    text = "The quick brown fox jumps over the lazy dog."
    audio = say(session, text)
    path = audio.save(tmp_path / "fox.wav")
    assert transcribe(session, path, realtime=False) == text


def test_transcribe_paces_at_real_time(session: Session) -> None:
    """Realtime streaming sleeps for the audio's duration (divided by speed), not more."""
    pcm = encode_speech("pace me", 16000)
    slept: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    text = transcribe(
        session, pcm, realtime=True, speed=2, chunk_ms=100, clock=lambda: now[0], sleep=sleep
    )
    assert text == "pace me"
    duration = len(pcm) / 32000
    last_chunk = (len(pcm) % 3200 or 3200) / 32000
    assert sum(slept) == pytest.approx((duration - last_chunk) / 2)


def test_stream_audio_reports_progress(server: FakeServer, session: Session) -> None:
    """progress gets the running byte count and the total; every byte reaches the server."""
    pcm = encode_speech("progress", 16000)
    seen: list[tuple[int, int | None]] = []
    sent = stream_audio(
        session,
        pcm,
        realtime=False,
        chunk_ms=50,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert sent == len(pcm)
    assert seen[-1] == (len(pcm), len(pcm))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert all(total == len(pcm) for _, total in seen)
    wait_until(lambda: sum(map(len, _binary_frames(server))) >= len(pcm), timeout=5)
    frames = _binary_frames(server)
    assert b"".join(frames) == pcm
    assert len(frames[0]) == 1600


def test_stream_audio_iterable_has_unknown_total(session: Session) -> None:
    """An iterable of chunks is sent as is, with total None in progress reports."""
    seen: list[tuple[int, int | None]] = []
    sent = stream_audio(
        session,
        iter([b"\x00\x00" * 100, b"", b"\x00\x00" * 50]),
        realtime=False,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert sent == 300
    assert seen == [(200, None), (300, None)]


def test_wav_format_mismatch_sends_nothing(
    server: FakeServer, session: Session, tmp_path: pathlib.Path
) -> None:
    """An 8-bit file (nothing converts it) is refused before any audio is sent."""
    path = tmp_path / "old.wav"
    write_wav(path, b"\x80" * 4410, sample_rate=16000, sample_width=1)
    with pytest.raises(SaynaValidationError, match=r"8-bit PCM but only 16-bit PCM"):
        transcribe(session, path)
    assert _binary_frames(server) == []


def test_blank_text_is_refused_before_sending(server: FakeServer, session: Session) -> None:
    """say refuses blank text (the server would answer nothing at all)."""
    with pytest.raises(SaynaValidationError, match="must not be empty or blank"):
        say(session, "   ")
    assert [f.type for f in server.sessions[0].received] == ["config"]


def test_say_ignores_audio_from_an_earlier_speak(session: Session) -> None:
    """Unconsumed events of an earlier utterance are skipped, not returned."""
    drained = threading.Event()
    session.on(TTSPlaybackCompleteEvent, lambda event: drained.set())
    session.speak("earlier words")
    assert drained.wait(5)
    audio = say(session, "later words")
    assert decode_speech(audio.data, 16000) == "later words"


def test_say_reports_a_tts_failure(server: FakeServer, session: Session) -> None:
    """A TTS error before the completion makes say raise with the server's message."""
    server.tts_error = "provider exploded"
    with pytest.raises(SaynaError, match=r"could not speak: TTS error: .*provider exploded"):
        say(session, "doomed")


def test_say_times_out(server: FakeServer, session: Session) -> None:
    """say raises SaynaTimeoutError when synthesis does not finish in time."""
    server.tts_speedup = 0.5  # synthesis now takes twice as long as the audio lasts
    with pytest.raises(SaynaTimeoutError, match=r"speech not complete within 0\.2 s"):
        say(session, "a rather long sentence to synthesise slowly", timeout=0.2)


def test_transcribe_joins_several_turns(session: Session) -> None:
    """Two utterances in one stream give both texts, in order."""
    pcm = encode_speech("first turn", 16000) + b"\x00\x00" * 1600 + encode_speech("second", 16000)
    assert transcribe(session, pcm, realtime=False) == "first turn second"


def test_transcribe_keeps_a_turn_reported_after_a_lagging_end_marker(
    server: FakeServer, session: Session
) -> None:
    """A server still catching up closes turn one after the upload, then reports turn two."""
    fake = server.wait_for_session()
    noise = bytes(range(256)) * 8  # undecodable: every result below is the test's own

    def result(text: str, *, final: bool = True, end: bool = False) -> dict[str, object]:
        return {
            "type": "stt_result",
            "transcript": text,
            "is_final": final,
            "is_speech_final": end,
            "confidence": 1.0,
        }

    def lagging_server() -> None:
        fake.wait_for_frame(lambda frame: frame.kind == "binary", timeout=5)
        time.sleep(0.1)  # the upload has finished by now
        fake.send_events([result("first turn"), result("", end=True)])
        time.sleep(0.1)
        fake.send_events([result("second"), result("", end=True)])

    helper = threading.Thread(target=lagging_server)
    helper.start()
    try:
        assert transcribe(session, noise, realtime=False, chunk_ms=20) == "first turn second"
    finally:
        helper.join(5)


def test_transcribe_waits_briefly_when_the_turn_ended_before_the_audio(session: Session) -> None:
    """Trailing silence: the turn ends mid-stream, and the text comes one quiet second later."""
    pcm = encode_speech("hi", 16000) + b"\x00\x00" * 16000
    started = time.monotonic()
    assert transcribe(session, pcm, realtime=True, speed=4) == "hi"
    assert time.monotonic() - started >= 1.0


def test_transcribe_times_out_without_an_end_of_turn(session: Session) -> None:
    """Audio that never yields a result ends in SaynaTimeoutError after the timeout."""
    noise = bytes(range(256)) * 20
    with pytest.raises(SaynaTimeoutError, match=r"no end of turn within 0\.3 s"):
        transcribe(session, noise, realtime=False, timeout=0.3)


def test_transcribe_wav_audio_object(session: Session, tmp_path: pathlib.Path) -> None:
    """A WavAudio read beforehand can be streamed directly."""
    path = tmp_path / "x.wav"
    write_wav(path, encode_speech("from memory", 16000), sample_rate=16000)
    assert transcribe(session, read_wav(path), realtime=False) == "from memory"


def test_closed_session_raises(server: FakeServer) -> None:
    """Using a closed session fails with a SaynaError, not a hang."""
    with Sayna(server.url) as client:
        sess = client.connect(stt_config=STT, tts_config=TTS_16K)
        sess.close()
        with pytest.raises(SaynaError):
            say(sess, "anyone there?")


def test_session_methods_delegate(session: Session) -> None:
    """Session.say/transcribe/stream_audio and the config properties work as the functions do."""
    assert session.stt_config == STT
    assert session.tts_config == TTS_16K
    audio = session.say("Via the session")
    assert decode_speech(audio.data, 16000) == "Via the session"
    assert session.stream_audio(b"\x00\x00" * 160, realtime=False) == 320
    assert session.transcribe(audio.data, realtime=False, timeout=5) == "Via the session"


def test_session_without_audio_has_no_conveniences(server: FakeServer) -> None:
    """A without_audio session has no configs, and say/transcribe refuse clearly."""
    with Sayna(server.url) as client, client.connect(without_audio=True) as sess:
        assert sess.stt_config is None
        assert sess.tts_config is None
        with pytest.raises(SaynaValidationError, match="without_audio=True"):
            sess.say("hello")
        with pytest.raises(SaynaValidationError, match="without_audio=True"):
            sess.transcribe(b"\x00\x00" * 10)
