"""Realtime frames against the shared protocol: what we send, what we decode."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from sayna import (
    LiveKitConfig,
    LoadingAudioConfig,
    Sayna,
    SaynaValidationError,
    STTConfig,
    TTSConfig,
    TurnDetectConfigUpdate,
    VADConfigUpdate,
)
from sayna._converter import from_wire, to_wire
from sayna._events import decode_binary, decode_text, event_class
from sayna._realtime.session import Session
from sayna.testing import FakeServer, FakeSession
from tests.support.shared_protocol import assert_valid, load_vectors
from tests.support.speech_configs import STT, TTS

INCOMING = dict(load_vectors("ws_incoming"))
OUTGOING = load_vectors("ws_outgoing")

CLIENT_TYPES = {
    "config",
    "speak",
    "clear",
    "send_message",
    "sip_transfer",
    "update_config",
    "loading_start",
    "loading_stop",
}


def exercise(session: Session) -> None:
    """Call every sending method at least once, with and without optional arguments."""
    session.speak("One two three")
    session.speak("four", flush=False, allow_interruption=False)
    session.tts_flush()
    session.clear()
    session.send_message("hello", "assistant")
    session.send_message("data", "system", topic="commands", debug={"n": 1, "x": [None, 2.5]})
    session.sip_transfer("+15551234567")
    session.update_config(vad=VADConfigUpdate(silence_duration_ms=250))
    session.update_config(turn_detect=TurnDetectConfigUpdate(threshold=0.4))
    session.update_config(
        VADConfigUpdate(silence_duration_ms=1), TurnDetectConfigUpdate(threshold=1)
    )
    session.loading_start()
    session.loading_stop()
    session.on_audio_input(b"\x00\x01" * 320)


def test_every_frame_the_session_sends_fits_incoming_message(
    sayna_server: FakeServer, client: Sayna
) -> None:
    """Each text frame of every send method and config shape validates against IncomingMessage."""
    clip = LoadingAudioConfig(data=b"\x00\x00" * 4000, format="pcm", sample_rate=16000, volume=0.5)
    livekit = LiveKitConfig(room_name="conf-room", enable_recording=True)
    fakes: list[FakeSession] = []
    with client.connect(STT, TTS, livekit, stream_id="conf-1", loading_audio=clip) as session:
        fakes.append(sayna_server.wait_for_session())
        exercise(session)
    with client.connect(STT, TTS):
        fakes.append(sayna_server.wait_for_session())
    with client.connect(without_audio=True, livekit_config=LiveKitConfig(room_name="r2")):
        fakes.append(sayna_server.wait_for_session())
    for fake in fakes:
        assert fake.closed.wait(5)  # the close handshake: every earlier frame was read
    seen: set[str] = set()
    binary = 0
    for fake in fakes:
        for frame in fake.received:
            if frame.kind == "binary":
                binary += 1
                continue
            assert isinstance(frame.data, dict)
            assert_valid(frame.data, "IncomingMessage")
            seen.add(frame.data["type"])
    assert seen == CLIENT_TYPES
    assert binary == 1


def _sent(fake: FakeSession) -> Any:
    frame = fake.wait_for_frame(lambda f: f.type != "config")
    return frame.data


REPRODUCIBLE: dict[str, Callable[[Session], None]] = {
    "clear": lambda s: s.clear(),
    "loading_start": lambda s: s.loading_start(),
    "loading_stop": lambda s: s.loading_stop(),
    "send_message_full": lambda s: s.send_message(
        '{"action":"navigate","url":"/home"}',
        "system",
        topic="commands",
        debug={"source": "planner", "turn": 3},
    ),
    "sip_transfer": lambda s: s.sip_transfer("+15551234567"),
    "speak_full": lambda s: s.speak("Please listen carefully.", allow_interruption=False),
    "update_config_full": lambda s: s.update_config(
        VADConfigUpdate(silence_duration_ms=400), TurnDetectConfigUpdate(threshold=0.6)
    ),
    "binary_audio": lambda s: s.on_audio_input(
        base64.b64decode(INCOMING["binary_audio"]["binary_base64"])
    ),
}


@pytest.mark.parametrize("name", sorted(REPRODUCIBLE))
def test_the_session_reproduces_incoming_vectors(
    sayna_server: FakeServer, client: Sayna, name: str
) -> None:
    """The API call for a vector's message produces exactly the vector's frame."""
    vector = INCOMING[name]
    with client.connect(STT, TTS, LiveKitConfig(room_name="vectors")) as session:
        fake = sayna_server.wait_for_session()
        REPRODUCIBLE[name](session)
        sent = _sent(fake)
    if vector["kind"] == "binary":
        assert sent == base64.b64decode(vector["binary_base64"])
    else:
        assert sent == vector["frame"]


@pytest.mark.parametrize(
    ("name", "added"),
    [
        ("speak_minimal", {"flush": True, "allow_interruption": True}),
        ("send_message_minimal", {"topic": "messages"}),
    ],
)
def test_minimal_vectors_are_sent_with_the_official_defaults(
    sayna_server: FakeServer, client: Sayna, name: str, added: dict[str, Any]
) -> None:
    """Like the official SDK, speak sends both flags and send_message its default topic."""
    frame = INCOMING[name]["frame"]
    with client.connect(STT, TTS, LiveKitConfig(room_name="vectors")) as session:
        fake = sayna_server.wait_for_session()
        if name == "speak_minimal":
            session.speak(frame["text"])
        else:
            session.send_message(frame["message"], frame["role"])
        assert _sent(fake) == {**frame, **added}


def test_an_empty_update_config_is_refused(client: Sayna) -> None:
    """update_config_minimal (no field) changes nothing, so the client refuses to send it."""
    assert INCOMING["update_config_minimal"]["frame"] == {"type": "update_config"}
    with client.connect(STT, TTS) as session, pytest.raises(SaynaValidationError):
        session.update_config()


@pytest.mark.parametrize(
    "name",
    [
        "config_minimal_audio",
        "config_full",
        "config_google_azure_auth",
        "config_audio_disabled_minimal",
        "config_livekit_no_audio",
    ],
)
def test_connect_reproduces_config_vectors(
    sayna_server: FakeServer, client: Sayna, name: str
) -> None:
    """connect() with the vector's configs sends the vector's config frame (audio made explicit)."""
    frame = INCOMING[name]["frame"]
    kwargs: dict[str, Any] = {"without_audio": frame.get("audio") is False}
    if "stt_config" in frame:
        kwargs["stt_config"] = from_wire(frame["stt_config"], STTConfig)
    if "tts_config" in frame:
        kwargs["tts_config"] = from_wire(frame["tts_config"], TTSConfig)
    if "livekit" in frame:
        kwargs["livekit_config"] = from_wire(frame["livekit"], LiveKitConfig)
    if "loading_audio" in frame:
        kwargs["loading_audio"] = from_wire(frame["loading_audio"], LoadingAudioConfig)
    if "stream_id" in frame:
        kwargs["stream_id"] = frame["stream_id"]
    with client.connect(**kwargs):
        sent = sayna_server.wait_for_session().config
    assert sent == {"audio": True, **frame}
    assert_valid(sent, "IncomingMessage")


@pytest.mark.parametrize(("name", "vector"), OUTGOING, ids=[name for name, _ in OUTGOING])
def test_every_outgoing_vector_decodes_strictly(name: str, vector: dict[str, Any]) -> None:
    """Each server frame of the vectors decodes strictly into its class and back to its JSON."""
    if vector["kind"] == "binary":
        data = base64.b64decode(vector["binary_base64"])
        event = decode_binary(data)
        assert event.data == data
        assert len(event.data) == vector["byte_length"]
        return
    frame = vector["frame"]
    raw = json.dumps(frame)
    event = decode_text(raw, strict=True)
    cls = event_class(frame["type"])
    assert cls is not None
    assert type(event) is cls
    assert event.type == frame["type"]
    assert decode_text(raw) == event
    assert {"type": event.type, **to_wire(event)} == frame
