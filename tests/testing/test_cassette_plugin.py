"""The sayna_cassette fixture and --sayna-record-mode, run as real pytest subprocesses."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from sayna.testing import FakeServer

KEY = "sk-plugin-NEVER-IN-CASSETTE"
TIMEOUT = 110

USER_TEST = '''
import pathlib

from sayna import Sayna, STTConfig, TTSConfig
from sayna.testing import decode_speech

STT = STTConfig(provider="deepgram", model="nova-3", sample_rate=16000)
TTS = TTSConfig(provider="deepgram", model="aura-2", sample_rate=16000)


def test_booking(sayna_cassette):
    """Code under test reads SAYNA_URL and SAYNA_API_KEY, as in production."""
    with Sayna() as client:
        rest = client.speak_rest("{rest}", TTS).data
        with client.connect(stt_config=STT, tts_config=TTS, timeout=10) as session:
            spoken = session.say("two tickets please", timeout=10).data
    assert decode_speech(rest, 16000) == "{rest}"
    assert decode_speech(spoken, 16000) == "two tickets please"
    mode = "record" if sayna_cassette.recording else "replay"
    with pathlib.Path("modes.log").open("a") as log:
        log.write(f"{{mode}} {{sayna_cassette.url.startswith('http://127.0.0.1:')}}\\n")
'''


@pytest.fixture
def upstream() -> Iterator[FakeServer]:
    """The 'real' server that recordings come from (it wants an API key)."""
    with FakeServer(api_keys={KEY: "tenant-a"}, tts_speedup=0) as server:
        yield server


def _write_test(folder: pathlib.Path, rest: str = "Hello Ada") -> pathlib.Path:
    test_file = folder / "test_booking.py"
    test_file.write_text(textwrap.dedent(USER_TEST.format(rest=rest)), encoding="utf-8")
    return test_file


def _pytest(
    folder: pathlib.Path, mode: str | None, url: str | None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAYNA_")}
    env["SAYNA_API_KEY"] = KEY
    if url is not None:
        env["SAYNA_URL"] = url
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_booking.py"]
    if mode is not None:
        args.append(f"--sayna-record-mode={mode}")
    return subprocess.run(
        args, cwd=folder, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _log(folder: pathlib.Path) -> list[str]:
    path = folder / "modes.log"
    return path.read_text("utf-8").splitlines() if path.exists() else []


def test_mode_none_fails_naming_the_missing_cassette(
    tmp_path: pathlib.Path, upstream: FakeServer
) -> None:
    """The default mode never records: a missing cassette fails the test with its path."""
    _write_test(tmp_path)
    done = _pytest(tmp_path, None, upstream.url)
    assert done.returncode == 1, done.stdout
    assert "cassettes/test_booking/test_booking.jsonl" in done.stdout
    assert "does not exist (--sayna-record-mode=none)" in done.stdout
    assert upstream.requests == []
    assert _log(tmp_path) == []


def test_mode_once_records_then_replays(tmp_path: pathlib.Path, upstream: FakeServer) -> None:
    """'once' records a missing cassette from SAYNA_URL, then replays it without the server."""
    _write_test(tmp_path)
    cassette = tmp_path / "cassettes" / "test_booking" / "test_booking.jsonl"
    first = _pytest(tmp_path, "once", upstream.url)
    assert first.returncode == 0, first.stdout + first.stderr
    assert cassette.is_file()
    assert KEY.encode() not in cassette.read_bytes()
    seen = len(upstream.requests)
    assert seen >= 2  # /speak and the /ws handshake went through
    second = _pytest(tmp_path, "once", upstream.url)
    assert second.returncode == 0, second.stdout + second.stderr
    third = _pytest(tmp_path, "none", None)  # no server at all
    assert third.returncode == 0, third.stdout + third.stderr
    assert len(upstream.requests) == seen
    assert _log(tmp_path) == ["record True", "replay True", "replay True"]


def test_mode_all_records_again(tmp_path: pathlib.Path, upstream: FakeServer) -> None:
    """'all' re-records an existing cassette, so a changed test matches again."""
    _write_test(tmp_path, rest="Hello Ada")
    assert _pytest(tmp_path, "once", upstream.url).returncode == 0
    _write_test(tmp_path, rest="Hello Bob")
    changed = _pytest(tmp_path, "none", None)
    assert changed.returncode == 1
    assert "differed from cassette" in changed.stdout
    assert '-  "text": "Hello Ada",' in changed.stdout
    assert '+  "text": "Hello Bob",' in changed.stdout
    seen = len(upstream.requests)
    again = _pytest(tmp_path, "all", upstream.url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(upstream.requests) > seen
    assert _pytest(tmp_path, "none", None).returncode == 0
    assert _log(tmp_path) == ["record True", "record True", "replay True"]


def test_a_failed_recording_is_not_kept(tmp_path: pathlib.Path, upstream: FakeServer) -> None:
    """When the test fails while recording, its cassette moves aside and 'once' records again."""
    _write_test(tmp_path, rest="Hello Ada")
    test_file = tmp_path / "test_booking.py"
    test_file.write_text(test_file.read_text("utf-8") + "    assert False, 'boom'\n")
    cassette = tmp_path / "cassettes" / "test_booking" / "test_booking.jsonl"
    failed = _pytest(tmp_path, "once", upstream.url)
    assert failed.returncode == 1
    assert not cassette.exists()
    assert cassette.with_name("test_booking.jsonl.failed").is_file()
    _write_test(tmp_path, rest="Hello Ada")
    assert _pytest(tmp_path, "once", upstream.url).returncode == 0
    assert cassette.is_file()
    assert _log(tmp_path) == ["record True", "record True"]


def test_recording_needs_sayna_url(tmp_path: pathlib.Path) -> None:
    """Recording without SAYNA_URL fails and says so."""
    _write_test(tmp_path)
    done = _pytest(tmp_path, "all", None)
    assert done.returncode == 1
    assert "needs SAYNA_URL" in done.stdout
