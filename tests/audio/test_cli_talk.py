"""`sayna talk` as a process on the virtual microphone and speaker (issue 24, point 4)."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from sayna.testing import FakeServer, decode_speech, encode_speech
from tests.audio import talk_replies
from tests.audio.conftest import MIC, MIC_FILE, SPEAKER, SPEAKER_FILE
from tests.support.child_processes import started

pytestmark = [pytest.mark.audio_device, pytest.mark.fake_server()]
TIMEOUT = 60
ROOT = pathlib.Path(__file__).resolve().parents[2]
DEVICES = ("--mic", MIC, "--speaker", SPEAKER, "--speaker-rate", "16000")


def _env(server: FakeServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAYNA_")}
    env["SAYNA_URL"] = server.url
    return env


def _load_mic(*texts: str, gap_s: float = 1.0) -> None:
    # Past its file the virtual microphone hands out its last period again
    # (see .ci/audio-device).
    pcm = (bytes(int(32000 * gap_s))).join(encode_speech(text, 16000) for text in texts)
    MIC_FILE.write_bytes(pcm + bytes(-len(pcm) % 3200))


def _talk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    SPEAKER_FILE.write_bytes(b"")
    return subprocess.run(
        [sys.executable, "-m", "sayna", "talk", *DEVICES, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=TIMEOUT,
        check=False,
    )


def test_talk_answers_with_the_respond_function(server: FakeServer) -> None:
    """The speech on the microphone reaches --respond; its answer comes out of the speaker."""
    _load_mic("Hello there.")
    done = _talk(
        "--respond", "tests.audio.talk_replies:echo_back", "--max-turns", "1", env=_env(server)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "you: Hello there.\nsayna: Heard Hello there.\n"
    assert SPEAKER_FILE.read_bytes() == encode_speech("Heard Hello there.", 16000)
    assert "conversation ended (max_turns)" in done.stderr


def test_talk_repeats_by_default_and_streams_answers(server: FakeServer) -> None:
    """Without --respond it says back what it heard; --json prints the lines at the end."""
    _load_mic("Good morning.")
    done = _talk("--max-turns", "1", "--json", env=_env(server))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["lines"] == [
        {"role": "user", "text": "Good morning."},
        {"role": "agent", "text": "You said: Good morning."},
    ]
    assert (result["ended_by"], result["microphone"]) == ("max_turns", MIC)
    assert decode_speech(SPEAKER_FILE.read_bytes(), 16000) == "You said: Good morning."


def test_a_streamed_answer_is_spoken_whole(server: FakeServer) -> None:
    """A --respond that yields pieces is spoken and printed as one answer."""
    _load_mic("Tell me.")
    done = _talk(
        "--respond", "tests.audio.talk_replies:streamed", "--max-turns", "1", env=_env(server)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "you: Tell me.\nsayna: Streamed answer.\n"
    assert decode_speech(SPEAKER_FILE.read_bytes(), 16000) == "Streamed answer."


def test_a_respond_function_that_raises_is_one_line_and_exit_1(server: FakeServer) -> None:
    """The reply function's exception: one line naming it and the function, no traceback."""
    _load_mic("Hello there.")
    done = _talk("--respond", "tests.audio.talk_replies:fails", env=_env(server))
    assert done.returncode == 1, done.stderr
    assert done.stdout == "you: Hello there.\n"
    last = done.stderr.splitlines()[-1]
    assert last == (
        "sayna: error: --respond tests.audio.talk_replies:fails:"
        " ValueError: cannot answer 'Hello there.'"
    )
    assert "Traceback" not in done.stderr
    assert server.sessions[0].closed.wait(10)


def test_ctrl_c_ends_talk_cleanly(server: FakeServer) -> None:
    """SIGINT while talking ends the conversation: what was said is printed, exit 0, promptly."""
    _load_mic("Stop now.")
    argv = [sys.executable, "-m", "sayna", "talk", *DEVICES]
    with started(argv, stderr=subprocess.PIPE, env=_env(server), cwd=ROOT) as process:
        assert process.stderr is not None
        assert process.stdout is not None
        assert "talking on" in process.stderr.readline()
        assert process.stdout.readline() == "you: Stop now.\n"
        assert process.stdout.readline() == "sayna: You said: Stop now.\n"
        time.sleep(0.2)  # the answer is being spoken
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=TIMEOUT)
        took = time.monotonic() - interrupted
    assert process.returncode == 0, err
    assert out == ""
    assert "conversation ended (interrupted)" in err
    assert took < 5


def test_an_unknown_device_is_one_line_and_exit_2(server: FakeServer) -> None:
    """A microphone or speaker that is not there: one line naming it, exit 2, no session."""
    for option in ("--mic", "--speaker"):
        done = subprocess.run(
            [sys.executable, "-m", "sayna", "talk", option, "no-such-device"],
            capture_output=True,
            text=True,
            env=_env(server),
            timeout=TIMEOUT,
            check=False,
        )
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1
        assert "device 'no-such-device'" in done.stderr
    assert server.sessions == []


@pytest.mark.fake_server(tts_speedup=1.0)
def test_the_caller_talking_over_an_answer_cuts_it_off(server: FakeServer) -> None:
    """Barge-in is on: speech during an answer sends `clear` and cuts the answer short."""
    _load_mic("Hello there.", "Wait, stop.")  # the second while the answer plays
    done = _talk(
        "--respond", "tests.audio.talk_replies:long_answer", "--max-turns", "2", env=_env(server)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2] == "you: Wait, stop."
    sent = [frame.type for frame in server.sessions[0].received if frame.kind == "text"]
    assert "clear" in sent
    whole = encode_speech(talk_replies.LONG, 16000)
    played = SPEAKER_FILE.read_bytes()
    # The second answer plays to the end; the first was cut off part way.
    assert played.endswith(whole)
    assert len(whole) < len(played) < 2 * len(whole)
