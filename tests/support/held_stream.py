"""A stand-in for a PortAudio output stream, so Speaker paths run without a sound card.

Like PortAudio, written audio is held until ``stop()`` plays it out, and
``close()`` drops what is still held. The ``held_stream`` fixture (tests/conftest.py)
makes every :class:`~sayna.audio.Speaker` opened during a test write to one of these.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sayna import _devices


class HeldStream:
    """Written audio is held until stop() plays it; close() drops it."""

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


def install(monkeypatch: pytest.MonkeyPatch) -> HeldStream:
    """The one stream every Speaker opened from now on (until the monkeypatch undoes it) gets."""
    made = HeldStream()

    def open_stand_in(kind: str, device: Any, **settings: Any) -> HeldStream:
        return made

    monkeypatch.setattr(_devices, "_open", open_stand_in)
    return made
