"""``python -m sayna`` as a real process: exit codes, streams, the demo, the local server."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys

import pytest

from sayna._client import Sayna
from sayna.testing import FakeServer
from tests.support.child_processes import started

TIMEOUT = 60


@pytest.fixture
def env() -> dict[str, str]:
    """The environment without the developer's SAYNA_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SAYNA_")}


pytestmark = pytest.mark.fake_server()  # the server fixture: auth off, TTS in real time


def sayna(
    *args: str, env: dict[str, str], cwd: pathlib.Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m sayna ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "sayna", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=TIMEOUT,
        check=False,
    )


def test_demo_round_trip(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    """`sayna demo` exits 0, prints the matching transcript and writes sayna-demo.wav here."""
    result = sayna("demo", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "transcript: 'Hello from Sayna! This sentence went to speech and back.'" in lines
    assert "match: yes" in lines
    assert (tmp_path / "sayna-demo.wav").stat().st_size > 44


def test_health_and_server_error(server: FakeServer, env: dict[str, str]) -> None:
    """A success prints to stdout (exit 0); a 404 is one stderr line (exit 1)."""
    ok = sayna("--url", server.url, "health", env=env)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "OK\n", "")
    missing = sayna("--url", server.url, "room", "nowhere", env=env)
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert missing.stderr.startswith("sayna: error: 404 Not Found")
    assert missing.stderr.count("\n") == 1


def test_usage_errors_exit_2(env: dict[str, str]) -> None:
    """No subcommand, or no server URL, exits 2."""
    assert sayna(env=env).returncode == 2
    no_url = sayna("rooms", env=env)
    assert no_url.returncode == 2
    assert "no server URL" in no_url.stderr


def test_fake_server_serves_until_interrupted(env: dict[str, str]) -> None:
    """`sayna fake-server` prints its URL, answers requests, and exits 0 on Ctrl-C."""
    with started(
        [sys.executable, "-m", "sayna", "fake-server"], stderr=subprocess.PIPE, env=env
    ) as proc:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with Sayna(url) as client:
            assert client.health().status == "OK"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_missing_testing_extra_is_one_clear_line(env: dict[str, str]) -> None:
    """Without h11 the demo exits 2 and says which extra to install."""
    code = (
        "import sys; sys.modules['h11'] = None\n"
        "from sayna.cli import main\n"
        "raise SystemExit(main(['demo']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "sayna: error: the local server needs the testing extra: "
        "pip install 'sayna[testing]' (missing: h11)\n"
    )


def test_a_closed_pipe_ends_quietly(server: FakeServer, env: dict[str, str]) -> None:
    """Output into a reader that already left (`| head`) exits 141 without a traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sayna", "--url", server.url, "--json", "voices"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    process.stdout.close()  # long before the interpreter has started and printed
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 141
    assert stderr == b""
