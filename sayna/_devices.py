"""The microphone and the speaker, through PortAudio (the ``sounddevice`` package).

``sounddevice`` is imported when a device is opened, never at import time, so
``sayna.audio``'s converters work without the ``sayna[audio]`` extra. Both
classes use PortAudio's blocking read/write, on the caller's thread for the
microphone and on one daemon writer thread for the speaker: no PortAudio
callback runs Python code, and a device that never paces (a virtual one, a
file) cannot make a callback spin.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Iterator
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from sayna._errors import SaynaAudioError, SaynaValidationError
from sayna._resample import to_channels

if TYPE_CHECKING:
    from sayna._audio import AudioResult

__all__ = ["Microphone", "Speaker", "open_check"]

_INSTALL_HINT = "pip install 'sayna[audio]'"
_PIECE_MS = 50


def _sounddevice() -> ModuleType:
    try:
        import sounddevice
    except ImportError as exc:
        raise SaynaAudioError(
            f"the microphone and speaker need the sounddevice package ({_INSTALL_HINT})"
        ) from exc
    except OSError as exc:  # sounddevice found, the PortAudio library not
        raise SaynaAudioError(
            f"PortAudio is not installed ({exc}); on Debian/Ubuntu: apt-get install libportaudio2"
        ) from exc
    module: ModuleType = sounddevice
    return module


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SaynaValidationError(
            f"{name} must be a positive whole number, got {value!r}", field=name
        )
    return value


def _describe(device: int | str | None, kind: str) -> str:
    return f"the default {kind} device" if device is None else f"{kind} device {device!r}"


def _open(kind: str, device: int | str | None, **settings: Any) -> Any:
    """A started PortAudio stream; every failure becomes one SaynaAudioError."""
    sd = _sounddevice()
    cls = sd.RawInputStream if kind == "input" else sd.RawOutputStream
    try:
        stream = cls(device=device, dtype="int16", **settings)
    except (sd.PortAudioError, ValueError) as exc:
        raise SaynaAudioError(f"cannot open {_describe(device, kind)}: {exc}") from exc
    try:
        stream.start()
    except sd.PortAudioError as exc:
        stream.close()
        raise SaynaAudioError(f"cannot start {_describe(device, kind)}: {exc}") from exc
    return stream


def open_check(kind: str, device: int | str | None = None) -> str:
    """The name of the ``kind`` ("input"/"output") device that would open, or SaynaAudioError."""
    sd = _sounddevice()
    try:
        info = sd.query_devices(device, kind)
    except (sd.PortAudioError, ValueError) as exc:
        raise SaynaAudioError(f"no {_describe(device, kind)}: {exc}") from exc
    return str(info["name"])


_DeviceT = TypeVar("_DeviceT", bound="_Device")


class _Device:
    """What both devices share: ``with device:`` opens it and closes it after."""

    def open(self: _DeviceT) -> _DeviceT:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _DeviceT) -> _DeviceT:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Microphone(_Device):
    """PCM chunks from an input device: 16-bit little-endian, ``chunk_ms`` each.

    A context manager and an iterable: ``with Microphone() as mic: for chunk in
    mic: ...``, or hand it straight to :meth:`Session.stream_audio
    <sayna.Session.stream_audio>` / :meth:`~sayna.Session.transcribe`, which
    convert it to the session's rate and channels. Iteration ends when
    :meth:`close` is called (from any thread, a callback or a signal handler);
    iterating an unopened microphone opens it and closes it at the end.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        channels: int = 1,
        chunk_ms: int = 100,
        device: int | str | None = None,
    ) -> None:
        self.sample_rate = _positive(sample_rate, "sample_rate")
        self.channels = _positive(channels, "channels")
        self.chunk_ms = _positive(chunk_ms, "chunk_ms")
        self.device = device
        self._frames = max(1, sample_rate * chunk_ms // 1000)
        self._stream: Any = None
        self._lock = threading.Lock()
        self._reading = False
        self._closed = False
        #: Chunks PortAudio reported as overflowed (audio lost because nothing read in time).
        self.overflows = 0

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._stream is not None else "unopened"
        return (
            f"<Microphone {self.sample_rate} Hz, {self.channels} ch, "
            f"{self.chunk_ms} ms chunks, {state}>"
        )

    def open(self) -> Microphone:
        """Open and start the device (``with`` does this); SaynaAudioError if it cannot."""
        with self._lock:
            if self._closed:
                raise SaynaValidationError("this Microphone is closed; make a new one")
            if self._stream is None:
                self._stream = _open(
                    "input",
                    self.device,
                    samplerate=self.sample_rate,
                    channels=self.channels,
                    blocksize=self._frames,
                )
        return self

    def close(self) -> None:
        """Stop recording; an iteration in progress ends after the chunk it is reading."""
        with self._lock:
            self._closed = True
            if self._reading:
                return  # the reading thread closes the stream after its read
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    def __iter__(self) -> Iterator[bytes]:
        opened_here = self._stream is None and not self._closed
        if opened_here:
            self.open()
        try:
            while True:
                chunk = self._read()
                if chunk is None:
                    return
                yield chunk
        finally:
            if opened_here:
                self.close()

    def _end_read(self, stream: Any) -> bool:
        """After a read: close the stream if close() came meanwhile; True if it did."""
        with self._lock:
            self._reading = False
            closed = self._closed
            if closed:
                self._stream = None
        if closed:
            stream.close()
        return closed

    def _read(self) -> bytes | None:
        with self._lock:
            if self._closed or self._stream is None:
                return None
            stream = self._stream
            self._reading = True
        try:
            data, overflowed = stream.read(self._frames)
        except Exception as exc:
            self.close()
            raise SaynaAudioError(f"the microphone failed while recording: {exc}") from exc
        finally:
            late_close = self._end_read(stream)
        if overflowed:
            self.overflows += 1
        return None if late_close else bytes(data)


class Speaker(_Device):
    """An output device fed 16-bit little-endian PCM at ``sample_rate``.

    :meth:`feed` queues audio and returns at once; a daemon thread writes it
    to the device at the device's pace. :meth:`clear` drops what is queued
    (barge-in: what PortAudio already holds, a few tens of milliseconds,
    still plays); :meth:`drain` waits until everything queued was written;
    :meth:`play` converts an :class:`~sayna.AudioResult`, feeds it and drains.
    """

    def __init__(
        self, sample_rate: int = 24000, channels: int = 1, device: int | str | None = None
    ) -> None:
        self.sample_rate = _positive(sample_rate, "sample_rate")
        self.channels = _positive(channels, "channels")
        self.device = device
        self._queue: collections.deque[bytes] = collections.deque()
        self._cond = threading.Condition()
        self._writing = False
        self._closed = False
        self._error: SaynaAudioError | None = None
        self._stream: Any = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._stream is not None else "unopened"
        return f"<Speaker {self.sample_rate} Hz, {self.channels} ch, {state}>"

    def open(self) -> Speaker:
        """Open and start the device (``with`` and the first :meth:`feed` do this)."""
        with self._cond:
            if self._closed:
                raise SaynaValidationError("this Speaker is closed; make a new one")
            if self._stream is not None:
                return self
            self._stream = _open(
                "output", self.device, samplerate=self.sample_rate, channels=self.channels
            )
            self._thread = threading.Thread(
                target=self._write_loop, name="sayna-speaker", daemon=True
            )
            self._thread.start()
        return self

    @property
    def queued(self) -> int:
        """Bytes fed but not yet handed to the device."""
        with self._cond:
            return sum(map(len, self._queue))

    def feed(self, pcm: bytes | bytearray | memoryview) -> None:
        """Queue PCM in the speaker's format (whole frames) to be played after what is queued."""
        data = bytes(pcm)
        frame = 2 * self.channels
        if len(data) % frame:
            raise SaynaValidationError(
                f"Speaker.feed() takes whole {frame}-byte frames; {len(data)} bytes is not",
                field="pcm",
            )
        self.open()
        # Queued in pieces of at most _PIECE_MS, so clear() and close() wait
        # for one piece at most, never for the rest of a long utterance.
        step = max(1, self.sample_rate * _PIECE_MS // 1000) * frame
        with self._cond:
            self._raise_error()
            if data:
                self._queue.extend(data[i : i + step] for i in range(0, len(data), step))
                self._cond.notify_all()

    def clear(self) -> None:
        """Drop everything queued and not yet written (for barge-in)."""
        with self._cond:
            self._queue.clear()
            self._cond.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until all queued audio was written; False if ``timeout`` seconds passed first."""
        with self._cond:
            done = self._cond.wait_for(
                lambda: self._closed or (not self._queue and not self._writing), timeout
            )
            self._raise_error()
            return done

    def play(self, audio: AudioResult, timeout: float | None = None) -> bool:
        """Play a PCM or G.711 :class:`~sayna.AudioResult` to the end (resampled if needed)."""
        # Same rate: the PCM as it is (no soxr needed); G.711 is decoded first.
        pcm = audio.resample(self.sample_rate).data
        self.feed(to_channels(pcm, 1, self.channels))
        return self.drain(timeout)

    def close(self) -> None:
        """Drop what is queued, stop the writer and close the device.

        After :meth:`drain` (nothing dropped), the audio the device still
        holds, up to its latency, plays out before the device closes.
        """
        with self._cond:
            if self._closed:
                return
            self._closed = True
            played_out = not self._queue and not self._writing and self._error is None
            self._queue.clear()
            self._cond.notify_all()
            thread, stream = self._thread, self._stream
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        if stream is not None:
            if played_out:
                # PortAudio's close discards what the device has not played
                # yet; stop waits for it, so the end of the last answer is
                # heard (a loaded machine lost its last frames in CI).
                with contextlib.suppress(Exception):
                    stream.stop()
            stream.close()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
                self._cond.wait_for(lambda: self._closed or bool(self._queue))
                if self._closed:
                    return
                chunk = self._queue.popleft()
                self._writing = True
            try:
                # Blocks at the device's pace; the lock is free meanwhile, so
                # clear() and feed() never wait for the hardware.
                self._stream.write(chunk)
            except Exception as exc:  # the device went away: report it on the next call
                with self._cond:
                    self._error = SaynaAudioError(f"the speaker failed while playing: {exc}")
                    self._closed = True
                    self._writing = False
                    self._queue.clear()
                    self._cond.notify_all()
                return
