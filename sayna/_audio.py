"""The audio a REST call returns (``speak_rest``, ``get_recording``)."""

from __future__ import annotations

import base64
import html
import io
import os
import pathlib
import wave
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO, overload

from requests.structures import CaseInsensitiveDict

from sayna._errors import SaynaValidationError
from sayna._g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from sayna._resample import resample

__all__ = ["DEFAULT_SAMPLE_RATE", "AudioResult"]

# Formats whose bytes are headerless 16-bit little-endian PCM (docs/protocol.rst §2.3).
_PCM_FORMATS = frozenset({"linear16", "pcm", "pcm_s16le"})
_PCM_CONTENT_TYPES = frozenset({"audio/pcm", "audio/l16"})
# G.711 as the server names it (x-audio-format) and as media types say it.
_ULAW_FORMATS = frozenset({"mulaw", "ulaw", "pcm_mulaw", "g711_ulaw"})
_ALAW_FORMATS = frozenset({"alaw", "pcm_alaw", "g711_alaw"})
_G711_CONTENT_TYPES = {"audio/basic": "mulaw", "audio/pcmu": "mulaw", "audio/pcma": "alaw"}
# What to_ulaw() / to_alaw() / resample() label their output with.
_LABELS = {
    "linear16": "audio/pcm",
    "mulaw": "audio/basic",
    "alaw": "audio/x-alaw-basic",
}
#: The server's sample rate when a request named none; used only if the header is missing.
DEFAULT_SAMPLE_RATE = 24000


