"""FakeServer WebSocket sessions: handshake, config and ready, speak, STT, ordering."""

from __future__ import annotations

import base64
import json
import socket

import pytest
import requests
import websocket

from sayna.testing import FakeServer, decode_speech, encode_speech
from tests.support.server_helpers import (
    STT_CONFIG,
    TTS_CONFIG,
    audio_config,
    configure,
    connect,
    drain,
    recv,
    recv_json,
    recv_until,
    send,
    speak_and_collect,
)

pytestmark = pytest.mark.fake_server(tts_speedup=0)


@pytest.fixture
def ws(server: FakeServer) -> websocket.WebSocket:
    client = connect(server.ws_url)
    yield client
    client.close()


def test_handshake_needs_the_key_when_auth_is_on() -> None:
    """With auth on the upgrade is refused with 401 JSON; a header or ?api_key is accepted."""
    with FakeServer(api_keys={"sk": "tenant-a"}) as server:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            connect(server.ws_url)
        assert refused.value.status_code == 401
        assert json.loads(refused.value.resp_body)["error"] == "missing_auth_header"
        connect(server.ws_url, key="sk").close()
        connect(server.ws_url + "?api_key=sk").close()
        assert [s.tenant for s in server.sessions] == ["tenant-a", "tenant-a"]


def test_plain_get_on_ws_is_a_plain_text_400(server: FakeServer) -> None:
    """GET /ws without upgrade headers gets the framework's plain-text 400."""
    reply = requests.get(server.ws_url.replace("ws://", "http://"), timeout=5)
    assert reply.status_code == 400
    assert reply.text == "Connection header did not include 'upgrade'"
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"


