"""WAV reading and checking, PCM chunking, pacing and writing."""

from __future__ import annotations

import io
import pathlib
import struct
import wave
from typing import Any

import pytest

from sayna import SaynaValidationError, STTConfig
from sayna._wav import (
    WavAudio,
    bytes_per_second,
    pace,
    read_wav,
    split_pcm,
    write_wav,
)


def Fmt(**overrides: Any) -> STTConfig:
    """An STTConfig where only the audio format matters (16 kHz mono linear16 by default)."""
    return STTConfig(provider="deepgram", model="", **overrides)


def _wav_bytes(
    pcm: bytes = b"\x01\x00" * 1600, *, rate: int = 16000, channels: int = 1, width: int = 2
) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def _write(tmp_path: pathlib.Path, data: bytes, name: str = "file.wav") -> pathlib.Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_read_wav_returns_frames_and_format(tmp_path: pathlib.Path) -> None:
    """A valid 16 kHz mono file reads back with its PCM, rate, channels and width."""
    pcm = bytes(range(256)) * 25
    audio = read_wav(_write(tmp_path, _wav_bytes(pcm)), stt_config=Fmt())
    assert audio.pcm == pcm
    assert (audio.sample_rate, audio.channels, audio.sample_width) == (16000, 1, 2)
    assert audio.duration == pytest.approx(0.2)
    assert "6400 bytes" in repr(audio)


def test_read_wav_accepts_bytes_and_file_objects() -> None:
    """read_wav takes raw bytes and binary file objects as well as paths."""
    data = _wav_bytes()
    assert read_wav(data).pcm == read_wav(io.BytesIO(data)).pcm


def test_wrong_sample_rate_names_file_and_both_rates(tmp_path: pathlib.Path) -> None:
    """A 44.1 kHz file against a 16 kHz config names the file and both rates."""
    path = _write(tmp_path, _wav_bytes(rate=44100))
    with pytest.raises(SaynaValidationError) as info:
        read_wav(path, stt_config=Fmt())
    assert str(info.value) == f"{path} is 44100 Hz but stt_config.sample_rate is 16000"
    assert info.value.field == "sample_rate"


def test_wrong_channel_count(tmp_path: pathlib.Path) -> None:
    """A stereo file against a mono config is refused with both channel counts."""
    path = _write(tmp_path, _wav_bytes(b"\x00" * 400, channels=2))
    with pytest.raises(SaynaValidationError, match=r"has 2 channels but stt_config\.channels is 1"):
        read_wav(path, stt_config=Fmt())


@pytest.mark.parametrize("width", [1, 3, 4])
def test_wrong_sample_width(tmp_path: pathlib.Path, width: int) -> None:
    """8-, 24- and 32-bit files are refused as not 16-bit PCM."""
    path = _write(tmp_path, _wav_bytes(b"\x00" * 12 * width, width=width))
    with pytest.raises(SaynaValidationError, match=f"is {8 * width}-bit PCM but only 16-bit"):
        read_wav(path, stt_config=Fmt())


def test_non_pcm_encoding_in_config_is_refused(tmp_path: pathlib.Path) -> None:
    """A PCM file cannot feed a session whose stt_config expects mu-law."""
    path = _write(tmp_path, _wav_bytes())
    with pytest.raises(SaynaValidationError, match=r"stt_config\.encoding is 'mulaw'"):
        read_wav(path, stt_config=Fmt(encoding="mulaw"))


def test_pcm_s16le_encoding_is_accepted(tmp_path: pathlib.Path) -> None:
    """Cartesia's name for 16-bit PCM passes the check, case-insensitively."""
    read_wav(_write(tmp_path, _wav_bytes()), stt_config=Fmt(encoding="PCM_S16LE"))


def test_empty_file(tmp_path: pathlib.Path) -> None:
    """An empty file is reported as empty."""
    path = _write(tmp_path, b"")
    with pytest.raises(SaynaValidationError, match=r"file\.wav is empty$"):
        read_wav(path)


def test_missing_file(tmp_path: pathlib.Path) -> None:
    """A path that does not exist is a validation error naming the file."""
    with pytest.raises(SaynaValidationError, match=r"cannot read .*nope\.wav"):
        read_wav(tmp_path / "nope.wav")


def test_non_wav_file(tmp_path: pathlib.Path) -> None:
    """Bytes without a RIFF/WAVE header are not a WAV file."""
    path = _write(tmp_path, b"ID3\x03\x00" + b"\x00" * 100, "song.mp3")
    with pytest.raises(SaynaValidationError, match=r"song\.mp3 is not a WAV file"):
        read_wav(path)


def test_truncated_data(tmp_path: pathlib.Path) -> None:
    """A file cut inside its data chunk reports declared and present byte counts."""
    data = _wav_bytes(b"\x00\x01" * 1000)
    path = _write(tmp_path, data[:-500])
    with pytest.raises(SaynaValidationError, match=r"truncated: .* 2000 bytes .* only 1500"):
        read_wav(path)


