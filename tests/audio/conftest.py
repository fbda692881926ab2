"""The virtual audio device (``.ci/audio-device``) for the tests in this folder.

Every test here is marked ``audio_device`` and plays into or records from the
ALSA devices ``sayna_mic`` and ``sayna_speaker`` through the real PortAudio.
In CI (``CI=true``) a missing device fails every such test with the reason;
on a developer machine without it they are deselected, and the end of the
run says why and how to get the device (``sudo .ci/audio-device``).
"""

from __future__ import annotations

import fcntl
import os
import pathlib
from collections.abc import Iterator

import pytest

#: Where .ci/audio-device points the virtual devices' files.
AUDIO_DIR = pathlib.Path(os.environ.get("SAYNA_AUDIO_DIR", "/tmp/sayna-audio"))
MIC_FILE = AUDIO_DIR / "mic.raw"
SPEAKER_FILE = AUDIO_DIR / "speaker.raw"
#: Held (flock) by whoever uses the device files: .ci/run runs the suites of
#: several Pythons at once, and .ci/audio-extra beside them, on one device.
LOCK_FILE = AUDIO_DIR / ".lock"
MIC = "sayna_mic"
SPEAKER = "sayna_speaker"


def _device_problem() -> str | None:
    """None when both virtual devices open through PortAudio, else what is wrong."""
    if not MIC_FILE.exists():
        return f"{MIC_FILE} is missing (run .ci/audio-device as root)"
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        return f"sounddevice/PortAudio cannot be imported: {exc}"
    try:
        sounddevice.query_devices(MIC, "input")
        sounddevice.query_devices(SPEAKER, "output")
    except (ValueError, sounddevice.PortAudioError) as exc:
        return f"the virtual devices are not there ({exc}); run .ci/audio-device as root"
    return None


_PROBLEM: list[str | None] = []


def device_problem() -> str | None:
    if not _PROBLEM:
        _PROBLEM.append(_device_problem())
    return _PROBLEM[0]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "audio_device: needs the virtual microphone and speaker of .ci/audio-device"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    problem = device_problem()
    if problem is not None and os.environ.get("CI") != "true":
        terminalreporter.write_line(f"audio device tests deselected: {problem}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problem = device_problem()
    if problem is None or os.environ.get("CI") == "true":
        return  # in CI a missing device fails in the fixture below, never skips
    chosen = [item for item in items if item.get_closest_marker("audio_device") is None]
    dropped = [item for item in items if item.get_closest_marker("audio_device") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = chosen


@pytest.fixture(autouse=True)
def virtual_device() -> Iterator[None]:
    """Fails the test, naming the reason, when the virtual device is missing; else holds
    the device's lock for the test, so no other process writes its files meanwhile."""
    problem = device_problem()
    if problem is not None:
        pytest.fail(f"the virtual audio device is missing: {problem}")
    with LOCK_FILE.open("a") as lock:
        # Blocks while another suite's test holds it (one test at a time, seconds each).
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
