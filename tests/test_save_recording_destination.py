"""save_recording refuses a destination it cannot write before asking for a byte."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from sayna import Sayna, SaynaError, SaynaValidationError
from sayna.testing import FakeServer

STREAM = "call-7"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A local server holding one 1 MiB recording."""
    with FakeServer(recordings={STREAM: b"OggS" + bytes(1 << 20)}) as fake:
        yield fake


def _recording_requests(server: FakeServer) -> list[str]:
    return [r.path for r in server.requests if r.path.startswith("/recording")]


def test_a_directory_is_refused_before_the_download(
    server: FakeServer, tmp_path: pathlib.Path
) -> None:
    """A directory destination raises SaynaValidationError and the server sees no request."""
    with Sayna(server.url) as client, pytest.raises(SaynaValidationError) as caught:
        client.save_recording(STREAM, tmp_path)
    assert caught.value.field == "destination"
    assert "is a directory" in str(caught.value)
    assert _recording_requests(server) == []
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_a_missing_folder_is_refused(server: FakeServer, tmp_path: pathlib.Path) -> None:
    """A path in a folder that does not exist raises a SaynaError naming the folder."""
    target = tmp_path / "no" / "such" / "call.ogg"
    with Sayna(server.url) as client, pytest.raises(SaynaError) as caught:
        client.save_recording(STREAM, str(target))
    assert isinstance(caught.value, SaynaValidationError)
    assert str(target.parent) in str(caught.value)
    assert _recording_requests(server) == []


def test_a_folder_that_is_a_file_is_refused(server: FakeServer, tmp_path: pathlib.Path) -> None:
    """A path whose 'folder' is a regular file is refused the same way, not with OSError."""
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    with Sayna(server.url) as client, pytest.raises(SaynaValidationError):
        client.save_recording(STREAM, blocker / "call.ogg")
    assert _recording_requests(server) == []


def test_a_good_path_still_gets_the_whole_recording(
    server: FakeServer, tmp_path: pathlib.Path
) -> None:
    """The checks do not get in the way: a file path receives every byte."""
    target = tmp_path / "call.ogg"
    with Sayna(server.url) as client:
        size = client.save_recording(STREAM, target)
    assert size == target.stat().st_size == 4 + (1 << 20)
    assert [p.name for p in tmp_path.iterdir()] == ["call.ogg"]
