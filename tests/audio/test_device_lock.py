"""The audio tests hold the virtual device's lock, so suites run side by side take turns."""

from __future__ import annotations

import fcntl

import pytest

from tests.audio.conftest import LOCK_FILE

pytestmark = pytest.mark.audio_device


def test_a_test_here_holds_the_device_lock() -> None:
    """While an audio test runs, no one else (another suite, .ci/audio-extra) gets the lock."""
    with LOCK_FILE.open("a") as other, pytest.raises(BlockingIOError):
        # Another open file description, as another process would have: flock refuses it.
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
