"""FakeServer sessions with a LiveKit room: room events, routing, data, transfer, cleanup."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
import websocket

from sayna.testing import FakeServer, encode_speech
from tests.support.server_helpers import (
    assert_valid,
    audio_config,
    connect,
    drain,
    recv_json,
    recv_until,
    send,
    wait_until,
)

KEY = "key-a"


pytestmark = pytest.mark.fake_server(api_keys={KEY: "tenant-a", "key-b": "tenant-b"}, tts_speedup=0)


def _join(server: FakeServer, room: str = "room-1", **livekit: Any) -> websocket.WebSocket:
    ws = connect(server.ws_url, key=KEY)
    send(ws, audio_config(livekit={"room_name": room, **livekit}))
    return ws


def test_ready_names_the_room_and_agent(server: FakeServer) -> None:
    """ready in a LiveKit session carries room, URL and the agent's identity and name."""
    ws = _join(server, sayna_participant_identity="bot", sayna_participant_name="Bot")
    ready = recv_json(ws)
    assert_valid(ready, "OutgoingMessage")
    assert list(ready) == [
        "type",
        "stream_id",
        "livekit_room_name",
        "livekit_url",
        "sayna_participant_identity",
        "sayna_participant_name",
    ]
    assert (ready["livekit_room_name"], ready["sayna_participant_identity"]) == ("room-1", "bot")
    room = server.state.rooms["room-1"]
    assert room.owner == "tenant-a"
    assert room.participants["bot"].kind == "AGENT"
    ws.close()


def test_other_tenants_room_is_refused(server: FakeServer) -> None:
    """Joining a room stamped by another tenant fails the config with the access error."""
    server.add_room("theirs", owner="tenant-b")
    ws = _join(server, "theirs")
    assert recv_json(ws) == {
        "type": "error",
        "message": "Access denied: room 'theirs' belongs to a different tenant",
    }
    ws.close()


def test_livekit_not_configured_fails_the_config() -> None:
    """Without LiveKit on the server a livekit config is refused."""
    with FakeServer(livekit_configured=False) as server:
        ws = connect(server.ws_url)
        send(ws, {"type": "config", "audio": False, "livekit": {"room_name": "r"}})
        assert recv_json(ws)["message"] == (
            "LiveKit room handler not initialized. Check API keys configuration."
        )
        ws.close()


def test_participants_joining_are_announced_with_their_tracks(server: FakeServer) -> None:
    """Present participants are subscribed at ready; newcomers are announced, then subscribed."""
    early = server.add_participant("room-1", "early", name="Early")
    ws = _join(server)
    assert recv_json(ws)["type"] == "ready"
    subscribed = recv_json(ws)
    assert subscribed["type"] == "track_subscribed"
    assert subscribed["track"]["track_sid"] == early.tracks[0].sid
    late = server.add_participant("room-1", "late", name="Late")
    connected, track = recv_json(ws), recv_json(ws)
    for frame in (subscribed, connected, track):
        assert_valid(frame, "OutgoingMessage")
    assert connected["participant"]["identity"] == "late"
    assert connected["participant"]["room"] == "room-1"
    assert track["track"] | {"timestamp": 0} == {
        "identity": "late",
        "name": "Late",
        "track_kind": "audio",
        "track_sid": late.tracks[0].sid,
        "room": "room-1",
        "timestamp": 0,
    }
    ws.close()


def test_tts_goes_to_the_room_not_the_socket(server: FakeServer) -> None:
    """In a LiveKit session TTS audio is published to the room; only the completion arrives."""
    ws = _join(server)
    recv_json(ws)
    send(ws, {"type": "speak", "text": "Into the room."})
    frames, audio = recv_until(ws, lambda f: f["type"] == "tts_playback_complete")
    assert audio == b""
    assert len(frames) == 1
    session = server.wait_for_session()
    assert session.published_audio == encode_speech("Into the room.", 16000)
    ws.close()


def test_send_message_publishes_a_data_packet(server: FakeServer) -> None:
    """send_message publishes {message, role, debug} on its topic and sends nothing back."""
    ws = _join(server)
    recv_json(ws)
    send(ws, {"type": "send_message", "message": "hi", "role": "assistant", "debug": {"n": 1}})
    send(ws, {"type": "send_message", "message": "x", "role": "user", "topic": "chat"})
    session = server.wait_for_session()
    wait_until(lambda: len(session.published_data) == 2)
    first, second = session.published_data
    assert (first.topic, first.json()) == (
        "messages",
        {"message": "hi", "role": "assistant", "debug": {"n": 1}},
    )
    assert (second.topic, second.json()["debug"]) == ("chat", None)
    ws.settimeout(0.2)
    assert drain(ws) == []
    ws.close()


def test_room_data_becomes_message_frames_with_filtering(server: FakeServer) -> None:
    """Data packets from the room arrive as message frames; listen_participants filters senders."""
    ws = _join(server, listen_participants=["caller-1"])
    recv_json(ws)
    session = server.wait_for_session()
    session.deliver_data({"hello": 1}, identity="stranger")
    session.deliver_data({"hello": 2}, identity="caller-1", topic="chat")
    session.deliver_data(b"\xde\xad\xbe\xef", identity=None)
    text, binary = recv_json(ws), recv_json(ws)
    for frame in (text, binary):
        assert_valid(frame, "OutgoingMessage")
    assert text["message"] | {"timestamp": 0} == {
        "message": '{"hello":2}',
        "identity": "caller-1",
        "topic": "chat",
        "room": "livekit",
        "timestamp": 0,
    }
    assert binary["message"]["data"] == "3q2+7w=="
    assert binary["message"]["identity"] == "server"
    assert binary["message"]["topic"] == "default"
    ws.close()


