"""The ``sayna`` command line, run in-process through ``main(argv)``."""

from __future__ import annotations

import io
import json
import pathlib
import re
import sys
import wave

import pytest

from sayna._wav import read_wav, write_wav
from sayna.cli import main
from sayna.testing import FakeServer, decode_speech, encode_speech, make_webhook_request
from tests.support.cli_runs import run

KEY = "sk-test-secret-key-0123"
WEBHOOK_SECRET = "whsec-0123456789abcdef"


pytestmark = [
    pytest.mark.usefixtures("no_sayna_env"),
    # The server fixture: auth off and a recording to download (tests that need auth say so).
    pytest.mark.fake_server(recordings={"stream-1": b"OggS fake recording"}),
]
#: A server that requires KEY.
requires_key = pytest.mark.fake_server(api_keys={KEY: "tenant-1"})


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """--help exits 0 and names the subcommands the brief requires."""
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for name in (
        "health",
        "voices",
        "speak",
        "say",
        "transcribe",
        "token",
        "rooms",
        "room",
        "hooks",
        "recording",
        "call",
        "transfer",
        "webhook",
        "fake-server",
        "demo",
    ):
        assert f"    {name}" in out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown subcommand exits 2 with argparse's message on stderr."""
    code, out, err = run(capsys, "frobnicate")
    assert (code, out) == (2, "")
    assert "invalid choice: 'frobnicate'" in err


def test_missing_required_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """speak without -o exits 2 before anything else happens."""
    code, _, err = run(capsys, "speak", "hello")
    assert code == 2
    assert "-o/--output" in err


