"""Without sayna[audio]: the converters import and work, devices refuse clearly (issue 24)."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
sys.modules["sounddevice"] = None  # as if sayna[audio] were not installed
import sayna.audio
assert "numpy" not in sys.modules and "soxr" not in sys.modules
from sayna import SaynaAudioError
from sayna.audio import Microphone, Speaker, ulaw_encode
assert ulaw_encode(b"\\x00\\x00") == b"\\xff"
for make in (lambda: Microphone().open(), lambda: Speaker().feed(b"\\x00\\x00")):
    try:
        make()
    except SaynaAudioError as exc:
        print(exc)
"""


def test_devices_without_the_extra_name_it_and_converters_still_work() -> None:
    """Importing sayna.audio loads neither numpy nor soxr; devices raise SaynaAudioError."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    lines = done.stdout.splitlines()
    assert (
        lines
        == ["the microphone and speaker need the sounddevice package (pip install 'sayna[audio]')"]
        * 2
    )


def test_importing_sayna_loads_no_audio_library() -> None:
    """`import sayna` and `import sayna.audio` load neither sounddevice nor numpy."""
    code = (
        "import sys, sayna, sayna.audio\n"
        "print(sorted(m for m in ('sounddevice', 'numpy', 'soxr') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