class AudioResult:
    """Audio bytes with the response headers that describe them.

    Unpacks like the async SDK's tuple (``audio, headers = client.speak_rest(...)``),
    and offers ``to_wav()`` and ``save(path_or_file)`` (a playable WAV for raw
    PCM) and an inline player in notebooks. ``len()`` is the byte length.
    :meth:`Session.transcribe` and :meth:`Session.on_audio_input` take it as
    audio input.
    """

    __slots__ = ("_data", "_headers", "_interrupted")

    def __init__(
        self, data: bytes, headers: Mapping[str, str], *, interrupted: bool = False
    ) -> None:
        self._data = bytes(data)
        self._headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(headers)
        self._interrupted = interrupted

    @property
    def interrupted(self) -> bool:
        """True when ``Session.say()`` returned early: the caller spoke over it (barge-in)."""
        # getattr: an AudioResult pickled before this field existed has no slot value.
        return bool(getattr(self, "_interrupted", False))

    @property
    def data(self) -> bytes:
        """The raw audio bytes exactly as the server sent them."""
        return self._data

    @property
    def headers(self) -> CaseInsensitiveDict[str]:
        """Response headers; lookups ignore case (``headers["content-type"]``)."""
        return self._headers

    @property
    def content_type(self) -> str | None:
        """The media type without parameters, e.g. ``audio/pcm`` or ``audio/ogg``."""
        value = self._headers.get("Content-Type")
        if not value:
            return None
        return value.split(";", 1)[0].strip().lower() or None

    @property
    def audio_format(self) -> str | None:
        """The server's ``x-audio-format`` (``linear16``, ``mp3``...), if it sent one."""
        return self._headers.get("x-audio-format") or None

    @property
    def sample_rate(self) -> int | None:
        """The server's ``x-sample-rate`` in Hz, if it sent a valid one."""
        value = self._headers.get("x-sample-rate", "").strip()
        return int(value) if value.isdigit() and int(value) > 0 else None

    @property
    def is_pcm(self) -> bool:
        """True when the bytes are headerless 16-bit PCM (``linear16``/``pcm``)."""
        if self.audio_format is not None:
            return self.audio_format.strip().lower() in _PCM_FORMATS
        return self.content_type in _PCM_CONTENT_TYPES

    @property
    def _g711(self) -> str | None:
        """``"mulaw"`` or ``"alaw"`` when the bytes are G.711, else None."""
        if self.audio_format is not None:
            fmt = self.audio_format.strip().lower()
            if fmt in _ULAW_FORMATS:
                return "mulaw"
            return "alaw" if fmt in _ALAW_FORMATS else None
        return _G711_CONTENT_TYPES.get(self.content_type or "")

    def _pcm(self, doing: str) -> bytes:
        """The audio as 16-bit PCM: PCM as it is (whole samples), G.711 decoded."""
        if self.is_pcm:
            return self._data[: len(self._data) - len(self._data) % 2]
        law = self._g711
        if law == "mulaw":
            return ulaw_decode(self._data)
        if law == "alaw":
            return alaw_decode(self._data)
        kind = self.audio_format or self.content_type or "not PCM"
        raise SaynaValidationError(
            f"only PCM and G.711 audio can be {doing}; this audio is {kind}", field="audio"
        )

    def _relabelled(self, data: bytes, audio_format: str, sample_rate: int) -> AudioResult:
        headers = CaseInsensitiveDict(self._headers)
        headers.pop("Content-Length", None)
        headers["Content-Type"] = _LABELS[audio_format]
        headers["x-audio-format"] = audio_format
        headers["x-sample-rate"] = str(sample_rate)
        return AudioResult(data, headers)

    def resample(self, sample_rate: int) -> AudioResult:
        """This audio as 16-bit PCM (``linear16``) at ``sample_rate`` Hz.

        PCM and G.711 (``mulaw``, ``alaw``) audio can be resampled; the result
        carries matching headers. Needs ``sayna[resample]`` unless the rate is
        already ``sample_rate``. See :func:`sayna.audio.resample`.
        """
        rate = self.sample_rate or DEFAULT_SAMPLE_RATE
        pcm = resample(self._pcm("resampled"), rate, sample_rate)
        return self._relabelled(pcm, "linear16", sample_rate)

    def to_ulaw(self) -> AudioResult:
        """This audio as G.711 µ-law (``mulaw``, ``audio/basic``) at the same rate."""
        if self._g711 == "mulaw":
            return self
        pcm = self._pcm("converted to µ-law")
        return self._relabelled(ulaw_encode(pcm), "mulaw", self.sample_rate or DEFAULT_SAMPLE_RATE)

    def to_alaw(self) -> AudioResult:
        """This audio as G.711 A-law (``alaw``) at the same rate."""
        if self._g711 == "alaw":
            return self
        pcm = self._pcm("converted to A-law")
        return self._relabelled(alaw_encode(pcm), "alaw", self.sample_rate or DEFAULT_SAMPLE_RATE)

    def _wav_bytes(self) -> bytes:
        # Server output is always mono (docs/protocol.rst §4.3.2); drop a trailing
        # odd byte rather than write a WAV whose frame count is a lie.
        frames = self._data[: len(self._data) - len(self._data) % 2]
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(self.sample_rate or DEFAULT_SAMPLE_RATE)
            writer.writeframes(frames)
        return buffer.getvalue()

    def to_wav(self) -> bytes:
        """The audio as a WAV file's bytes (mono, 16-bit, at ``sample_rate``).

        For a response body or an upload. Only raw PCM can be wrapped; other
        formats (``mp3``, ``ogg``...) raise :class:`~sayna.SaynaValidationError`.
        """
        if not self.is_pcm:
            kind = self.audio_format or self.content_type or "not PCM"
            raise SaynaValidationError(
                f"only raw PCM can be wrapped as WAV; this audio is {kind}", field="audio"
            )
        return self._wav_bytes()

    @overload
    def save(self, path: str | os.PathLike[str]) -> pathlib.Path: ...
    @overload
    def save(self, path: BinaryIO) -> BinaryIO: ...
    def save(self, path: str | os.PathLike[str] | BinaryIO) -> pathlib.Path | BinaryIO:
        """Write the audio to a path or a binary file object; return the ``Path`` or the object.

        Raw PCM is wrapped in a WAV header (mono, 16-bit, at ``sample_rate``)
        so any player opens it; other formats are written byte for byte.
        """
        payload = self._wav_bytes() if self.is_pcm else self._data
        if isinstance(path, (str, os.PathLike)):
            target = pathlib.Path(path)
            target.write_bytes(payload)
            return target
        given: object = path  # typed BinaryIO, but a text file or anything else may come
        if not callable(getattr(given, "write", None)) or isinstance(given, io.TextIOBase):
            raise SaynaValidationError(
                "save() takes a path or a file object opened in binary mode, not "
                f"{type(path).__name__}",
                field="path",
            )
        path.write(payload)
        return path

    def __iter__(self) -> Iterator[Any]:
        # Two items, so ``audio, headers = result`` works as with the async SDK.
        # Typed Any: a union would force every unpacking caller to narrow.
        yield self._data
        yield self._headers

    def __len__(self) -> int:
        return len(self._data)

    def __bytes__(self) -> bytes:
        return self._data

    def __repr__(self) -> str:
        parts = [f"{len(self._data)} bytes"]
        if self.content_type:
            parts.append(self.content_type)
        if self.audio_format:
            parts.append(self.audio_format)
        if self.sample_rate:
            parts.append(f"{self.sample_rate} Hz")
        if self.interrupted:
            parts.append("interrupted")
        return f"<AudioResult {', '.join(parts)}>"

    def _repr_html_(self) -> str:
        """An HTML5 player for Jupyter; raw PCM is wrapped as WAV so browsers can play it."""
        if not self._data:
            return "<em>AudioResult: no audio (0 bytes)</em>"
        if self.is_pcm:
            mime, payload = "audio/wav", self._wav_bytes()
        else:
            mime, payload = self.content_type or "application/octet-stream", self._data
        encoded = base64.b64encode(payload).decode("ascii")
        source = html.escape(f"data:{mime};base64,{encoded}", quote=True)
        return f'<audio controls preload="metadata" src="{source}"></audio>'
