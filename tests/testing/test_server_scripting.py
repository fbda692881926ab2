"""FakeServer scripting hooks: faults, delays, pushed frames, closes, slow reading."""

from __future__ import annotations

import json
import threading
import time

import pytest
import websocket

from sayna.testing import FakeServer, FakeSession, ReceivedFrame, encode_speech
from tests.support.server_helpers import (
    audio_config,
    configure,
    connect,
    recv,
    recv_json,
    recv_until,
    send,
    speak_and_collect,
)

pytestmark = pytest.mark.fake_server(tts_speedup=0, stt_endpoint_ms=150)


def test_fail_config_answers_every_config_with_the_error(server: FakeServer) -> None:
    """fail_config makes each config of new sessions fail with that error and no ready."""
    server.fail_config("Failed to start voice manager: bad key")
    ws = connect(server.ws_url)
    for _ in range(2):
        send(ws, audio_config())
        assert recv_json(ws) == {
            "type": "error",
            "message": "Failed to start voice manager: bad key",
        }
    # Partial failure leaves audio recorded but no pipeline (§3.2).
    ws.send_binary(b"\x00\x00")
    assert recv_json(ws)["message"].startswith("Voice manager not configured.")
    assert not server.wait_for_session().ready
    server.fail_config(None)
    fresh = connect(server.ws_url)
    assert configure(fresh)["type"] == "ready"
    ws.close()
    fresh.close()


def test_fail_config_does_not_touch_open_sessions(server: FakeServer) -> None:
    """Scripting applies to sessions opened after the call, not to earlier ones."""
    ws = connect(server.ws_url)
    server.wait_for_session()
    server.fail_config("nope")
    assert configure(ws)["type"] == "ready"
    ws.close()


def test_ready_delay_holds_ready_back(server: FakeServer) -> None:
    """ready_delay postpones ready by about that long."""
    server.ready_delay = 0.3
    ws = connect(server.ws_url)
    started = time.monotonic()
    assert configure(ws)["type"] == "ready"
    assert time.monotonic() - started >= 0.3
    ws.close()


def test_withhold_ready_never_sends_ready(server: FakeServer) -> None:
    """With withhold_ready nothing answers the config, but the session keeps working."""
    server.withhold_ready = True
    ws = connect(server.ws_url)
    send(ws, audio_config())
    session = server.wait_for_session()
    session.wait_for_frame("config")
    ws.settimeout(0.3)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv()
    with pytest.raises(TimeoutError):
        session.wait_until_ready(timeout=0.05)
    assert not session.ready
    ws.close()


def test_scripted_transcripts_answer_undecodable_audio(server: FakeServer) -> None:
    """Loud audio that is not stand-in speech yields the scripted transcripts in order."""
    server.script_transcripts(["first reply", "second"])
    ws = connect(server.ws_url)
    configure(ws)
    noise = bytes((i * 37) % 256 for i in range(16000))  # 0.5 s of loud garbage
    silence = bytes(16000)
    ws.send_binary(noise)
    ws.send_binary(silence)  # 0.5 s of silence ends the turn
    frames, _ = recv_until(ws, lambda f: f.get("is_speech_final") is True)
    assert [(f["transcript"], f["is_final"]) for f in frames] == [
        ("first", False),
        ("first reply", False),
        ("first reply", True),
        ("", True),
    ]
    ws.send_binary(noise)  # no silence this time: the endpoint timer ends the turn
    frames, _ = recv_until(ws, lambda f: f.get("is_speech_final") is True)
    assert frames[-2]["transcript"] == "second"
    ws.send_binary(noise + silence)  # the script is exhausted: nothing
    ws.settimeout(0.4)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv()
    ws.close()


def test_session_script_and_silence(server: FakeServer) -> None:
    """A session's own script works for an open session; pure silence is never a turn."""
    ws = connect(server.ws_url)
    configure(ws)
    session = server.wait_for_session()
    session.script_transcripts(["hello"])
    ws.send_binary(bytes(32000))
    ws.send_binary(bytes((i * 91) % 256 for i in range(8000)))
    frames, _ = recv_until(ws, lambda f: f.get("is_speech_final") is True)
    assert frames[-2]["transcript"] == "hello"
    ws.close()


def test_corrupted_tts_audio_falls_back_to_the_script(server: FakeServer) -> None:
    """Stand-in speech with a dropped chunk is not recognised; it counts as undecodable audio."""
    server.script_transcripts(["<unintelligible>"])
    ws = connect(server.ws_url)
    configure(ws)
    audio = encode_speech("Drop one chunk of me.", 16000)
    chunks = [audio[i : i + 640] for i in range(0, len(audio), 640)]
    del chunks[7]
    for chunk in chunks:
        ws.send_binary(chunk)
    frames, _ = recv_until(ws, lambda f: f.get("is_speech_final") is True)
    finals = [f["transcript"] for f in frames if f["is_final"] and not f["is_speech_final"]]
    assert finals == ["<unintelligible>"]
    ws.close()


def test_pushed_frames_keep_fifo_order_with_server_frames(server: FakeServer) -> None:
    """send_event/send_text/send_binary interleave with the server's own frames in order."""
    ws = connect(server.ws_url)
    configure(ws)
    session = server.wait_for_session()
    session.send_event({"type": "vad_event", "event": "speech_start", "timestamp_ms": 1})
    session.send_text("raw text")
    session.send_binary(b"\x01\x02")
    send(ws, {"type": "speak", "text": "Hi."})
    assert recv_json(ws)["type"] == "vad_event"
    assert ws.recv() == "raw text"
    assert recv(ws) == b"\x01\x02"
    _, audio = recv_until(ws, lambda f: f["type"] == "tts_playback_complete")
    assert audio == encode_speech("Hi.", 16000)
    ws.close()