def test_room_audio_feeds_stt(server: FakeServer) -> None:
    """Audio a listened-to participant speaks in the room is transcribed."""
    ws = _join(server, listen_participants=["caller-1"])
    recv_json(ws)
    session = server.wait_for_session()
    session.inject_room_audio(encode_speech("ignored", 16000), identity="someone-else")
    session.inject_room_audio(encode_speech("From the room.", 16000), identity="caller-1")
    frames, _ = recv_until(ws, lambda f: f.get("is_speech_final") is True)
    assert [f["transcript"] for f in frames if f["is_final"]] == ["From the room.", ""]
    ws.close()


def test_sip_transfer_succeeds_silently_then_the_caller_leaves(server: FakeServer) -> None:
    """A transfer of the room's SIP caller is silent; the caller leaving ends the session."""
    server.add_room("call-1", owner="tenant-a")
    server.add_participant("call-1", "sip_+1555", name="Phone", kind="SIP")
    ws = _join(server, "call-1")
    assert recv_json(ws)["type"] == "ready"
    assert recv_json(ws)["type"] == "track_subscribed"
    send(ws, {"type": "sip_transfer", "transfer_to": "+15550001111"})
    left = recv_json(ws)
    assert left["type"] == "participant_disconnected"
    assert left["participant"]["identity"] == "sip_+1555"
    opcode, frame = ws.recv_data_frame(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert frame.data == b""
    ws.close()


def test_sip_transfer_without_a_sip_participant(server: FakeServer) -> None:
    """With no SIP participant in the room the transfer fails with sip_transfer_error."""
    ws = _join(server)
    recv_json(ws)
    send(ws, {"type": "sip_transfer", "transfer_to": "+15550001111"})
    assert recv_json(ws) == {
        "type": "sip_transfer_error",
        "message": "No SIP participant found in room to transfer",
    }
    ws.close()


def test_removing_a_participant_over_rest_ends_the_session(server: FakeServer) -> None:
    """Kicking a participant via REST makes the session see it leave and close."""
    server.add_participant("room-1", "caller", name="C")
    ws = _join(server)
    recv_json(ws)
    recv_json(ws)  # track_subscribed
    requests.delete(
        server.url + "/livekit/participant",
        json={"room_name": "room-1", "participant_identity": "caller"},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=5,
    ).raise_for_status()
    assert recv_json(ws)["type"] == "participant_disconnected"
    opcode, _ = ws.recv_data_frame(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    ws.close()
    assert server.wait_for_session().closed.wait(2)


def test_close_deletes_the_room_and_stores_the_recording(server: FakeServer) -> None:
    """When the session ends the room is deleted and a recording is downloadable."""
    ws = _join(server, enable_recording=True)
    stream_id = recv_json(ws)["stream_id"]
    assert server.state.rooms["room-1"].active_recording
    send(ws, {"type": "speak", "text": "Recorded words."})
    recv_until(ws, lambda f: f["type"] == "tts_playback_complete")
    ws.close()
    session = server.wait_for_session()
    assert session.closed.wait(2)
    assert "room-1" not in server.state.rooms
    reply = requests.get(
        f"{server.url}/recording/{stream_id}", headers={"Authorization": f"Bearer {KEY}"}, timeout=5
    )
    assert reply.status_code == 200
    assert reply.content.startswith(b"OggS")
    assert reply.headers["content-type"] == "audio/ogg"


def test_loading_start_with_a_valid_clip(server: FakeServer) -> None:
    """With a valid loading clip in a LiveKit session, loading_start and loading_stop are silent."""
    import base64

    clip = base64.b64encode(b"\x01\x00" * 8000).decode()  # 0.5 s at 16 kHz
    ws = connect(server.ws_url, key=KEY)
    send(
        ws,
        audio_config(
            livekit={"room_name": "room-1"},
            loading_audio={"data": clip, "format": "pcm", "sample_rate": 16000},
        ),
    )
    assert recv_json(ws)["type"] == "ready"
    session = server.wait_for_session()
    send(ws, {"type": "loading_start"})
    session.wait_for_frame("loading_start")
    wait_until(lambda: session.loading)
    send(ws, {"type": "loading_stop"})
    session.wait_for_frame("loading_stop")
    wait_until(lambda: not session.loading)
    ws.settimeout(0.2)
    assert drain(ws) == []
    ws.close()


def test_two_sessions_in_one_room_see_each_other_leave(server: FakeServer) -> None:
    """A second agent joining is announced; the first closing makes the second end too."""
    first = _join(server)
    recv_json(first)
    second = connect(server.ws_url, key=KEY)
    livekit = {"room_name": "room-1", "sayna_participant_identity": "bot-2"}
    send(second, {"type": "config", "audio": False, "livekit": livekit})
    assert recv_json(second)["type"] == "ready"
    assert recv_json(first)["participant"]["identity"] == "bot-2"
    first.close()
    assert recv_json(second)["type"] == "participant_disconnected"
    started = time.monotonic()
    opcode, _ = second.recv_data_frame(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert time.monotonic() - started < 1.0
    second.close()
