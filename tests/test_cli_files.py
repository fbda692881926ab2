"""The command line and files: recordings stream to disk, bad destinations are one line."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

import sayna._client
from sayna.testing import FakeServer
from tests.support.cli_runs import run

BIG = b"OggS" + bytes(range(256)) * 4096  # 1 MiB and a bit


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A local server with one recording of about 1 MiB."""
    with FakeServer(recordings={"big": BIG, "small": b"OggS tiny"}) as fake:
        yield fake


def test_recording_larger_than_the_in_memory_cap_is_streamed(
    server: FakeServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With get_recording's cap at 64 KiB, `sayna recording` still writes the whole 1 MiB file."""
    monkeypatch.setattr(sayna._client, "MAX_AUDIO_BYTES", 64 * 1024)
    path = tmp_path / "big.ogg"
    code, out, err = run(capsys, "--url", server.url, "recording", "big", "-o", str(path))
    assert (code, err) == (0, "")
    assert path.read_bytes() == BIG
    assert out == f"wrote {path}: {len(BIG)} bytes of ogg audio\n"


def test_recording_to_stdout(server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    """`-o -` writes the recording's bytes to stdout and nothing else."""
    code, out, err = run(capsys, "--url", server.url, "recording", "small", "-o", "-")
    assert (code, out, err) == (0, "OggS tiny", "")


def test_recording_into_a_directory_is_one_line_and_exit_2(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """A directory as -o is a usage error, one line, before anything is downloaded."""
    code, out, err = run(capsys, "--url", server.url, "recording", "big", "-o", str(tmp_path))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("sayna: error: destination")
    assert "is a directory" in err
    assert not [r for r in server.requests if r.path.startswith("/recording")]


def test_recording_into_a_missing_folder_is_one_line_and_exit_2(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """A path in a folder that does not exist is refused the same way."""
    target = tmp_path / "missing" / "x.ogg"
    code, _, err = run(capsys, "--url", server.url, "recording", "big", "-o", str(target))
    assert code == 2
    assert err == f"sayna: error: destination folder {str(target.parent)!r} does not exist\n"
