"""WAV files and raw PCM: read, check against an STT config, chunk, pace, write.

Standard library only (``wave``, plus a small RIFF walk for G.711 files,
which ``wave`` refuses). The server never resamples (docs/protocol.rst
§4.3.1): :func:`read_wav` says which property differs from ``stt_config``,
and the session's senders convert rate and channels before sending.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import time
import wave
from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, Union

import attrs

from sayna._errors import SaynaValidationError
from sayna._g711 import alaw_decode, ulaw_decode
from sayna._models import STTConfig

__all__ = [
    "PCM16_ENCODINGS",
    "WavAudio",
    "bytes_per_second",
    "check_pcm_format",
    "pace",
    "read_wav",
    "split_pcm",
    "write_wav",
]

WavSource = Union[str, "os.PathLike[str]", bytes, BinaryIO]

#: ``stt_config.encoding`` values that mean 16-bit little-endian linear PCM,
#: the only sample format a WAV file is checked against (lower case).
PCM16_ENCODINGS = frozenset({"linear16", "pcm_s16le", "pcm16", "s16le", "pcm"})

_WAVE_FORMAT_NAMES = {3: "32-bit float", 6: "A-law", 7: "mu-law", 0xFFFE: "extensible"}


@attrs.frozen(kw_only=True)
class WavAudio:
    """The PCM frames of a WAV file and its format; ``name`` is for messages."""

    pcm: bytes = attrs.field(repr=lambda pcm: f"<{len(pcm)} bytes>")
    sample_rate: int
    channels: int
    sample_width: int
    name: str = "audio"

    @property
    def frame_size(self) -> int:
        """Bytes per frame (one sample of every channel)."""
        return self.channels * self.sample_width

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.pcm) / (self.frame_size * self.sample_rate)

    def check(self, stt_config: STTConfig) -> None:
        """Raise :class:`SaynaValidationError` unless this audio fits ``stt_config``."""
        check_pcm_format(
            stt_config,
            sample_rate=self.sample_rate,
            channels=self.channels,
            sample_width=self.sample_width,
            name=self.name,
        )

    def to_mono(self) -> WavAudio:
        """This audio with its channels averaged into one (16-bit PCM; itself if mono).

        The server never mixes channels for a mono ``stt_config``, and a
        recogniser fed interleaved stereo as mono hears noise at half speed.
        """
        if self.channels == 1 or self.sample_width != 2:
            return self  # check() names what still does not fit
        samples = array("h")
        samples.frombytes(self.pcm[: len(self.pcm) - len(self.pcm) % self.frame_size])
        if sys.byteorder == "big":
            samples.byteswap()
        n = self.channels
        channels = (samples[c::n] for c in range(n))
        mixed = array("h", [sum(frame) // n for frame in zip(*channels, strict=True)])
        if sys.byteorder == "big":
            mixed.byteswap()
        return attrs.evolve(self, pcm=mixed.tobytes(), channels=1)

    def chunks(self, chunk_ms: int = 100) -> Iterator[bytes]:
        """Frame-aligned chunks of ``chunk_ms`` milliseconds (the last may be shorter)."""
        return split_pcm(
            self.pcm,
            chunk_ms=chunk_ms,
            sample_rate=self.sample_rate,
            channels=self.channels,
            sample_width=self.sample_width,
        )


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def check_pcm_format(
    stt_config: STTConfig,
    *,
    sample_rate: int,
    channels: int,
    sample_width: int,
    name: str = "audio",
) -> None:
    """Raise :class:`SaynaValidationError` naming the first property that differs."""
    if sample_rate != stt_config.sample_rate:
        raise SaynaValidationError(
            f"{name} is {sample_rate} Hz but stt_config.sample_rate is {stt_config.sample_rate}",
            field="sample_rate",
        )
    if channels != stt_config.channels:
        raise SaynaValidationError(
            f"{name} has {_plural(channels, 'channel', 'channels')} but "
            f"stt_config.channels is {stt_config.channels}",
            field="channels",
        )
    if sample_width != 2:
        raise SaynaValidationError(
            f"{name} is {8 * sample_width}-bit PCM but only 16-bit PCM can be streamed",
            field="sample_width",
        )
    if stt_config.encoding.lower() not in PCM16_ENCODINGS:
        raise SaynaValidationError(
            f"{name} is 16-bit linear PCM but stt_config.encoding is "
            f"{stt_config.encoding!r} (use 'linear16' or 'pcm_s16le')",
            field="encoding",
        )


def _source_name(source: WavSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, bytes):
        return "audio"
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "audio"


def _read_bytes(source: WavSource, name: str) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise SaynaValidationError(f"cannot read {name}: {exc.strerror or exc}") from exc
    return source.read()


def read_wav(source: WavSource, *, stt_config: STTConfig | None = None) -> WavAudio:
    """Read a WAV file (path, bytes or binary file object) into memory.

    Linear PCM is read as it is; G.711 µ-law and A-law files are decoded to
    16-bit PCM. With ``stt_config``, also check that its rate, channels and
    sample format match. Empty, truncated, compressed and non-WAV input raise
    :class:`SaynaValidationError` with a message naming the file.
    """
    name = _source_name(source)
    data = _read_bytes(source, name)
    if not data:
        raise SaynaValidationError(f"{name} is empty")
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SaynaValidationError(f"{name} is not a WAV file (no RIFF/WAVE header)")
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            rate = wav.getframerate()
            channels = wav.getnchannels()
            width = wav.getsampwidth()
            declared = wav.getnframes()
            pcm = wav.readframes(declared)
    except EOFError as exc:
        raise SaynaValidationError(f"{name} is truncated (incomplete WAV header)") from exc
    except wave.Error as exc:
        if str(exc) in ("unknown format: 6", "unknown format: 7"):
            audio = _read_g711_wav(data, name)
            if stt_config is not None:
                audio.check(stt_config)
            return audio
        raise SaynaValidationError(_describe_wave_error(name, str(exc))) from exc
    if channels < 1 or rate < 1 or width < 1:
        raise SaynaValidationError(f"{name} has an invalid WAV header")
    frame_size = channels * width
    if len(pcm) < declared * frame_size:
        raise SaynaValidationError(
            f"{name} is truncated: its header declares {declared * frame_size} bytes of "
            f"audio but only {len(pcm)} are present"
        )
    audio = WavAudio(pcm=pcm, sample_rate=rate, channels=channels, sample_width=width, name=name)
    if stt_config is not None:
        audio.check(stt_config)
    return audio


def _read_g711_wav(data: bytes, name: str) -> WavAudio:
    """A µ-law (format 7) or A-law (format 6) WAV file, decoded to 16-bit PCM."""
    fmt: tuple[int, int, int, int] | None = None
    payload: bytes | None = None
    declared = 0
    offset = 12
    while offset + 8 <= len(data) and payload is None:
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = data[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt " and len(body) >= 16:
            code, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            fmt = (code, channels, rate, bits)
        elif chunk_id == b"data":
            payload, declared = body, size
        offset += 8 + size + size % 2  # chunks are padded to an even length
    if fmt is None or payload is None:
        raise SaynaValidationError(f"{name} is truncated or damaged (no fmt/data chunk)")
    code, channels, rate, bits = fmt
    if bits != 8 or channels < 1 or rate < 1:
        raise SaynaValidationError(f"{name} has an invalid G.711 WAV header")
    if len(payload) < declared:
        raise SaynaValidationError(
            f"{name} is truncated: its header declares {declared} bytes of "
            f"audio but only {len(payload)} are present"
        )
    payload = payload[: len(payload) - len(payload) % channels]
    pcm = ulaw_decode(payload) if code == 7 else alaw_decode(payload)
    return WavAudio(pcm=pcm, sample_rate=rate, channels=channels, sample_width=2, name=name)


def _describe_wave_error(name: str, text: str) -> str:
    if text.startswith("unknown format:"):
        try:
            code = int(text.split(":", 1)[1])
        except ValueError:
            code = -1
        kind = _WAVE_FORMAT_NAMES.get(code, f"format code {code}")
        return f"{name} is not linear PCM ({kind}); convert it to 16-bit PCM"
    if "chunk" in text and "missing" in text:
        return f"{name} is truncated or damaged (no fmt/data chunk)"
    return f"{name} is not a valid WAV file: {text}"


def _frame_size(channels: int, sample_width: int) -> int:
    if channels < 1 or sample_width < 1:
        raise SaynaValidationError("channels and sample_width must be positive")
    return channels * sample_width


def bytes_per_second(sample_rate: int, channels: int = 1, sample_width: int = 2) -> int:
    """Bytes of PCM per second of audio in this format."""
    if sample_rate < 1:
        raise SaynaValidationError(f"sample_rate must be positive, got {sample_rate}")
    return sample_rate * _frame_size(channels, sample_width)


def split_pcm(
    pcm: bytes,
    *,
    chunk_ms: int,
    sample_rate: int,
    channels: int = 1,
    sample_width: int = 2,
) -> Iterator[bytes]:
    """Cut PCM into chunks of ``chunk_ms`` milliseconds, never splitting a frame.

    Every chunk but the last holds exactly ``chunk_ms`` of audio; PCM whose
    length is not a whole number of frames is refused.
    """
    frame = _frame_size(channels, sample_width)
    if chunk_ms < 1:
        raise SaynaValidationError(f"chunk_ms must be at least 1, got {chunk_ms}")
    if sample_rate < 1:
        raise SaynaValidationError(f"sample_rate must be positive, got {sample_rate}")
    if len(pcm) % frame:
        raise SaynaValidationError(
            f"PCM length {len(pcm)} is not a whole number of {frame}-byte frames"
        )
    # At least one frame per chunk, so tiny chunk_ms at low rates still advances.
    step = max(1, sample_rate * chunk_ms // 1000) * frame
    view = memoryview(pcm)
    return (bytes(view[i : i + step]) for i in range(0, len(pcm), step))


def pace(
    chunks: Iterable[bytes],
    *,
    bytes_per_second: float,
    speed: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bytes]:
    """Yield chunks no faster than the audio would play (``speed`` times real time).

    The first chunk goes at once; each later one when the audio before it has
    played out. Deadlines are computed from the start, not chunk to chunk, so
    slow consumers and sleep overshoot do not accumulate drift.
    """
    if speed <= 0:
        raise SaynaValidationError("speed must be a positive number", field="speed")
    if bytes_per_second <= 0:  # comes from the STT config, which refuses such rates
        raise SaynaValidationError("the audio's byte rate must be positive")
    rate = bytes_per_second * speed
    start: float | None = None
    sent = 0
    for chunk in chunks:
        if start is None:
            start = clock()
        else:
            delay = start + sent / rate - clock()
            if delay > 0:
                sleep(delay)
        yield chunk
        sent += len(chunk)


def write_wav(
    path: str | os.PathLike[str] | BinaryIO,
    pcm: bytes,
    *,
    sample_rate: int,
    channels: int = 1,
    sample_width: int = 2,
) -> None:
    """Write raw little-endian PCM (e.g. received TTS audio) as a WAV file."""
    frame = _frame_size(channels, sample_width)
    if sample_rate < 1:
        raise SaynaValidationError(f"sample_rate must be positive, got {sample_rate}")
    if len(pcm) % frame:
        raise SaynaValidationError(
            f"PCM length {len(pcm)} is not a whole number of {frame}-byte frames"
        )
    target: str | BinaryIO = os.fspath(path) if isinstance(path, os.PathLike) else path
    with wave.open(target, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(sample_width)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
