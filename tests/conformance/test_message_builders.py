"""The outgoing-message builders against the server's schema, without a session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sayna import (
    LiveKitConfig,
    LoadingAudioConfig,
    TurnDetectConfigUpdate,
    VADConfigUpdate,
)
from sayna import _messages as messages
from tests.support.shared_protocol import assert_valid, load_vectors
from tests.support.speech_configs import STT, TTS

CLIP = LoadingAudioConfig(data=b"\x00\x00" * 400, format="pcm", sample_rate=16000, volume=0.5)

BUILT: dict[str, Callable[[], dict[str, Any]]] = {
    "config_minimal": lambda: messages.config(audio=False),
    "config_audio": lambda: messages.config(audio=True, stt_config=STT, tts_config=TTS),
    "config_full": lambda: messages.config(
        audio=True,
        stream_id="s-1",
        stt_config=STT,
        tts_config=TTS,
        livekit=LiveKitConfig(room_name="r", enable_recording=True),
        loading_audio=CLIP,
    ),
    "speak": lambda: messages.speak("Hello"),
    "speak_flags": lambda: messages.speak("x", flush=False, allow_interruption=False),
    "speak_flush": lambda: messages.speak("", flush=True),
    "clear": messages.clear,
    "send_message": lambda: messages.send_message("hi", "assistant"),
    "send_message_debug": lambda: messages.send_message(
        "d", "system", topic="t", debug={"n": [1, None, 2.5]}
    ),
    "sip_transfer": lambda: messages.sip_transfer("+15551234567"),
    "update_config_vad": lambda: messages.update_config(VADConfigUpdate(silence_duration_ms=250)),
    "update_config_turn": lambda: messages.update_config(
        turn_detect=TurnDetectConfigUpdate(threshold=0.4)
    ),
    "update_config_both": lambda: messages.update_config(
        VADConfigUpdate(silence_duration_ms=1), TurnDetectConfigUpdate(threshold=1)
    ),
    "loading_start": messages.loading_start,
    "loading_stop": messages.loading_stop,
}


@pytest.mark.parametrize("name", sorted(BUILT))
def test_every_builder_fits_incoming_message(name: str) -> None:
    """Each builder's output validates against the server's IncomingMessage schema."""
    assert_valid(BUILT[name](), "IncomingMessage")


def test_the_builders_cover_every_client_message_type() -> None:
    """One builder per client message type of the schema's vectors, and no other."""
    built = {BUILT[name]()["type"] for name in BUILT}
    vectors = {v["frame"]["type"] for _, v in load_vectors("ws_incoming") if v["kind"] == "text"}
    assert built == vectors
    assert built == set(messages.__all__)


def test_builders_reproduce_the_minimal_vectors() -> None:
    """Builders reproduce the shared vectors of the messages they can build exactly."""
    vectors = dict(load_vectors("ws_incoming"))
    for name in ("clear", "loading_start", "loading_stop"):
        assert getattr(messages, name)() == vectors[name]["frame"]
    frame = vectors["sip_transfer"]["frame"]
    assert messages.sip_transfer(frame["transfer_to"]) == frame
    frame = vectors["speak_full"]["frame"]
    assert messages.speak(frame["text"], allow_interruption=False) == frame
    frame = vectors["send_message_full"]["frame"]
    args = (frame["message"], frame["role"], frame["topic"], frame.get("debug"))
    assert messages.send_message(*args) == frame
    assert messages.config(audio=False) == vectors["config_audio_disabled_minimal"]["frame"]


def test_each_call_builds_a_new_object() -> None:
    """A caller may change what it got without changing the next message."""
    first = messages.clear()
    first["extra"] = 1
    assert messages.clear() == {"type": "clear"}
