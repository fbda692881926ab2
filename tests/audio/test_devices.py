"""Microphone, Speaker and Session.play_on through the real PortAudio and the virtual
ALSA device of .ci/audio-device, against the local server (issue 24, point 3)."""

from __future__ import annotations

import array
import threading
import time
from collections.abc import Callable

import pytest

from sayna import Sayna, SaynaAudioError, TTSPlaybackCompleteEvent
from sayna._realtime.session import Session
from sayna.audio import Microphone, Resampler, Speaker, resample, to_channels, to_mono
from sayna.testing import FakeServer, decode_speech, encode_speech
from tests.audio.conftest import MIC, MIC_FILE, SPEAKER, SPEAKER_FILE
from tests.support.polling import wait_until

pytestmark = pytest.mark.audio_device


def _sent(server: FakeServer) -> bytes:
    return b"".join(f.data for f in server.sessions[0].received if f.kind == "binary")


def _load_mic(pcm: bytes, chunk_bytes: int) -> bytes:
    """Put ``pcm`` in the virtual microphone, padded with silence to whole chunks."""
    padded = pcm + bytes(-len(pcm) % chunk_bytes)
    MIC_FILE.write_bytes(padded)
    return padded


def _stop_after(mic: Microphone, total: int) -> Callable[[int, int | None], None]:
    """A progress callback that closes the microphone once ``total`` bytes were sent."""

    def progress(sent: int, _: int | None) -> None:
        if sent >= total:
            mic.close()

    return progress


def _speaker_bytes() -> bytes:
    return SPEAKER_FILE.read_bytes()


def test_speech_into_the_microphone_is_transcribed(session: Session) -> None:
    """Stand-in speech played into the virtual microphone comes back as its text."""
    text = "Hello from the microphone."
    with Microphone(sample_rate=16000, chunk_ms=100, device=MIC) as mic:
        loaded = _load_mic(encode_speech(text, 16000) + bytes(16000), 3200)
        # The file loops at its end: stop after one pass.
        heard = session.transcribe(mic, progress=_stop_after(mic, len(loaded)))
    assert heard == text