def test_truncated_header(tmp_path: pathlib.Path) -> None:
    """A file cut inside its header is reported as truncated."""
    path = _write(tmp_path, _wav_bytes()[:30])
    with pytest.raises(SaynaValidationError, match="truncated"):
        read_wav(path)


def test_float_wav_is_not_pcm(tmp_path: pathlib.Path) -> None:
    """A 32-bit float WAV (format code 3) is refused as not linear PCM."""
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 8)
    data = b"RIFF" + struct.pack("<I", len(body) + 8) + body + b"\x00" * 8
    with pytest.raises(SaynaValidationError, match=r"not linear PCM .*32-bit float"):
        read_wav(_write(tmp_path, data))


def test_split_pcm_is_frame_aligned() -> None:
    """100 ms of 16 kHz mono is 3200 bytes; the remainder forms a shorter last chunk."""
    chunks = list(split_pcm(b"\x00" * 7000, chunk_ms=100, sample_rate=16000))
    assert [len(c) for c in chunks] == [3200, 3200, 600]
    assert b"".join(chunks) == b"\x00" * 7000


def test_split_pcm_stereo_and_odd_rate() -> None:
    """Chunks of stereo audio at 11025 Hz are whole frames (4 bytes each)."""
    pcm = bytes(range(256)) * 40
    chunks = list(split_pcm(pcm, chunk_ms=30, sample_rate=11025, channels=2))
    assert all(len(c) % 4 == 0 for c in chunks)
    assert len(chunks[0]) == 330 * 4
    assert b"".join(chunks) == pcm


def test_split_pcm_refuses_partial_frames_and_bad_sizes() -> None:
    """PCM with a half frame and a zero chunk length are refused."""
    with pytest.raises(SaynaValidationError, match="whole number of 2-byte frames"):
        list(split_pcm(b"\x00" * 3, chunk_ms=100, sample_rate=16000))
    with pytest.raises(SaynaValidationError, match="chunk_ms"):
        list(split_pcm(b"", chunk_ms=0, sample_rate=16000))


def test_wav_audio_chunks() -> None:
    """WavAudio.chunks splits with the file's own format."""
    audio = WavAudio(pcm=b"\x00" * 8000, sample_rate=8000, channels=1, sample_width=2)
    assert [len(c) for c in audio.chunks(250)] == [4000, 4000]


class FakeClock:
    """A clock that only moves when sleep is called."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pace_sleeps_for_the_audio_already_sent() -> None:
    """Four 100 ms chunks take 300 ms: the first goes at once, each later one 100 ms on."""
    clock = FakeClock()
    chunks = [b"\x00" * 3200] * 4
    out = list(pace(chunks, bytes_per_second=32000, clock=clock.time, sleep=clock.sleep))
    assert out == chunks
    assert clock.sleeps == pytest.approx([0.1, 0.1, 0.1])
    assert clock.now == pytest.approx(100.3)


def test_pace_does_not_accumulate_drift() -> None:
    """Time lost in the consumer is subtracted from the next sleep."""
    clock = FakeClock()
    paced = pace([b"\x00" * 3200] * 3, bytes_per_second=32000, clock=clock.time, sleep=clock.sleep)
    next(paced)
    clock.now += 0.07  # the consumer spends 70 ms sending
    next(paced)
    clock.now += 0.25  # and is late past the next deadline
    next(paced)
    assert clock.sleeps == pytest.approx([0.03])


def test_pace_speed_factor() -> None:
    """speed=4 sends four times faster than real time."""
    clock = FakeClock()
    list(
        pace(
            [b"\x00" * 3200] * 3,
            bytes_per_second=32000,
            speed=4,
            clock=clock.time,
            sleep=clock.sleep,
        )
    )
    assert clock.sleeps == pytest.approx([0.025, 0.025])


def test_pace_refuses_nonpositive_rate() -> None:
    """A zero byte rate cannot be paced."""
    with pytest.raises(SaynaValidationError):
        list(pace([b"x"], bytes_per_second=0))


def test_bytes_per_second() -> None:
    """16 kHz mono 16-bit is 32000 bytes per second; 48 kHz stereo is 192000."""
    assert bytes_per_second(16000) == 32000
    assert bytes_per_second(48000, 2) == 192000


def test_write_wav_round_trip(tmp_path: pathlib.Path) -> None:
    """PCM written with write_wav reads back unchanged with the same format."""
    pcm = bytes(range(200)) * 4
    path = tmp_path / "out.wav"
    write_wav(path, pcm, sample_rate=24000)
    audio = read_wav(path)
    assert (audio.pcm, audio.sample_rate, audio.channels) == (pcm, 24000, 1)


def test_write_wav_refuses_partial_frames(tmp_path: pathlib.Path) -> None:
    """Stereo PCM that is not a whole number of 4-byte frames is refused."""
    with pytest.raises(SaynaValidationError, match="4-byte frames"):
        write_wav(tmp_path / "x.wav", b"\x00" * 6, sample_rate=16000, channels=2)
