"""Sample-rate and channel conversion of 16-bit little-endian PCM.

Resampling is done by libsoxr (through the ``soxr`` package), at its "HQ"
setting: a linear-phase filter whose passband is flat to 0.01 dB up to 91 %
of the lower Nyquist frequency and whose noise sits below 16-bit
quantisation, at hundreds to thousands of times real time. It needs numpy, so
it lives in the optional extras (``sayna[resample]``, and ``sayna[audio]``
for devices); without it, :func:`resample` and :class:`Resampler` raise
:class:`~sayna.SaynaAudioError` naming the extra. Channel mixing is standard
library only.
"""

from __future__ import annotations

import sys
from array import array
from types import ModuleType
from typing import Any

from sayna._errors import SaynaAudioError, SaynaValidationError

__all__ = ["Resampler", "resample", "to_channels", "to_mono"]

_QUALITY = "HQ"
_INSTALL_HINT = "pip install 'sayna[resample]'"
Pcm = bytes | bytearray | memoryview


def _soxr() -> tuple[ModuleType, ModuleType]:
    try:
        import numpy
        import soxr
    except ImportError as exc:
        raise SaynaAudioError(
            f"resampling needs the soxr package, which is not installed ({_INSTALL_HINT})"
        ) from exc
    return soxr, numpy


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SaynaValidationError(
            f"{name} must be a positive whole number, got {value!r}", field=name
        )
    return value


def _frames(pcm: Pcm, channels: int, call: str) -> bytes:
    data = bytes(pcm)
    frame = 2 * channels
    if len(data) % frame:
        raise SaynaValidationError(
            f"{call}() takes 16-bit PCM in whole frames of {frame} bytes "
            f"({channels} channel{'s' if channels != 1 else ''}); {len(data)} bytes is not",
            field="pcm",
        )
    return data


def _array(numpy: ModuleType, data: bytes, channels: int) -> Any:
    return numpy.frombuffer(data, dtype="<i2").reshape(-1, channels)


def _bytes(samples: Any) -> bytes:
    return bytes(samples.astype("<i2", copy=False).tobytes())


def resample(pcm: Pcm, from_rate: int, to_rate: int, *, channels: int = 1) -> bytes:
    """``pcm`` (16-bit little-endian, interleaved) converted from ``from_rate`` to ``to_rate`` Hz.

    The result holds ``round(frames * to_rate / from_rate)`` frames. Needs
    ``sayna[resample]``; PCM that is not whole frames raises
    :class:`~sayna.SaynaValidationError`.
    """
    _positive(from_rate, "from_rate")
    _positive(to_rate, "to_rate")
    _positive(channels, "channels")
    data = _frames(pcm, channels, "resample")
    if from_rate == to_rate or not data:
        return data
    soxr, numpy = _soxr()
    out = soxr.resample(_array(numpy, data, channels), from_rate, to_rate, quality=_QUALITY)
    return _bytes(out)


class Resampler:
    """Resample a stream chunk by chunk, with the filter's state kept between chunks.

    ``process(chunk)`` returns what is ready so far (it may be empty: the filter
    holds back a few milliseconds); ``flush()`` returns the rest and ends the
    stream. Chunk edges leave no click: the concatenated output matches
    :func:`resample` of the whole input in length, sample for sample within a
    few least-significant bits (the filter's arithmetic is blocked differently).
    """

    def __init__(self, from_rate: int, to_rate: int, channels: int = 1) -> None:
        self.from_rate = _positive(from_rate, "from_rate")
        self.to_rate = _positive(to_rate, "to_rate")
        self.channels = _positive(channels, "channels")
        self._done = False
        self._stream: Any = None
        if from_rate != to_rate:
            soxr, self._numpy = _soxr()
            self._stream = soxr.ResampleStream(
                from_rate, to_rate, channels, dtype="int16", quality=_QUALITY
            )

    def __repr__(self) -> str:
        return f"<Resampler {self.from_rate} Hz -> {self.to_rate} Hz, {self.channels} ch>"

    def _feed(self, data: bytes, *, last: bool) -> bytes:
        if self._done:
            raise SaynaValidationError("this Resampler was flushed; make a new one", field="chunk")
        self._done = last
        if self._stream is None:
            return data
        out = self._stream.resample_chunk(_array(self._numpy, data, self.channels), last=last)
        return _bytes(out)

    def process(self, chunk: Pcm) -> bytes:
        """The resampled audio that ``chunk`` completes (whole frames in, whole frames out)."""
        return self._feed(_frames(chunk, self.channels, "Resampler.process"), last=False)

    def flush(self) -> bytes:
        """The audio still held by the filter; the Resampler takes no more input after it."""
        return self._feed(b"", last=True)


def _samples(data: bytes) -> array[int]:
    samples = array("h")
    samples.frombytes(data)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _pcm(samples: array[int]) -> bytes:
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def to_mono(pcm: Pcm, channels: int) -> bytes:
    """Interleaved ``channels``-channel 16-bit PCM averaged into one channel.

    The average rounds toward minus infinity, as integer division does.
    """
    _positive(channels, "channels")
    data = _frames(pcm, channels, "to_mono")
    if channels == 1:
        return data
    samples = _samples(data)
    lanes = [samples[c::channels] for c in range(channels)]
    return _pcm(array("h", [sum(frame) // channels for frame in zip(*lanes, strict=True)]))


def to_channels(pcm: Pcm, from_channels: int, to_channels: int) -> bytes:
    """PCM with its channel count changed: mixed down to mono, or mono copied to every channel.

    Other changes (stereo to 5.1, say) have no one right answer and raise
    :class:`~sayna.SaynaValidationError`.
    """
    _positive(from_channels, "from_channels")
    _positive(to_channels, "to_channels")
    if from_channels == to_channels:
        return _frames(pcm, from_channels, "to_channels")
    if to_channels == 1:
        return to_mono(pcm, from_channels)
    if from_channels != 1:
        raise SaynaValidationError(
            f"cannot turn {from_channels}-channel audio into {to_channels} channels; "
            "only mixing down to mono or copying mono to every channel is done",
            field="channels",
        )
    samples = _samples(_frames(pcm, 1, "to_channels"))
    spread = array("h", bytes(2 * len(samples) * to_channels))
    for c in range(to_channels):
        spread[c::to_channels] = samples
    return _pcm(spread)