def test_upgrade_without_key_header_is_refused(server: FakeServer) -> None:
    """An upgrade request missing Sec-WebSocket-Key gets the exact plain-text 400."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        answer = raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.endswith(b"`Sec-WebSocket-Key` header missing")


def test_ready_without_livekit_has_stream_id_and_url(
    server: FakeServer, ws: websocket.WebSocket
) -> None:
    """ready carries the stream id and livekit_url, and no room fields, without LiveKit."""
    ready = configure(ws, stream_id="call-1")
    assert ready == {
        "type": "ready",
        "stream_id": "call-1",
        "livekit_url": "wss://livekit.local.test",
    }
    session = server.wait_for_session()
    assert session.ready
    assert session.stream_id == "call-1"
    assert session.config is not None
    assert session.config["stt_config"] == STT_CONFIG


def test_generated_stream_id_is_a_uuid(ws: websocket.WebSocket) -> None:
    """Without a stream_id the server generates a UUID v4."""
    import uuid

    ready = configure(ws)
    assert uuid.UUID(ready["stream_id"]).version == 4


def test_speak_streams_chunks_then_one_completion(
    server: FakeServer, ws: websocket.WebSocket
) -> None:
    """speak yields binary chunks of about tts_chunk_ms, then tts_playback_complete last."""
    configure(ws)
    send(ws, {"type": "speak", "text": "Hello there."})
    sizes = []
    while True:
        frame = recv(ws)
        if isinstance(frame, dict):
            assert frame["type"] == "tts_playback_complete"
            assert isinstance(frame["timestamp"], int)
            break
        sizes.append(len(frame))
    assert len(sizes) > 5
    assert max(sizes) == 16000 * 40 // 1000 * 2
    ws.settimeout(0.2)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv()


def test_tts_audio_decodes_to_the_spoken_text(ws: websocket.WebSocket) -> None:
    """The streamed TTS audio encodes exactly the text (after pronunciations)."""
    tts = dict(TTS_CONFIG, pronunciations=[{"word": "API", "pronunciation": "A P I"}])
    send(ws, {"type": "config", "stt_config": STT_CONFIG, "tts_config": tts})
    assert recv_json(ws)["type"] == "ready"
    audio = speak_and_collect(ws, "The API is up.")
    assert decode_speech(audio, 16000) == "The A P I is up."
    assert 0.05 <= len(audio) / 2 / 16000 / len("The A P I is up.") <= 0.1


def test_round_trip_tts_audio_back_into_stt(ws: websocket.WebSocket) -> None:
    """TTS audio sent back as binary frames is transcribed: interims, final, then turn end."""
    configure(ws)
    text = "Please call me back tomorrow."
    audio = speak_and_collect(ws, text)
    for start in range(0, len(audio), 1001):  # odd chunk size on purpose
        ws.send_binary(audio[start : start + 1001])
    frames, _ = recv_until(ws, lambda f: f.get("is_speech_final") is True)
    assert all(f["type"] == "stt_result" for f in frames)
    interims = [f["transcript"] for f in frames if not f["is_final"]]
    assert interims[0] == "Please"
    assert interims[-1] == text
    assert frames[-2] == {
        "type": "stt_result",
        "transcript": text,
        "is_final": True,
        "is_speech_final": False,
        "confidence": 0.98,
    }
    assert frames[-1] == {
        "type": "stt_result",
        "transcript": "",
        "is_final": True,
        "is_speech_final": True,
        "confidence": 1.0,
    }


def test_blank_speak_gives_nothing(ws: websocket.WebSocket) -> None:
    """A speak with blank text produces neither audio nor a completion."""
    configure(ws)
    send(ws, {"type": "speak", "text": "   "})
    ws.settimeout(0.3)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv()


def test_back_to_back_speaks_may_share_one_completion(
    server: FakeServer, ws: websocket.WebSocket
) -> None:
    """Two queued utterances are serial and produce a completion only when the queue drains."""
    server.tts_speedup = 5.0
    configure(ws)
    send(ws, {"type": "speak", "text": "First sentence here."})
    send(ws, {"type": "speak", "text": "Second one."})
    frames, audio = recv_until(ws, lambda f: f["type"] == "tts_playback_complete")
    assert frames == [frames[-1]]
    assert decode_speech(audio, 16000) == "First sentence here. Second one."


def test_clear_cancels_queued_speech_without_completion(
    server: FakeServer, ws: websocket.WebSocket
) -> None:
    """clear stops the utterance in progress; no completion follows for it."""
    server.tts_speedup = 5.0
    configure(ws)
    send(ws, {"type": "speak", "text": "A fairly long sentence that takes a while to say. " * 3})
    first = recv(ws)
    assert isinstance(first, bytes)
    send(ws, {"type": "clear"})
    ws.settimeout(0.5)
    assert not any(isinstance(f, dict) for f in drain(ws))


def test_allow_interruption_false_makes_clear_a_no_op(
    server: FakeServer, ws: websocket.WebSocket
) -> None:
    """While a protected utterance plays, clear is ignored and the completion still comes."""
    server.tts_speedup = 10.0
    configure(ws)
    send(ws, {"type": "speak", "text": "Do not interrupt me now.", "allow_interruption": False})
    assert isinstance(recv(ws), bytes)
    send(ws, {"type": "clear"})
    frames, _ = recv_until(ws, lambda f: f["type"] == "tts_playback_complete")
    assert frames[-1]["type"] == "tts_playback_complete"


def test_invalid_text_frame_gets_an_error_and_the_socket_stays_open(
    server: FakeServer, ws: websocket.WebSocket
) -> None:
    """Undecodable text is answered with Invalid message format and recorded as received."""
    ws.send("not json")
    assert recv_json(ws) == {
        "type": "error",
        "message": "Invalid message format: expected value at line 1 column 1",
    }
    send(ws, {"type": "nope"})
    assert recv_json(ws)["message"].startswith("Invalid message format: unknown variant `nope`")
    configure(ws)
    session = server.wait_for_session()
    assert [f.data for f in session.received[:2]] == ["not json", {"type": "nope"}]
    assert session.received[1].type == "nope"


def test_config_step_errors_leave_the_socket_open(ws: websocket.WebSocket) -> None:
    """Missing STT, then missing TTS, then a provider error, then a valid config gets ready."""
    send(ws, {"type": "config", "tts_config": TTS_CONFIG})
    assert recv_json(ws)["message"] == "STT configuration is required when audio=true"
    send(ws, {"type": "config", "stt_config": STT_CONFIG})
    assert recv_json(ws)["message"] == "TTS configuration is required when audio=true"
    send(ws, audio_config(tts_config=dict(TTS_CONFIG, provider="acme")))
    assert recv_json(ws)["message"] == "Unsupported provider: acme"
    assert configure(ws)["type"] == "ready"


def test_missing_server_credentials_fail_the_config() -> None:
    """Without server credentials for a provider and no auth override, config fails."""
    with FakeServer(provider_credentials={"elevenlabs"}) as server:
        ws = connect(server.ws_url)
        send(ws, audio_config())
        assert recv_json(ws)["message"] == (
            "Missing server auth for provider deepgram: "
            "Deepgram API key not configured in server environment"
        )
        auth = {"api_key": "dg-key"}
        send(
            ws,
            audio_config(
                stt_config=dict(STT_CONFIG, auth=auth), tts_config=dict(TTS_CONFIG, auth=auth)
            ),
        )
        assert recv_json(ws)["type"] == "ready"
        ws.close()


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ({"type": "speak", "text": "hi"}, "Audio processing is disabled."),
        ({"type": "loading_start"}, "Send a config message first before using loading_start."),
        (
            {"type": "send_message", "message": "x", "role": "user"},
            "LiveKit client not configured.",
        ),
    ],
)
def test_commands_before_config(
    ws: websocket.WebSocket, frame: dict[str, object], expected: str
) -> None:
    """Commands before any config get the errors of the §3.4 table."""
    send(ws, frame)
    reply = recv_json(ws)
    assert reply["type"] == "error"
    assert reply["message"].startswith(expected)


def test_audio_disabled_session(ws: websocket.WebSocket) -> None:
    """In an audio:false session speak and audio are refused, clear and loading_stop are silent."""
    send(ws, {"type": "config", "audio": False})
    assert recv_json(ws)["type"] == "ready"
    send(ws, {"type": "clear"})
    send(ws, {"type": "loading_stop"})
    ws.send_binary(b"\x00\x00")
    assert recv_json(ws)["message"].startswith("Audio processing is disabled.")
    send(ws, {"type": "loading_start"})
    assert recv_json(ws)["message"].startswith("Loading indicator requires audio to be enabled.")


def test_loading_audio_checks(ws: websocket.WebSocket) -> None:
    """loading_audio is validated (non-fatal) and needs a LiveKit room to start."""
    pcm = base64.b64encode(b"\x00\x00" * 8000).decode()
    send(ws, audio_config(loading_audio={"data": pcm, "format": "pcm", "sample_rate": 16000}))
    assert recv_json(ws)["message"] == (
        "loading_audio requires audio to be enabled and a livekit configuration"
    )
    assert recv_json(ws)["type"] == "ready"
    send(
        ws,
        audio_config(livekit={"room_name": "r1"}, loading_audio={"data": pcm, "format": "pcm"}),
    )
    assert recv_json(ws)["message"] == "sample_rate is required for raw PCM loading_audio"
    assert recv_json(ws)["type"] == "ready"
    send(ws, {"type": "loading_start"})
    assert recv_json(ws)["message"] == "sample_rate is required for raw PCM loading_audio"


def test_update_config_threshold_is_checked(ws: websocket.WebSocket) -> None:
    """An out-of-range turn threshold is an error; a valid one is silent."""
    send(ws, {"type": "update_config", "turn_detect": {"threshold": 0.4}})
    send(ws, {"type": "update_config", "turn_detect": {"threshold": 2}})
    assert (
        recv_json(ws)["message"]
        == "Invalid turn detection threshold: 2. Must be between 0.0 and 1.0"
    )


def test_sip_transfer_errors_use_their_own_type(ws: websocket.WebSocket) -> None:
    """sip_transfer checks the number first, then the room, answering sip_transfer_error."""
    send(ws, {"type": "sip_transfer", "transfer_to": "555-1234"})
    assert recv_json(ws) == {
        "type": "sip_transfer_error",
        "message": "Invalid phone number: Invalid character '-' at position 3 - only digits "
        "(0-9) and optional leading '+' are allowed",
    }
    send(ws, {"type": "sip_transfer", "transfer_to": "+15551234567"})
    assert recv_json(ws)["message"] == "Room name not available. Ensure LiveKit is configured."


def test_encode_speech_matches_the_server_tts(server: FakeServer, ws: websocket.WebSocket) -> None:
    """encode_speech gives the same PCM the stand-in TTS streams for the same text and rate."""
    configure(ws)
    assert speak_and_collect(ws, "Same bytes.") == encode_speech("Same bytes.", 16000)


def test_protocol_error_sends_websocket_error_then_drops(
    server: FakeServer, ws: websocket.WebSocket
) -> None:
    """A broken frame (invalid UTF-8 text) gets a WebSocket error frame, then the drop."""
    ws.send_frame(websocket.ABNF(1, 0, 0, 0, websocket.ABNF.OPCODE_TEXT, 1, b"\xff\xfe"))
    assert recv_json(ws)["message"].startswith("WebSocket error: ")
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        ws.recv_data_frame(control_frame=True)
    assert server.wait_for_session().closed.wait(2)


def test_reconfig_after_ready_gets_a_new_ready(ws: websocket.WebSocket) -> None:
    """A second config is processed like the first: new pipeline, new ready."""
    configure(ws, stream_id="one")
    assert (
        configure(ws, stream_id="two", tts_config=dict(TTS_CONFIG, sample_rate=8000))["stream_id"]
        == "two"
    )
    assert decode_speech(speak_and_collect(ws, "Lower rate."), 8000) == "Lower rate."


def test_tts_failure_sends_an_error_then_the_completion(
    server: FakeServer, ws: websocket.WebSocket
) -> None:
    """With tts_error set a speak yields TTS error and, the queue being empty, a completion."""
    configure(ws)
    server.tts_error = "Provider error: quota exceeded"
    send(ws, {"type": "speak", "text": "Will fail."})
    assert recv_json(ws) == {
        "type": "error",
        "message": "TTS error: Provider error: quota exceeded",
    }
    assert recv_json(ws)["type"] == "tts_playback_complete"


def test_wav_streaming_sends_the_header_first(ws: websocket.WebSocket) -> None:
    """With audio_format wav the first binary chunk starts with the RIFF header."""
    send(ws, audio_config(tts_config=dict(TTS_CONFIG, audio_format="wav")))
    assert recv_json(ws)["type"] == "ready"
    send(ws, {"type": "speak", "text": "Wave."})
    first = recv(ws)
    assert isinstance(first, bytes)
    assert first.startswith(b"RIFF")
    _, rest = recv_until(ws, lambda f: f["type"] == "tts_playback_complete")
    assert decode_speech((first + rest)[44:], 16000) == "Wave."