def test_a_48k_stereo_microphone_is_converted_for_a_16k_mono_session(
    server: FakeServer, session: Session
) -> None:
    """A 48 kHz stereo microphone reaches a 16 kHz mono session mixed down and resampled."""
    chunk = 48000 // 10 * 4
    loaded = _load_mic(array.array("h", range(-9600, 9600)).tobytes() * 3, chunk)
    mic = Microphone(sample_rate=48000, channels=2, device=MIC)
    sent = session.stream_audio(mic, realtime=False, progress=_stop_after(mic, len(loaded) // 6))
    # The same pipeline by hand, chunk for chunk, over as many chunks as the
    # microphone gave (the file loops): mix down, stream through soxr, flush.
    looped = loaded * 2

    def pipeline(chunks: int) -> bytes:
        stream = Resampler(48000, 16000)
        parts = [
            stream.process(to_mono(looped[i * chunk : (i + 1) * chunk], 2)) for i in range(chunks)
        ]
        return b"".join(parts) + stream.flush()

    want = next(p for p in map(pipeline, range(1, 12)) if len(p) >= sent)
    assert sent == len(want)
    wait_until(lambda: len(_sent(server)) == len(want))
    assert _sent(server) == want


def test_closing_the_microphone_from_another_thread_ends_iteration() -> None:
    """close() from another thread ends a running for-loop within one chunk, stream closed."""
    MIC_FILE.write_bytes(bytes(32000))
    mic = Microphone(device=MIC, chunk_ms=20).open()
    count = 0
    timer = threading.Timer(0.2, mic.close)
    timer.start()
    started = time.monotonic()
    for _ in mic:
        count += 1
        time.sleep(0.01)
    timer.join()
    assert count > 1
    assert time.monotonic() - started < 2
    assert "closed" in repr(mic)


def test_say_played_on_the_speaker_comes_out_byte_for_byte(session: Session) -> None:
    """TTS from session.say, played at its own rate, is exactly what the device received."""
    audio = session.say("Straight to the speaker.")
    with Speaker(sample_rate=16000, device=SPEAKER) as speaker:
        assert speaker.play(audio, timeout=10)
    assert _speaker_bytes() == audio.data
    assert decode_speech(_speaker_bytes(), 16000) == "Straight to the speaker."


def test_play_on_feeds_streamed_speech_to_the_speaker(session: Session) -> None:
    """session.play_on(speaker) plays every TTS frame as it arrives; the device gets the speech."""
    done = threading.Event()
    session.on(TTSPlaybackCompleteEvent, lambda _: done.set())
    with (
        Speaker(sample_rate=16000, device=SPEAKER) as speaker,
        session.play_on(speaker) as playback,
    ):
        session.speak("Streamed to the speaker.")
        assert done.wait(10)
        assert playback.drain(timeout=10)
    assert _speaker_bytes() == encode_speech("Streamed to the speaker.", 16000)


def test_play_on_resamples_to_the_speaker_rate(session: Session) -> None:
    """16 kHz speech on a 48 kHz speaker comes out as soxr's 48 kHz version, within 4 LSB."""
    text = "Three times the rate."
    done = threading.Event()
    session.on(TTSPlaybackCompleteEvent, lambda _: done.set())
    with (
        Speaker(sample_rate=48000, device=SPEAKER) as speaker,
        session.play_on(speaker) as playback,
    ):
        session.speak(text)
        assert done.wait(10)
        assert playback.drain(timeout=10)  # flushes the filter's last milliseconds too
    got = array.array("h", _speaker_bytes())
    want = array.array("h", resample(encode_speech(text, 16000), 16000, 48000))
    assert len(got) == len(want)
    assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= 4


def test_barge_in_clears_the_speaker(server: FakeServer, session: Session) -> None:
    """A VAD speech_start from the server drops what the speaker still has queued."""
    cleared = threading.Event()

    class Watched(Speaker):
        def clear(self) -> None:
            super().clear()
            cleared.set()

    with Watched(sample_rate=16000, device=SPEAKER) as speaker, session.play_on(speaker):
        server.sessions[0].send_event(
            {"type": "vad_event", "event": "speech_start", "timestamp_ms": 1}
        )
        assert cleared.wait(5)


def test_speaker_feed_clear_drain_and_stereo(session: Session) -> None:
    """feed() queues whole frames, a mono result plays on both channels, close leaves no thread."""
    before = threading.active_count()
    with Speaker(sample_rate=16000, channels=2, device=SPEAKER) as speaker:
        speaker.feed(b"\x01\x00\x02\x00")
        assert speaker.drain(timeout=5)
        speaker.clear()
        with pytest.raises(ValueError, match="whole 4-byte frames"):
            speaker.feed(b"\x01\x00")
    assert _speaker_bytes() == b"\x01\x00\x02\x00"
    assert threading.active_count() == before
    with Speaker(sample_rate=16000, channels=2, device=SPEAKER) as speaker:
        speaker.play(session.say("Both ears."), timeout=10)
    assert _speaker_bytes() == to_channels(encode_speech("Both ears.", 16000), 1, 2)


def test_an_unknown_device_is_a_clear_error() -> None:
    """A device name PortAudio does not know raises SaynaAudioError naming it."""
    with pytest.raises(SaynaAudioError, match="cannot open input device 'no-such-mic'"):
        Microphone(device="no-such-mic").open()
    with pytest.raises(SaynaAudioError, match="cannot open output device 'no-such-speaker'"):
        Speaker(device="no-such-speaker").open()


def test_transcribe_with_a_client_of_its_own(server: FakeServer) -> None:
    """The README-style script: a client, a session, the microphone; nothing else needed."""
    from tests.support.speech_configs import STT, TTS_16K

    text = "A whole script."
    with (
        Sayna(server.url) as client,
        client.connect(stt_config=STT, tts_config=TTS_16K) as session,
        Microphone(device=MIC) as mic,
    ):
        loaded = _load_mic(encode_speech(text, 16000) + bytes(16000), 3200)
        assert session.transcribe(mic, progress=_stop_after(mic, len(loaded))) == text
