"""Local-server commands: bad ports and cassettes are one line, exit 2; no option is ignored."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys

import pytest

from sayna import Sayna
from tests.support.child_processes import started
from tests.support.cli_runs import run

TIMEOUT = 60


def _one_error_line(err: str) -> str:
    """The error line of a failed run, checking there is no traceback."""
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_a_port_out_of_range_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """--port 70000 exits 2 with argparse's one error line (before: OverflowError, exit 1)."""
    code, out, err = run(capsys, "fake-server", "--port", "70000")
    assert (code, out) == (2, "")
    assert _one_error_line(err).endswith("a port is 0 to 65535, not 70000")


def test_a_busy_port_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A port another socket holds gives one line naming the address (before: a traceback)."""
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        code, out, err = run(capsys, "fake-server", "--port", str(port))
    assert (code, out) == (2, "")
    assert err == f"sayna: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_a_file_that_is_not_a_cassette_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """--cassette with a file that is not one is refused in one line (before: a traceback)."""
    bad = tmp_path / "notes.jsonl"
    bad.write_text("this is not a cassette\n", encoding="utf-8")
    code, out, err = run(capsys, "fake-server", "--cassette", str(bad))
    assert (code, out) == (2, "")
    line = _one_error_line(err)
    assert err.count("\n") == 1
    assert line.startswith(f"sayna: error: cannot replay {str(bad)!r}: ")


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["fake-server", "--api-key", "sk-live-1"], "takes no --api-key"),
        (["--api-key", "sk-live-1", "fake-server"], "--require-key KEY turns auth on"),
        (["fake-server", "--timeout", "3"], "takes no --timeout"),
        (["fake-server", "--json"], "takes no --json"),
        (["demo", "--api-key", "sk-live-1"], "takes no --api-key"),
        (["webhook", "verify", "--url", "http://127.0.0.1:9", "--body", "-"], "takes no --url"),
        (["webhook", "verify", "--api-key", "sk-live-1", "--body", "-"], "takes no --api-key"),
        (["webhook", "verify", "--timeout", "2", "--body", "-"], "takes no --timeout"),
    ],
)
def test_an_option_the_command_cannot_use_is_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    """A global option that means nothing for the command exits 2, naming it, before any work."""
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert said in _one_error_line(err)
    assert "sk-live-1" not in err


def test_fake_server_listens_on_the_documented_host() -> None:
    """`sayna fake-server --host 127.0.0.1 --port 0` serves (before: --host was refused)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAYNA_")}
    argv = [sys.executable, "-m", "sayna", "fake-server", "--host", "127.0.0.1"]
    with started(argv, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with Sayna(url) as client:
            assert client.health().status == "OK"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0
    assert "Traceback" not in err
