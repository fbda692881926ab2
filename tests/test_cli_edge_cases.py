"""The command line's edge cases: JSON failures, pacing, stereo and empty files,
the live line, the demo's --url and output path, one spelling for the local server's keys."""

from __future__ import annotations

import ast
import inspect
import io
import json
import pathlib
import subprocess
import sys
from array import array

import pytest

from sayna._cli import _parser
from sayna._cli._common import StatusLine
from sayna._wav import write_wav
from sayna.testing import FakeServer, encode_speech
from tests.support.cli_runs import run

pytestmark = [
    pytest.mark.usefixtures("no_sayna_env"),
    pytest.mark.fake_server(),  # the server fixture: auth off, TTS in real time
]


def test_json_failure_from_the_server_is_one_object(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 404 with --json prints {"error": {type, message, status}} and keeps exit 1."""
    code, out, err = run(capsys, "--url", server.url, "--json", "room", "no-such-room")
    assert code == 1
    error = json.loads(out)["error"]
    assert error["type"] == "NotFoundError"
    assert error["status"] == 404
    assert "no-such-room" in error["message"]
    assert err.startswith("sayna: error: ")


def test_json_usage_failures_are_objects_too(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """A missing URL and a bad argument exit 2 and still print one JSON error (status null)."""
    code, out, _ = run(capsys, "--json", "health")
    assert code == 2
    assert json.loads(out) == {
        "error": {
            "type": "UsageError",
            "message": json.loads(out)["error"]["message"],
            "status": None,
        }
    }
    assert "no server URL" in json.loads(out)["error"]["message"]
    code, out, _ = run(capsys, "--json", "transcribe")
    assert code == 2
    assert json.loads(out)["error"]["type"] == "UsageError"


def test_json_failure_never_shows_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON error is scrubbed like the stderr line: the API key never appears."""
    key = "sk-never-print-this-0123"
    code, out, err = run(capsys, "--json", "--api-key", key, "--url", "ftp://" + key, "health")
    assert code == 2
    assert key not in out
    assert key not in err
    assert json.loads(out)["error"]["type"] == "SaynaValidationError"


def test_without_json_stdout_stays_empty_on_failure(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json a failure prints nothing on stdout (only the stderr line)."""
    code, out, err = run(capsys, "health")
    assert (code, out) == (2, "")
    assert err.startswith("sayna: error: no server URL")


def _wav(path: pathlib.Path, text: str, *, channels: int = 1) -> pathlib.Path:
    pcm = encode_speech(text, 16000)
    if channels == 2:
        mono = array("h", pcm)
        both = array("h", [0]) * (2 * len(mono))
        both[0::2] = mono
        both[1::2] = mono
        pcm = both.tobytes()
    write_wav(path, pcm, sample_rate=16000, channels=channels)
    return path


def test_transcribe_a_stereo_file(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """A stereo WAV is mixed down and transcribed; the session asks for mono."""
    path = _wav(tmp_path / "stereo.wav", "left and right", channels=2)
    code, out, err = run(capsys, "--url", server.url, "transcribe", str(path))
    assert (code, out, err) == (0, "left and right\n", "")
    assert server.sessions[0].config["stt_config"]["channels"] == 1


def test_transcribe_an_empty_wav_exits_2(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """A WAV with a header and no frames exits 2 at once, before any connection."""
    path = tmp_path / "empty.wav"
    write_wav(path, b"", sample_rate=16000)
    code, _, err = run(capsys, "--url", server.url, "transcribe", str(path))
    assert code == 2
    assert "holds no audio" in err
    assert server.sessions == []


@pytest.mark.parametrize(
    ("flags", "paced"),
    [([], False), (["--fast"], False), (["--realtime"], True), (["--speed", "50"], True)],
)
def test_transcribe_paces_only_when_asked(
    server: FakeServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    paced: bool,
) -> None:
    """By default the file goes as fast as the server reads; --realtime/--speed pace it."""
    from sayna._cli import _realtime

    seen: list[bool] = []
    real = _realtime.transcribe_audio

    def spy(*args: object, **kwargs: object) -> str:
        seen.append(bool(kwargs["realtime"]))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_realtime, "transcribe_audio", spy)
    path = _wav(tmp_path / "in.wav", "pace")
    code, out, _ = run(capsys, "--url", server.url, "transcribe", str(path), *flags)
    assert (code, out, seen) == (0, "pace\n", [paced])


def test_live_line_keeps_the_newest_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """A transcript longer than the terminal shows its end, not its first words."""
    monkeypatch.setattr("sayna._cli._common._columns", lambda: 40)
    stream = io.StringIO()
    line = StatusLine(stream)
    words = " ".join(f"word{n}" for n in range(30))
    line.show("[####]  50%", words)
    shown = stream.getvalue().lstrip("\r")
    assert len(shown) == 40
    assert shown.startswith("[####]  50%  ...")
    assert shown.endswith("word29")


@pytest.mark.parametrize("where", [["--url", "http://127.0.0.1:9"], []])
def test_demo_refuses_url(
    capsys: pytest.CaptureFixture[str], where: list[str], tmp_path: pathlib.Path
) -> None:
    """sayna demo (and fake-server) refuse --url instead of ignoring it."""
    argv = [*where, "demo", "-o", str(tmp_path / "d.wav")]
    if not where:
        argv += ["--url", "http://127.0.0.1:9"]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "takes no --url" in err
    assert not (tmp_path / "d.wav").exists()
    code, _, err = run(capsys, "fake-server", "--url", "http://127.0.0.1:9")
    assert code == 2
    assert "takes no --url" in err


def test_demo_prints_the_absolute_path_it_wrote(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo names the full path of the WAV it wrote, also with a relative -o."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "demo", "-o", "rel.wav", "--speed", "20")
    assert code == 0
    assert f"wrote {tmp_path / 'rel.wav'}: " in out
    code, out, _ = run(capsys, "--json", "demo", "-o", "rel.wav", "--speed", "20")
    assert json.loads(out)["path"] == str(tmp_path / "rel.wav")


def test_the_local_server_help_shows_require_key() -> None:
    """python -m sayna.testing documents its key option as --require-key, like sayna fake-server.

    Serving with either spelling: test_server_lifecycle's command-line test.
    """
    help_text = subprocess.run(
        [sys.executable, "-m", "sayna.testing", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "--require-key" in help_text
    assert "--api-key" not in help_text


def test_every_command_names_its_handler_function() -> None:
    """Each subcommand's handler is a function object, none is a string looked up at run time."""
    parser = _parser.build_parser()
    handlers = []
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in p._actions:
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                stack.extend(choices.values())
        handler = p.get_default("handler")
        if handler is not None:
            handlers.append(handler)
    assert len(handlers) == 21  # 19, and listen and talk (issue 24)
    assert all(callable(h) and inspect.isfunction(h) for h in handlers)


def test_build_parser_is_one_function_per_group() -> None:
    """No function of the parser module is longer than 60 lines."""
    tree = ast.parse(inspect.getsource(_parser))
    lengths = {
        node.name: node.end_lineno - node.lineno + 1  # type: ignore[operator]
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
    }
    assert max(lengths.values()) <= 60, lengths


def test_demo_paces_the_audio_at_its_speed(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """demo --speed X sends the audio back paced at X times real time, as it prints."""
    from sayna._cli import _local

    seen: list[tuple[bool, float]] = []
    real = _local.transcribe

    def spy(*args: object, **kwargs: object) -> str:
        seen.append((bool(kwargs["realtime"]), float(kwargs["speed"])))  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_local, "transcribe", spy)
    code, out, _ = run(capsys, "demo", "-o", str(tmp_path / "d.wav"), "--speed", "25")
    assert (code, seen) == (0, [(True, 25.0)])
    assert "at 25x real time" in out
