"""Conversion where audio is used: AudioResult.resample/to_ulaw/to_alaw, G.711 WAV files,
and sessions converting audio of another rate or channel count (issue 24, point 2)."""

from __future__ import annotations

import pathlib
import struct
from array import array

import attrs
import pytest

from sayna import AudioResult, SaynaValidationError, STTConfig, WavAudio
from sayna._realtime.session import Session
from sayna._wav import read_wav, write_wav
from sayna.audio import resample, to_channels, ulaw_decode, ulaw_encode
from sayna.testing import FakeServer, encode_speech
from tests.support.polling import wait_until
from tests.support.speech_configs import STT


def _sent(server: FakeServer) -> bytes:
    return b"".join(f.data for f in server.sessions[0].received if f.kind == "binary")


def _pcm_result(pcm: bytes, rate: int) -> AudioResult:
    return AudioResult(
        pcm, {"Content-Type": "audio/pcm", "x-audio-format": "linear16", "x-sample-rate": str(rate)}
    )


def _g711_wav(codes: bytes, *, rate: int, channels: int = 1, law: int = 7) -> bytes:
    """A WAV file of G.711 bytes (format 7 µ-law, 6 A-law), with an odd-length chunk before data."""
    fmt = struct.pack("<HHIIHH", law, channels, rate, rate * channels, channels, 8)
    extra = b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # padded to even, as RIFF says
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + extra
        + b"data"
        + struct.pack("<I", len(codes))
        + codes
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --- AudioResult ----------------------------------------------------------------


def test_audio_result_resample_relabels_the_audio() -> None:
    """resample(16000) of 8 kHz PCM gives twice the samples, labelled 16 kHz linear16."""
    pcm = encode_speech("hello", 8000)
    out = _pcm_result(pcm, 8000).resample(16000)
    assert out.data == resample(pcm, 8000, 16000)
    assert (out.sample_rate, out.audio_format, out.content_type) == (16000, "linear16", "audio/pcm")
    assert out.is_pcm
    assert len(out) == 2 * len(pcm)


def test_audio_result_to_ulaw_and_back() -> None:
    """to_ulaw() gives µ-law bytes labelled mulaw/audio/basic; to_alaw() of that transcodes."""
    pcm = encode_speech("phone", 8000)
    ulaw = _pcm_result(pcm, 8000).to_ulaw()
    assert ulaw.data == ulaw_encode(pcm)
    assert (ulaw.audio_format, ulaw.content_type, ulaw.sample_rate) == (
        "mulaw",
        "audio/basic",
        8000,
    )
    assert ulaw.to_ulaw() is ulaw
    alaw = ulaw.to_alaw()
    assert alaw.audio_format == "alaw"
    assert len(alaw) == len(ulaw)
    # Resampling G.711 decodes it first: the result is PCM.
    assert ulaw.resample(16000).is_pcm


def test_audio_result_refuses_compressed_audio() -> None:
    """MP3 cannot be resampled or companded here: a clear SaynaValidationError."""
    mp3 = AudioResult(b"ID3" + bytes(64), {"x-audio-format": "mp3"})
    with pytest.raises(SaynaValidationError, match=r"only PCM and G\.711 audio can be resampled"):
        mp3.resample(16000)
    with pytest.raises(SaynaValidationError, match="this audio is mp3"):
        mp3.to_ulaw()


def test_a_server_mulaw_answer_converts(server: FakeServer) -> None:
    """speak_rest in mulaw from the local server decodes and resamples to 16 kHz PCM."""
    from sayna import Sayna, TTSConfig

    voice = TTSConfig(provider="deepgram", model="", audio_format="mulaw", sample_rate=8000)
    with Sayna(server.url) as client:
        answer = client.speak_rest("Press one.", voice)
    assert answer.content_type == "audio/basic"
    pcm16 = answer.resample(16000)
    assert len(pcm16) == 4 * len(answer)
    assert pcm16.data == resample(ulaw_decode(answer.data), 8000, 16000)


# --- G.711 WAV files ----------------------------------------------------------


