"""Audio going in: what our API returns is accepted, empty audio is refused, stereo is mixed down,
and transcribe sends as fast as the server reads (issue 15, points 1, 2, 6, 11, 12)."""

from __future__ import annotations

import io
import pathlib
from array import array

import pytest

from sayna import AudioResult, Sayna, SaynaValidationError, WavAudio
from sayna._realtime.session import Session
from sayna._wav import read_wav, write_wav
from sayna.audio import resample
from sayna.testing import FakeServer, decode_speech, encode_speech
from tests.support.polling import wait_until
from tests.support.speech_configs import TTS_16K


def _sent(server: FakeServer) -> bytes:
    return b"".join(f.data for f in server.sessions[0].received if f.kind == "binary")


def test_transcribe_takes_what_say_returned(session: Session) -> None:
    """session.transcribe(session.say(...)) gives back the spoken text."""
    text = "Transcribe what you were just given."
    assert session.transcribe(session.say(text)) == text


def test_transcribe_takes_a_speak_rest_result(server: FakeServer, session: Session) -> None:
    """An AudioResult from speak_rest at the STT rate is transcribed like PCM bytes."""
    with Sayna(server.url) as client:
        result = client.speak_rest("From the REST side.", TTS_16K)
    assert session.transcribe(result) == "From the REST side."


def test_an_audio_result_at_another_rate_is_resampled(server: FakeServer, session: Session) -> None:
    """A 24 kHz AudioResult for a 16 kHz stt_config is sent resampled to 16 kHz (issue 24)."""
    pcm = encode_speech("x", 24000)
    result = AudioResult(pcm, {"x-audio-format": "linear16", "x-sample-rate": "24000"})
    session.on_audio_input(result)
    wait_until(lambda: len(_sent(server)) == len(pcm) * 2 // 3)
    assert _sent(server) == resample(pcm, 24000, 16000)


def test_a_compressed_audio_result_is_refused(session: Session) -> None:
    """MP3 bytes in an AudioResult are refused instead of being streamed as noise."""
    result = AudioResult(b"ID3" + b"\0" * 100, {"x-audio-format": "mp3"})
    with pytest.raises(SaynaValidationError, match="mp3"):
        session.transcribe(result)


def test_on_audio_input_takes_audio_results_and_wav_audio(
    server: FakeServer, session: Session
) -> None:
    """on_audio_input sends an AudioResult's and a WavAudio's PCM, and takes audio_data=."""
    pcm = encode_speech("hi", 16000)
    session.on_audio_input(
        AudioResult(pcm, {"x-audio-format": "linear16", "x-sample-rate": "16000"})
    )
    session.on_audio_input(WavAudio(pcm=pcm, sample_rate=16000, channels=1, sample_width=2))
    session.on_audio_input(audio_data=pcm)
    session.send_audio(audio_data=pcm)
    wait_until(lambda: len(_sent(server)) == 4 * len(pcm))
    assert _sent(server) == pcm * 4


@pytest.mark.parametrize(
    "audio",
    [
        b"",
        bytearray(),
        WavAudio(pcm=b"", sample_rate=16000, channels=1, sample_width=2),
        AudioResult(b"", {"x-audio-format": "linear16", "x-sample-rate": "16000"}),
        iter([b"", b""]),
    ],
    ids=["bytes", "bytearray", "wav", "result", "chunks"],
)
def test_empty_audio_is_refused_at_once(session: Session, audio: object) -> None:
    """transcribe of empty audio raises SaynaValidationError instead of waiting 30 s."""
    with pytest.raises(SaynaValidationError, match=r"empty|no audio"):
        session.transcribe(audio, timeout=30)  # type: ignore[arg-type]


def test_an_empty_wav_file_is_refused(session: Session, tmp_path: pathlib.Path) -> None:
    """A WAV file with a header and no frames is refused before anything is sent."""
    path = tmp_path / "empty.wav"
    write_wav(path, b"", sample_rate=16000)
    with pytest.raises(SaynaValidationError, match="no audio"):
        session.transcribe(path)


def _stereo(pcm: bytes) -> bytes:
    mono = array("h", pcm)
    both = array("h", [0]) * (2 * len(mono))
    both[0::2] = mono
    both[1::2] = mono
    return both.tobytes()


def test_a_stereo_wav_is_mixed_down_for_a_mono_session(
    session: Session, tmp_path: pathlib.Path
) -> None:
    """A stereo WAV (the same speech on both channels) is transcribed by a mono session."""
    text = "Two channels, one voice."
    path = tmp_path / "stereo.wav"
    write_wav(path, _stereo(encode_speech(text, 16000)), sample_rate=16000, channels=2)
    assert read_wav(path).channels == 2
    assert session.transcribe(path) == text


def test_to_mono_averages_the_channels() -> None:
    """to_mono averages each frame's samples; mono audio comes back unchanged."""
    stereo = WavAudio(
        pcm=array("h", [100, 300, -5, -7, 32767, 32767]).tobytes(),
        sample_rate=8000,
        channels=2,
        sample_width=2,
    )
    mono = stereo.to_mono()
    assert (mono.channels, array("h", mono.pcm).tolist()) == (1, [200, -6, 32767])
    assert mono.to_mono() is mono


def test_transcribe_does_not_pace_by_default(session: Session) -> None:
    """By default transcribe never sleeps between frames; realtime=True does."""
    pcm = encode_speech("no waiting", 16000)
    slept: list[float] = []
    assert session.transcribe(pcm) == "no waiting"
    from sayna._conveniences import transcribe

    assert transcribe(session, pcm, sleep=slept.append) == "no waiting"
    assert slept == []
    assert transcribe(session, pcm, realtime=True, speed=50, sleep=slept.append) == "no waiting"
    assert slept


def test_a_decoded_round_trip_through_to_wav(session: Session) -> None:
    """say()'s AudioResult as WAV bytes reads back as the same PCM."""
    audio = session.say("wav bytes")
    wav = read_wav(io.BytesIO(audio.to_wav()))
    assert (wav.sample_rate, wav.channels, wav.pcm) == (16000, 1, audio.data)
    assert decode_speech(wav.pcm, 16000) == "wav bytes"
