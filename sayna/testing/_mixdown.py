"""Stereo socket audio heard as one voice by the stand-in STT.

The real server hands a ``channels=2`` stream to its provider, which mixes the
channels (no per-channel transcripts unless asked for). The stand-in decoder
matches exact samples, so an averaging mix would blur speech carried on one
channel only; instead each frame keeps its sample of largest magnitude. Speech
on one channel (the other silent) or the same speech on both is recognised
exactly; two different voices at once are not, as with a real mix.
"""

from __future__ import annotations

import sys
from array import array

__all__ = ["Mixdown"]


class Mixdown:
    """Turns interleaved 16-bit little-endian frames of ``channels`` into mono, in any chunking."""

    def __init__(self, channels: int) -> None:
        self._channels = channels
        self._frame_bytes = 2 * channels
        self._pending = b""  # the tail of a frame split across chunks

    def feed(self, data: bytes) -> bytes:
        """Mono samples for every whole frame received so far."""
        if self._channels == 1:
            return data
        data = self._pending + data
        whole = len(data) - len(data) % self._frame_bytes
        self._pending = data[whole:]
        samples = array("h", data[:whole])
        if sys.byteorder == "big":
            samples.byteswap()
        mono = array("h", bytes(2 * (whole // self._frame_bytes)))
        step = self._channels
        for index in range(len(mono)):
            frame = samples[index * step : index * step + step]
            mono[index] = max(frame, key=abs)
        if sys.byteorder == "big":
            mono.byteswap()
        return mono.tobytes()