@pytest.mark.parametrize(("law", "name"), [(7, "mu-law"), (6, "A-law")])
def test_read_wav_decodes_g711_files(tmp_path: pathlib.Path, law: int, name: str) -> None:
    """A µ-law or A-law WAV on disk reads as 16-bit PCM at its rate and channel count."""
    codes = bytes(range(256)) * 10
    path = tmp_path / f"{name}.wav"
    path.write_bytes(_g711_wav(codes, rate=8000, channels=2, law=law))
    audio = read_wav(path)
    assert (audio.sample_rate, audio.channels, audio.sample_width) == (8000, 2, 2)
    assert len(audio.pcm) == 2 * len(codes)
    if law == 7:
        assert audio.pcm == ulaw_decode(codes)


def test_read_wav_refuses_a_truncated_g711_file(tmp_path: pathlib.Path) -> None:
    """A µ-law WAV whose data chunk is cut short names the missing bytes."""
    data = _g711_wav(bytes(100), rate=8000)[:-40]
    with pytest.raises(SaynaValidationError, match="declares 100 bytes of audio but only 60"):
        read_wav(data)


# --- sessions convert ---------------------------------------------------------


def test_a_44k_wav_is_resampled_for_a_16k_session(
    server: FakeServer, session: Session, tmp_path: pathlib.Path
) -> None:
    """A 44.1 kHz WAV streamed to a 16 kHz session arrives as soxr's 16 kHz version of it."""
    pcm = encode_speech("compact disc", 44100)
    path = tmp_path / "cd.wav"
    write_wav(path, pcm, sample_rate=44100)
    sent = session.stream_audio(path, realtime=False)
    want = resample(pcm, 44100, 16000)
    assert sent == len(want)
    wait_until(lambda: len(_sent(server)) == len(want))
    assert _sent(server) == want


def test_a_mulaw_wav_at_8k_feeds_a_16k_session(
    server: FakeServer, session: Session, tmp_path: pathlib.Path
) -> None:
    """The phone case: an 8 kHz µ-law file is decoded and resampled to 16 kHz on the way."""
    codes = ulaw_encode(encode_speech("telephone", 8000))
    path = tmp_path / "call.wav"
    path.write_bytes(_g711_wav(codes, rate=8000))
    session.stream_audio(path, realtime=False)
    want = resample(ulaw_decode(codes), 8000, 16000)
    wait_until(lambda: len(_sent(server)) == len(want))
    assert _sent(server) == want


def test_mono_speech_feeds_a_stereo_session_and_is_heard(session: Session) -> None:
    """Stereo speech (same on both channels) mixes down exactly, so the stand-in STT hears it."""
    text = "Left and right."
    stereo = to_channels(encode_speech(text, 16000), 1, 2)
    audio = WavAudio(pcm=stereo, sample_rate=16000, channels=2, sample_width=2)
    assert session.transcribe(audio) == text


@pytest.mark.connect(stt_config=attrs.evolve(STT, channels=2))
def test_mono_audio_is_copied_to_both_channels_of_a_stereo_session(
    server: FakeServer, session: Session
) -> None:
    """A mono 8 kHz WavAudio for a 16 kHz stereo session: resampled, then copied to 2 channels."""
    pcm = encode_speech("both ears", 8000)
    session.on_audio_input(WavAudio(pcm=pcm, sample_rate=8000, channels=1, sample_width=2))
    want = to_channels(resample(pcm, 8000, 16000), 1, 2)
    wait_until(lambda: len(_sent(server)) == len(want))
    assert _sent(server) == want


def test_raw_bytes_are_still_checked_not_converted(server: FakeServer, session: Session) -> None:
    """Raw bytes carry no format: they go as they are, and partial frames are still refused."""
    with pytest.raises(SaynaValidationError, match="not a whole number of 2-byte frames"):
        session.stream_audio(b"\x01\x02\x03", realtime=False)
    pcm = array("h", range(800)).tobytes()
    session.stream_audio(pcm, realtime=False)
    wait_until(lambda: len(_sent(server)) == len(pcm))
    assert _sent(server) == pcm


@pytest.mark.connect(
    stt_config=STTConfig(provider="deepgram", model="nova-3", encoding="mulaw", sample_rate=8000)
)
def test_a_non_pcm_session_still_refuses_a_wav(server: FakeServer, session: Session) -> None:
    """A mulaw stt_config gets no PCM: the file is refused, naming the encoding (nothing sent)."""
    audio = WavAudio(pcm=bytes(3200), sample_rate=8000, channels=1, sample_width=2)
    with pytest.raises(SaynaValidationError, match=r"stt_config\.encoding is 'mulaw'"):
        session.on_audio_input(audio)
    assert _sent(server) == b""
