"""Speaker.close() after drain() lets the device play what it holds; after a drop it does not.

PortAudio's close discards audio the device has not played yet (tens of
milliseconds, more on a loaded machine); its stop waits for it. A stand-in
stream keeps that difference visible here without a sound card; the same path
on the real virtual device is in tests/audio/test_devices.py.
"""

from __future__ import annotations

import threading

from sayna.audio import Speaker
from tests.support.held_stream import HeldStream
from tests.support.polling import wait_until


def test_close_after_drain_plays_what_the_device_holds(held_stream: HeldStream) -> None:
    speaker = Speaker(sample_rate=16000)
    with speaker:
        speaker.feed(b"\x01\x02" * 8000)
        assert speaker.drain(timeout=10)
    assert bytes(held_stream.played) == b"\x01\x02" * 8000
    assert held_stream.calls == ["stop", "close"]


def test_close_with_audio_still_queued_stops_at_once(held_stream: HeldStream) -> None:
    speaker = Speaker(sample_rate=16000).open()
    held_stream.release.clear()  # the device is busy: the first piece is being written
    speaker.feed(b"\x01\x02" * 8000)
    closer = threading.Thread(target=speaker.close)
    closer.start()
    # Released only once close() has taken its decision: released earlier, the
    # writer could hand every piece to the device first, and there would be
    # nothing left to drop (seen on a loaded 3.10).
    wait_until(lambda: "closed" in repr(speaker), timeout=10)
    held_stream.release.set()
    closer.join(10)
    assert not closer.is_alive()
    assert held_stream.calls == ["close"]  # what was dropped is not played out either
    assert len(held_stream.played) == 0
