"""`sayna listen` and `sayna say --play` as processes, on the virtual device (issue 24, point 4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from sayna.testing import FakeServer, decode_speech, encode_speech
from tests.audio.conftest import MIC_FILE, SPEAKER_FILE
from tests.support.child_processes import started

pytestmark = [pytest.mark.audio_device, pytest.mark.fake_server()]
TIMEOUT = 60


def _env(server: FakeServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAYNA_")}
    env["SAYNA_URL"] = server.url
    return env


def _load_mic(text: str) -> None:
    pcm = encode_speech(text, 16000) + bytes(48000)  # the speech, then 1.5 s of silence
    MIC_FILE.write_bytes(pcm + bytes(-len(pcm) % 3200))


def _sayna(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sayna", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )


def test_listen_for_some_seconds_prints_the_transcript(server: FakeServer) -> None:
    """`sayna listen --seconds 2` hears the speech the microphone plays and prints it."""
    _load_mic("Listening works.")
    done = _sayna("listen", "--device", "sayna_mic", "--seconds", "2", env=_env(server))
    assert (done.returncode, done.stdout) == (0, "Listening works.\n")
    assert "listening on sayna_mic" in done.stderr


def test_ctrl_c_ends_listen_with_the_final_text(server: FakeServer) -> None:
    """SIGINT during `sayna listen` stops recording, then prints the final text and exits 0."""
    _load_mic("Stop when I say.")
    argv = [sys.executable, "-m", "sayna", "listen", "--device", "sayna_mic"]
    with started(argv, stderr=subprocess.PIPE, env=_env(server)) as process:
        assert process.stderr is not None
        assert "listening on" in process.stderr.readline()
        time.sleep(1.8)  # the speech lasts about 1.1 s
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=TIMEOUT)
        took = time.monotonic() - interrupted
    assert (process.returncode, out) == (0, "Stop when I say.\n")
    assert took < 5


def test_say_play_comes_out_of_the_speaker(server: FakeServer) -> None:
    """`sayna say TEXT --play` sends the synthesized speech to the speaker, byte for byte."""
    done = _sayna(
        "say", "Out of the speaker.", "--play", "--device", "sayna_speaker",
        "--sample-rate", "16000", env=_env(server),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert SPEAKER_FILE.read_bytes() == encode_speech("Out of the speaker.", 16000)
    assert decode_speech(SPEAKER_FILE.read_bytes(), 16000) == "Out of the speaker."


def test_an_unknown_device_is_one_line_and_exit_2(server: FakeServer) -> None:
    """A device that is not there: one line naming it, exit 2, and no session opened."""
    for args in (("listen",), ("say", "hi", "--play")):
        done = _sayna(*args, "--device", "no-such-device", env=_env(server))
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1
        assert "device 'no-such-device'" in done.stderr
    assert server.sessions == []
