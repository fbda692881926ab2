"""AudioResult: tuple-style unpacking, header access, saving, notebook display."""

from __future__ import annotations

import base64
import pathlib
import re
import wave

import pytest

from sayna import AudioResult

PCM = bytes(range(32))
PCM_HEADERS = {
    "content-type": "audio/pcm",
    "x-audio-format": "linear16",
    "x-sample-rate": "16000",
    "content-length": "32",
}


def test_unpacks_like_the_async_sdk_tuple() -> None:
    """`audio, headers = result` yields the bytes and the headers."""
    audio, headers = AudioResult(PCM, PCM_HEADERS)
    assert audio == PCM
    assert headers["Content-Type"] == "audio/pcm"


def test_headers_are_case_insensitive() -> None:
    """Header lookups ignore case, whatever case the server used."""
    result = AudioResult(PCM, {"X-Audio-Format": "mp3"})
    assert result.headers["x-audio-format"] == "mp3"
    assert result.headers["X-AUDIO-FORMAT"] == "mp3"
    assert result.audio_format == "mp3"


def test_properties_from_headers() -> None:
    """content_type drops parameters; audio_format and sample_rate come from x- headers."""
    result = AudioResult(PCM, {**PCM_HEADERS, "content-type": "audio/PCM; rate=16000"})
    assert result.data == PCM
    assert result.content_type == "audio/pcm"
    assert result.audio_format == "linear16"
    assert result.sample_rate == 16000
    assert result.is_pcm
    assert len(result) == 32
    assert bytes(result) == PCM


def test_missing_or_bad_headers_give_none() -> None:
    """Absent or malformed headers read as None instead of raising."""
    result = AudioResult(b"", {"x-sample-rate": "fast"})
    assert result.content_type is None
    assert result.audio_format is None
    assert result.sample_rate is None
    assert not result.is_pcm


def test_repr_is_short_and_has_no_bytes() -> None:
    """The repr summarises size and format and never dumps the audio."""
    result = AudioResult(b"\xab" * 100_000, PCM_HEADERS)
    text = repr(result)
    assert text == "<AudioResult 100000 bytes, audio/pcm, linear16, 16000 Hz>"
    assert "\\xab" not in text


def test_save_pcm_as_wav(tmp_path: pathlib.Path) -> None:
    """Raw PCM is saved as a mono 16-bit WAV at the server's sample rate."""
    path = AudioResult(PCM, PCM_HEADERS).save(tmp_path / "out.wav")
    with wave.open(str(path), "rb") as reader:
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        assert reader.getframerate() == 16000
        assert reader.readframes(reader.getnframes()) == PCM


def test_save_pcm_recognised_by_content_type_alone(tmp_path: pathlib.Path) -> None:
    """audio/pcm without x-audio-format is still wrapped, at the server default of 24 kHz."""
    path = AudioResult(PCM + b"\x01", {"content-type": "audio/pcm"}).save(tmp_path / "a.wav")
    with wave.open(str(path), "rb") as reader:
        assert reader.getframerate() == 24000
        assert reader.readframes(reader.getnframes()) == PCM


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "audio/mpeg", "x-audio-format": "mp3"},
        {"content-type": "audio/ogg"},
        {"content-type": "audio/basic", "x-audio-format": "mulaw"},
    ],
)
def test_save_other_formats_byte_for_byte(tmp_path: pathlib.Path, headers: dict[str, str]) -> None:
    """Encoded formats (mp3, ogg, mulaw) are written exactly as received."""
    data = b"ID3\x00compressed"
    path = AudioResult(data, headers).save(str(tmp_path / "out.bin"))
    assert isinstance(path, pathlib.Path)
    assert path.read_bytes() == data


def test_notebook_player_wraps_pcm_as_wav() -> None:
    """_repr_html_ is an <audio> element whose data URI holds a WAV for PCM input."""
    markup = AudioResult(PCM, PCM_HEADERS)._repr_html_()
    match = re.fullmatch(
        r'<audio controls preload="metadata" src="data:audio/wav;base64,([^"]+)"></audio>', markup
    )
    assert match is not None
    payload = base64.b64decode(match.group(1))
    assert payload[:4] == b"RIFF"
    assert payload.endswith(PCM)


def test_notebook_player_keeps_encoded_audio() -> None:
    """Encoded audio is embedded unchanged with its own media type; empty audio says so."""
    markup = AudioResult(b"OggS", {"content-type": "audio/ogg"})._repr_html_()
    assert f"data:audio/ogg;base64,{base64.b64encode(b'OggS').decode()}" in markup
    assert "no audio" in AudioResult(b"", PCM_HEADERS)._repr_html_()


def test_to_wav_returns_a_playable_wav() -> None:
    """to_wav() gives WAV bytes: mono, 16-bit, at the header's rate, with the PCM as frames."""
    import io

    wav_bytes = AudioResult(PCM, PCM_HEADERS).to_wav()
    with wave.open(io.BytesIO(wav_bytes), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (
            1,
            2,
            16000,
        )
        assert reader.readframes(reader.getnframes()) == PCM


def test_to_wav_refuses_compressed_audio() -> None:
    """MP3 cannot be wrapped as WAV: to_wav() says so instead of writing a broken file."""
    from sayna import SaynaValidationError

    with pytest.raises(SaynaValidationError, match="mp3"):
        AudioResult(b"ID3...", {"x-audio-format": "mp3"}).to_wav()


def test_save_writes_into_a_binary_file_object() -> None:
    """save() takes a binary file object (a Django response, BytesIO) and returns it."""
    import io

    buffer = io.BytesIO()
    result = AudioResult(PCM, PCM_HEADERS)
    assert result.save(buffer) is buffer
    assert buffer.getvalue() == result.to_wav()
    mp3 = io.BytesIO()
    AudioResult(b"ID3...", {"x-audio-format": "mp3"}).save(mp3)
    assert mp3.getvalue() == b"ID3..."


def test_save_refuses_a_text_file(tmp_path: pathlib.Path) -> None:
    """A file opened in text mode is refused with a clear error, not a TypeError mid-write."""
    import io

    from sayna import SaynaValidationError

    with pytest.raises(SaynaValidationError, match="binary mode"):
        AudioResult(PCM, PCM_HEADERS).save(io.StringIO())  # type: ignore[call-overload]
