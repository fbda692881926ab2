"""Speaker.close() after drain() lets the device play what it holds; after a drop it does not.

PortAudio's close discards audio the device has not played yet (tens of
milliseconds, more on a loaded machine); its stop waits for it. A stand-in
stream keeps that difference visible here without a sound card; the same path
on the real virtual device is in tests/audio/test_devices.py.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sayna import _devices
from sayna.audio import Speaker
from tests.support.polling import wait_until


class HeldStream:
    """Like PortAudio: written audio is held until stop() plays it; close() drops it."""

    def __init__(self) -> None:
        self.held = bytearray()
        self.played = bytearray()
        self.calls: list[str] = []
        self.release = threading.Event()
        self.release.set()

    def write(self, data: bytes) -> None:
        self.release.wait(10)
        self.held += data

    def stop(self) -> None:
        self.calls.append("stop")
        self.played += self.held
        self.held.clear()

    def close(self) -> None:
        self.calls.append("close")
        self.held.clear()


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> HeldStream:
    made = HeldStream()

    def open_stand_in(kind: str, device: Any, **settings: Any) -> HeldStream:
        return made

    monkeypatch.setattr(_devices, "_open", open_stand_in)
    return made


def test_close_after_drain_plays_what_the_device_holds(stream: HeldStream) -> None:
    speaker = Speaker(sample_rate=16000)
    with speaker:
        speaker.feed(b"\x01\x02" * 8000)
        assert speaker.drain(timeout=10)
    assert bytes(stream.played) == b"\x01\x02" * 8000
    assert stream.calls == ["stop", "close"]


def test_close_with_audio_still_queued_stops_at_once(stream: HeldStream) -> None:
    speaker = Speaker(sample_rate=16000).open()
    stream.release.clear()  # the device is busy: the first piece is being written
    speaker.feed(b"\x01\x02" * 8000)
    closer = threading.Thread(target=speaker.close)
    closer.start()
    # Released only once close() has taken its decision: released earlier, the
    # writer could hand every piece to the device first, and there would be
    # nothing left to drop (seen on a loaded 3.10).
    wait_until(lambda: "closed" in repr(speaker), timeout=10)
    stream.release.set()
    closer.join(10)
    assert not closer.is_alive()
    assert stream.calls == ["close"]  # what was dropped is not played out either
    assert len(stream.played) == 0