def test_send_events_keeps_order(server: FakeServer) -> None:
    """send_events delivers every frame, in order, to a websocket-client reader."""
    ws = connect(server.ws_url, timeout=10)
    session = server.wait_for_session()
    count = 5_000
    got: list[int] = []

    def read() -> None:
        for _ in range(count):
            got.append(json.loads(ws.recv_data()[1])["n"])

    reader = threading.Thread(target=read)
    reader.start()
    session.send_events({"type": "custom", "n": n} for n in range(count))
    reader.join(20)
    assert got == list(range(count))
    ws.close()


def test_send_events_is_fast(server: FakeServer) -> None:
    """The server writes tens of thousands of pushed frames per second (raw socket reader)."""
    ws = connect(server.ws_url, timeout=10)
    session = server.wait_for_session()
    count = 50_000
    event = {"type": "stt_result", "transcript": "hi", "is_final": False}
    expected = count * (len(json.dumps(event, separators=(",", ":"))) + 2)  # 2-byte frame header
    received = 0

    def read() -> None:
        nonlocal received
        while received < expected:
            data = ws.sock.recv(1 << 20)
            if not data:
                return
            received += len(data)

    reader = threading.Thread(target=read)
    reader.start()
    started = time.perf_counter()
    session.send_events(event for _ in range(count))
    reader.join(20)
    elapsed = time.perf_counter() - started
    assert received == expected
    assert count / elapsed > 20_000, f"{count / elapsed:.0f} frames/s"
    ws.close()


@pytest.mark.parametrize(("code", "expected"), [(4000, 4000), (None, 1005)])
def test_server_close_with_and_without_code(
    server: FakeServer, code: int | None, expected: int
) -> None:
    """close(code) sends that code; close(None) sends a Close frame with no status code."""
    ws = connect(server.ws_url)
    session = server.wait_for_session()
    session.send_event({"type": "custom"})
    session.close(code, "bye" if code else "")
    assert recv_json(ws) == {"type": "custom"}
    opcode, frame = ws.recv_data_frame(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    received = int.from_bytes(frame.data[:2], "big") if frame.data else 1005
    assert received == expected
    ws.close()
    assert session.closed.wait(2)


def test_drop_cuts_the_connection_without_close_frame(server: FakeServer) -> None:
    """drop() ends the TCP connection abruptly: the client sees no Close frame."""
    ws = connect(server.ws_url)
    session = server.wait_for_session()
    session.drop()
    with pytest.raises((websocket.WebSocketConnectionClosedException, OSError)):
        ws.recv_data_frame(control_frame=True)
    assert session.closed.wait(2)
    ws.close()


def test_participant_leaves_then_close_without_code(server: FakeServer) -> None:
    """participant_leaves sends participant_disconnected, then about 100 ms later a bare Close."""
    ws = connect(server.ws_url)
    send(ws, {"type": "config", "audio": False, "livekit": {"room_name": "room-1"}})
    assert recv_json(ws)["type"] == "ready"
    session = server.wait_for_session()
    session.participant_leaves("caller-7", "Bob")
    frame = recv_json(ws)
    assert frame["type"] == "participant_disconnected"
    assert frame["participant"]["identity"] == "caller-7"
    assert frame["participant"]["room"] == "room-1"
    started = time.monotonic()
    opcode, close = ws.recv_data_frame(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert close.data == b""
    assert 0.05 <= time.monotonic() - started < 1.0
    ws.close()


def test_pause_reading_leaves_frames_and_pings_unanswered(server: FakeServer) -> None:
    """While reading is paused nothing is processed (not even pings); resume catches up."""
    ws = connect(server.ws_url)
    session = server.wait_for_session()
    session.pause_reading()
    ws.ping(b"p1")
    send(ws, {"type": "config", "audio": False})
    ws.settimeout(0.3)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv_data_frame(control_frame=True)
    assert session.received == []
    session.resume_reading()
    ws.settimeout(5)
    opcode, pong = ws.recv_data_frame(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_PONG
    assert pong.data == b"p1"
    assert recv_json(ws)["type"] == "ready"
    ws.close()


def test_wait_for_frame_returns_each_match_once(server: FakeServer) -> None:
    """wait_for_frame takes types, 'binary' or predicates, each frame at most once."""
    ws = connect(server.ws_url)
    configure(ws)
    session: FakeSession = server.wait_for_session()
    speak_and_collect(ws, "one")
    ws.send_binary(b"\x00\x00")
    speak_and_collect(ws, "two")
    first = session.wait_for_frame("speak")
    second = session.wait_for_frame("speak")
    assert (first.data["text"], second.data["text"]) == ("one", "two")
    assert session.wait_for_frame("binary") == ReceivedFrame(kind="binary", data=b"\x00\x00")
    assert session.wait_for_frame(lambda f: f.type == "config").kind == "text"
    with pytest.raises(TimeoutError):
        session.wait_for_frame("speak", timeout=0.05)
    assert session.received_audio == b"\x00\x00"
    ws.close()


def test_record_off_keeps_no_history() -> None:
    """With record=False requests and received frames are not kept; sessions still work."""
    with FakeServer(record=False, tts_speedup=0) as server:
        ws = connect(server.ws_url)
        configure(ws)
        assert speak_and_collect(ws, "Still works.") == encode_speech("Still works.", 16000)
        session = server.wait_for_session()
        assert session.ready
        assert session.received == []
        assert server.requests == []
        ws.close()
