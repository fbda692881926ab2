"""Serving a cassette from the command line: sayna fake-server --cassette FILE."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys

from sayna import Sayna, TTSConfig
from sayna.testing import FakeServer, RecordingProxy
from tests.support.child_processes import started

TTS = TTSConfig(provider="deepgram", model="aura-2", sample_rate=16000)
TIMEOUT = 60


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SAYNA_")}


def test_fake_server_replays_a_cassette(tmp_path: pathlib.Path) -> None:
    """`sayna fake-server --cassette FILE` answers with the recorded audio; Ctrl-C exits 0."""
    path = tmp_path / "speak.jsonl"
    with (
        FakeServer() as upstream,
        RecordingProxy(upstream.url, path) as proxy,
        Sayna(proxy.url) as client,
    ):
        recorded = client.speak_rest("From the command line", TTS).data
    with started(
        [sys.executable, "-m", "sayna", "fake-server", "--cassette", str(path)],
        stderr=subprocess.PIPE,
        env=_env(),
    ) as proc:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with Sayna(url) as client:
            assert client.speak_rest("From the command line", TTS).data == recorded
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_a_missing_cassette_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    """A cassette path that does not exist exits 2 naming it, for both entry points."""
    missing = str(tmp_path / "missing.jsonl")
    for command in (["-m", "sayna", "fake-server"], ["-m", "sayna.testing"]):
        done = subprocess.run(
            [sys.executable, *command, "--cassette", missing],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=TIMEOUT,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert "missing.jsonl" in done.stderr
        assert "Traceback" not in done.stderr
