"""`sayna listen` / `say --play` without sayna[audio] refuse in one line, exit 2 (issue 24)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sayna.testing import FakeServer

_WITHOUT_SOUNDDEVICE = (
    "import sys\n"
    "sys.modules['sounddevice'] = None  # as if sayna[audio] were not installed\n"
    "from sayna.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@pytest.mark.parametrize("args", [["listen"], ["say", "hello", "--play"], ["talk"]])
def test_without_the_extra_is_one_line_and_exit_2(server: FakeServer, args: list[str]) -> None:
    """No sounddevice: one line naming `pip install 'sayna[audio]'`, exit 2, no session."""
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SOUNDDEVICE, "--url", server.url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "sayna: error: the microphone and speaker need the sounddevice package"
        " (pip install 'sayna[audio]')\n"
    )
    assert server.sessions == []


def test_say_without_output_or_play_is_a_usage_error(server: FakeServer) -> None:
    """`sayna say TEXT` with neither -o nor --play says what it needs, exit 2."""
    from sayna.cli import main

    assert main(["--url", server.url, "say", "hello"]) == 2