def test_missing_url(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --url or SAYNA_URL a server command exits 2 with one clear line."""
    code, out, err = run(capsys, "health")
    assert (code, out) == (2, "")
    assert err == (
        "sayna: error: no server URL: pass --url URL or set SAYNA_URL "
        "(`sayna fake-server` runs a local one)\n"
    )


def test_health(server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    """health prints the server's status."""
    assert run(capsys, "--url", server.url, "health") == (0, "OK\n", "")


def test_url_from_environment_and_options_after_command(
    server: FakeServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SAYNA_URL is used, and global options work after the subcommand too."""
    monkeypatch.setenv("SAYNA_URL", server.url)
    code, out, _ = run(capsys, "health", "--json")
    assert code == 0
    assert json.loads(out) == {"status": "OK"}


def test_voices_table_and_json(server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    """voices prints a table, and --json the catalogue keyed by provider."""
    code, out, _ = run(capsys, "--url", server.url, "voices", "--provider", "deepgram")
    assert code == 0
    assert out.splitlines()[0].split() == ["PROVIDER", "ID", "NAME", "LANGUAGE", "GENDER"]
    assert all(line.startswith("deepgram") for line in out.splitlines()[1:])
    code, out, _ = run(capsys, "--url", server.url, "--json", "voices")
    data = json.loads(out)
    assert {"id", "name", "language"} <= set(data["deepgram"][0])


def test_speak_writes_a_wav(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """speak -o x.wav writes a WAV whose audio is the spoken text."""
    path = tmp_path / "out.wav"
    code, out, _ = run(
        capsys, "--url", server.url, "speak", "Good morning", "-o", str(path),
        "--sample-rate", "16000",
    )  # fmt: skip
    assert code == 0
    assert out.startswith(f"wrote {path}: ")
    assert "16000 Hz" in out
    audio = read_wav(path)
    assert audio.sample_rate == 16000
    assert decode_speech(audio.pcm, 16000) == "Good morning"


def test_speak_json_describes_the_audio(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """speak --json reports path, size, format and rate."""
    path = tmp_path / "out.pcm"
    code, out, _ = run(capsys, "--url", server.url, "--json", "speak", "Hi", "-o", str(path))
    assert code == 0
    info = json.loads(out)
    assert info["audio_format"] == "linear16"
    assert info["sample_rate"] == 24000
    assert info["bytes"] == path.stat().st_size > 0


def test_speak_refuses_compressed_audio_under_a_wav_name(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """--format mp3 with -o x.wav is a usage error, caught before any request."""
    code, _, err = run(
        capsys, "--url", server.url, "speak", "Hi", "-o", str(tmp_path / "x.wav"),
        "--format", "mp3",
    )  # fmt: skip
    assert code == 2
    assert "--format mp3 cannot be saved as x.wav" in err
    assert server.requests == []


def test_blank_text_is_a_usage_error(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """Blank text is refused client-side with exit 2."""
    code, _, err = run(capsys, "--url", server.url, "speak", "  ", "-o", str(tmp_path / "x.wav"))
    assert code == 2
    assert err.startswith("sayna: error: ")
    assert err.count("\n") == 1


def test_token(server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    """token prints the LiveKit token and URL; --json has the same fields."""
    code, out, _ = run(capsys, "--url", server.url, "token", "room-a", "alice")
    assert code == 0
    assert "livekit_url: wss://livekit.local.test" in out
    code, out, _ = run(capsys, "--url", server.url, "--json", "token", "room-a", "alice")
    data = json.loads(out)
    assert data["participant_identity"] == "alice"
    assert data["token"].count(".") == 2


def test_rooms_and_room(server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    """rooms lists rooms; room shows one with its participants."""
    server.add_room("lobby")
    server.add_participant("lobby", "bob", name="Bob")
    code, out, _ = run(capsys, "--url", server.url, "rooms")
    assert code == 0
    assert out.splitlines()[1].split()[:2] == ["lobby", "1"]
    code, out, _ = run(capsys, "--url", server.url, "room", "lobby")
    assert code == 0
    assert "name: lobby" in out
    assert any(line.split()[:2] == ["bob", "Bob"] for line in out.splitlines())


def test_server_error_is_one_line_and_exit_1(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 404 from the server exits 1 with a single line naming status and message."""
    code, out, err = run(capsys, "--url", server.url, "room", "nowhere")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert err.startswith("sayna: error: 404 Not Found")
    assert "Room 'nowhere' not found" in err
    assert "Traceback" not in err


def test_debug_adds_the_traceback(server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    """--debug prints the traceback before the error line."""
    code, _, err = run(capsys, "--url", server.url, "--debug", "room", "nowhere")
    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert "NotFoundError" in err
    assert err.splitlines()[-1].startswith("sayna: error: 404")


def test_connection_refused_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    """An unreachable server is a connection error: exit 1, one line."""
    with FakeServer() as srv:
        url = srv.url
    code, _, err = run(capsys, "--url", url, "--timeout", "2", "rooms")
    assert code == 1
    assert err.startswith("sayna: error: ")
    assert err.count("\n") == 1


def test_hooks_set_list_delete(server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    """hooks set adds a row, list shows it, delete removes it."""
    code, out, _ = run(
        capsys, "--url", server.url, "hooks", "set", "sip.example.com",
        "https://hooks.example.com/in", "--auth-id", "t1",
    )  # fmt: skip
    assert code == 0
    assert ["sip.example.com", "https://hooks.example.com/in", "t1"] in [
        line.split() for line in out.splitlines()
    ]
    code, out, _ = run(capsys, "--url", server.url, "--json", "hooks", "list")
    assert json.loads(out)["hooks"] == [
        {"host": "sip.example.com", "url": "https://hooks.example.com/in", "auth_id": "t1"}
    ]
    code, out, err = run(capsys, "--url", server.url, "hooks", "delete", "SIP.example.com")
    assert (code, out, err) == (0, "", "no hooks\n")


def test_recording(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """recording writes the OGG bytes; a missing one exits 1."""
    path = tmp_path / "rec.ogg"
    code, _, _ = run(capsys, "--url", server.url, "recording", "stream-1", "-o", str(path))
    assert code == 0
    assert path.read_bytes() == b"OggS fake recording"
    code, _, err = run(capsys, "--url", server.url, "recording", "nope", "-o", str(path))
    assert code == 1
    assert "Recording not found: nope" in err


def test_call_and_transfer(server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    """call places a call; transfer moves the SIP participant it created."""
    code, out, _ = run(
        capsys, "--url", server.url, "--json", "call", "--room", "support",
        "--from", "+15550001", "--to", "+15550002", "--identity", "caller-1",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["status"] == "initiated"
    code, out, _ = run(
        capsys, "--url", server.url, "transfer", "--room", "support",
        "--identity", "caller-1", "--to", "+15550003",
    )  # fmt: skip
    assert code == 0
    assert out == "transfer completed: caller-1 in support to tel:+15550003\n"


def test_bad_phone_number_is_a_usage_error(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed number is refused client-side (exit 2), nothing sent."""
    code, _, err = run(
        capsys, "--url", server.url, "transfer", "--room", "r", "--identity", "i",
        "--to", "555-0003",
    )  # fmt: skip
    assert code == 2
    assert "Invalid character '-'" in err
    assert server.requests == []


@requires_key
def test_missing_key_hint(server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    """A 401 without any key exits 1 and says how to give one."""
    code, _, err = run(capsys, "--url", server.url, "rooms")
    assert code == 1
    assert "401" in err
    assert "pass --api-key KEY or set SAYNA_API_KEY" in err


@requires_key
def test_key_from_environment(
    server: FakeServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SAYNA_API_KEY authenticates when --api-key is not given."""
    monkeypatch.setenv("SAYNA_API_KEY", KEY)
    code, out, _ = run(capsys, "--url", server.url, "rooms", "--json")
    assert code == 0
    assert json.loads(out) == {"rooms": []}


@requires_key
def test_api_key_is_never_printed(server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    """Neither a wrong key nor a key echoed in a usage error reaches the output."""
    wrong = "sk-wrong-but-secret-999"
    code, out, err = run(capsys, "--url", server.url, "--api-key", wrong, "--debug", "rooms")
    assert code == 1
    assert wrong not in out + err
    code, _, err = run(capsys, "--api-key", wrong, "health", "--timeout", wrong)
    assert code == 2
    assert wrong not in err
    assert "not a number: '***'" in err


def _signed_files(tmp_path: pathlib.Path, secret: str = WEBHOOK_SECRET) -> tuple[list[str], str]:
    headers, body = make_webhook_request(secret)
    body_path = tmp_path / "body.json"
    body_path.write_bytes(body)
    return [f"{name}: {value}" for name, value in headers.items()], str(body_path)


def test_webhook_verify_good(capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path) -> None:
    """A correctly signed webhook verifies: exit 0 and a summary of the call."""
    header_lines, body = _signed_files(tmp_path)
    argv = ["webhook", "verify", "--secret", WEBHOOK_SECRET, "--body", body]
    for line in header_lines:
        argv += ["-H", line]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert out.splitlines()[:3] == ["webhook verified", "from: +15559876543", "to: +15551234567"]
    code, out, _ = run(capsys, *argv, "--json")
    data = json.loads(out)
    assert data["valid"] is True
    assert data["payload"]["room"]["name"] == "sip-+15551234567"


def test_webhook_verify_headers_file_stdin_and_env_secret(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headers from a JSON file, the body from stdin, the secret from the environment."""
    headers, body = make_webhook_request(WEBHOOK_SECRET)
    headers_path = tmp_path / "headers.json"
    headers_path.write_text(json.dumps(headers), encoding="utf-8")
    monkeypatch.setenv("SAYNA_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))
    code, out, _ = run(capsys, "webhook", "verify", "--headers-file", str(headers_path))
    assert code == 0
    assert out.startswith("webhook verified\n")


def test_webhook_verify_bad_signature(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """A webhook signed with another secret exits 1 and says why."""
    header_lines, body = _signed_files(tmp_path, secret="another-secret-0123456")
    argv = ["webhook", "verify", "--secret", WEBHOOK_SECRET, "--body", body]
    for line in header_lines:
        argv += ["-H", line]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err.startswith("sayna: webhook rejected: ")
    assert err.count("\n") == 1
    assert WEBHOOK_SECRET not in err
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 1
    assert json.loads(out)["valid"] is False
    assert json.loads(out)["reason"] == "signature_mismatch"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no webhook secret"),
        (["--secret", "short"], "at least 16 characters"),
        (["--secret", WEBHOOK_SECRET, "-H", "no colon here"], "-H expects 'Name: value'"),
        (["--secret", WEBHOOK_SECRET, "--body", "/nonexistent/body"], "cannot read"),
    ],
)
def test_webhook_verify_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """A missing or short secret, a malformed -H and an unreadable body exit 2."""
    code, _, err = run(capsys, "webhook", "verify", *args)
    assert code == 2
    assert message in err


def _speech_wav(path: pathlib.Path, text: str, *, rate: int = 16000) -> pathlib.Path:
    write_wav(path, encode_speech(text, rate), sample_rate=rate)
    return path


def test_say_writes_the_utterance(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """say (realtime) writes a WAV holding exactly the spoken text."""
    path = tmp_path / "said.wav"
    code, out, err = run(
        capsys, "--url", server.url, "say", "Realtime hello", "-o", str(path),
        "--sample-rate", "16000",
    )  # fmt: skip
    assert code == 0
    assert out.startswith(f"wrote {path}")
    assert re.fullmatch(r"first audio after \d+\.\d ms\n", err)
    assert decode_speech(read_wav(path).pcm, 16000) == "Realtime hello"


def test_transcribe_prints_the_final_text(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """transcribe prints only the final transcript on stdout (no live line off a terminal)."""
    path = _speech_wav(tmp_path / "in.wav", "Please call me back", rate=24000)
    code, out, err = run(capsys, "--url", server.url, "transcribe", str(path), "--fast")
    assert (code, out, err) == (0, "Please call me back\n", "")
    code, out, _ = run(capsys, "--url", server.url, "--json", "transcribe", str(path), "--fast")
    assert json.loads(out)["text"] == "Please call me back"


class FakeTerminal(io.StringIO):
    """A stderr that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


def test_transcribe_live_line_on_a_terminal(
    server: FakeServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a terminal, stderr shows a progress bar and interim text, rewritten in place."""
    path = _speech_wav(tmp_path / "in.wav", "one two three")
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code = main(["--url", server.url, "transcribe", str(path), "--speed", "20"])
    out, _ = capsys.readouterr()
    assert (code, out) == (0, "one two three\n")
    shown = terminal.getvalue()
    assert "\r[" in shown
    assert "100%" in shown
    assert "one two" in shown
    assert shown.endswith("\r")  # the line is cleared before the final text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"not a wav file at all", "is not a WAV file"),
    ],
)
def test_transcribe_bad_files(
    server: FakeServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: pathlib.Path,
    content: bytes,
    message: str,
) -> None:
    """Empty and non-WAV files exit 2 with a message naming the file; nothing is sent."""
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    code, _, err = run(capsys, "--url", server.url, "transcribe", str(path))
    assert code == 2
    assert f"{path} {message}" in err
    assert server.sessions == []


def test_transcribe_refuses_8_bit_audio(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """An 8-bit WAV is refused before connecting (the server needs 16-bit PCM)."""
    path = tmp_path / "eight.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * 800)
    code, _, err = run(capsys, "--url", server.url, "transcribe", str(path))
    assert code == 2
    assert "8-bit PCM" in err
    assert server.sessions == []


def test_demo_in_process(capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path) -> None:
    """demo round-trips its sentence, prints the events and writes the WAV."""
    path = tmp_path / "demo.wav"
    code, out, _ = run(capsys, "demo", "-o", str(path), "--speed", "10")
    assert code == 0
    lines = out.splitlines()
    assert "  <- ready" in "\n".join(lines)
    audio_lines = [line for line in lines if line.startswith("  <- tts_audio  ")]
    assert "  <- stt_result  end of turn  (confidence 1.00)" in lines
    assert "transcript: 'Hello from Sayna! This sentence went to speech and back.'" in lines
    assert "match: yes" in lines
    saved = read_wav(path)
    assert saved.sample_rate == 16000
    # The utterance's chunks are summed on one line, and nothing is missing from it.
    assert len(audio_lines) == 1
    assert audio_lines[0].endswith(f" chunks, {len(saved.pcm)} bytes")
