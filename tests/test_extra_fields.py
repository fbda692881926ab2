"""extra= on every config model: fields we have no name for reach the server as given."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from sayna import (
    LiveKitConfig,
    LoadingAudioConfig,
    Sayna,
    SaynaConfigError,
    SaynaValidationError,
    SIPCallConfig,
    SipHook,
    STTConfig,
    TTSConfig,
    TurnDetectConfigUpdate,
    VADConfigUpdate,
)
from sayna.testing import FakeServer

WHISPER = STTConfig(provider="whisper", model="large-v3", extra={"diarize": True, "beam": 5})
KOKORO = TTSConfig(
    provider="kokoro", model="", sample_rate=16000, extra={"style": {"mood": "calm"}}
)

# One of each config model, with the smallest valid arguments.
MODELS: list[tuple[type[Any], dict[str, Any]]] = [
    (STTConfig, {"provider": "deepgram", "model": "nova-3"}),
    (TTSConfig, {"provider": "deepgram", "model": "aura"}),
    (LiveKitConfig, {"room_name": "r"}),
    (LoadingAudioConfig, {"data": b"\x00\x01"}),
    (VADConfigUpdate, {}),
    (TurnDetectConfigUpdate, {}),
    (SipHook, {"host": "h", "url": "https://u", "auth_id": ""}),
    (SIPCallConfig, {}),
]


@pytest.mark.parametrize(("cls", "fields"), MODELS, ids=lambda v: getattr(v, "__name__", ""))
def test_extra_is_merged_into_the_wire_json(cls: type[Any], fields: dict[str, Any]) -> None:
    """Each config model writes its extra keys beside its own, and keeps a copy of them."""
    given = {"future_option": [1, "two"]}
    model = cls(**fields, extra=given)
    given["future_option"].append(3)  # the model holds a snapshot
    wire = model.to_dict()
    assert wire["future_option"] == [1, "two"]
    assert "extra" not in wire
    assert wire == {**cls(**fields).to_dict(), "future_option": [1, "two"]}


@pytest.mark.parametrize(("cls", "fields"), MODELS, ids=lambda v: getattr(v, "__name__", ""))
def test_extra_cannot_override_a_known_field(cls: type[Any], fields: dict[str, Any]) -> None:
    """A key that is one of the model's own fields is refused at construction."""
    name = next(n for n in attrs.fields_dict(cls) if n != "extra")
    with pytest.raises(SaynaValidationError, match=f"extra cannot set {name}") as info:
        cls(**fields, extra={name: "x"})
    assert info.value.field == f"extra.{name}"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"x": {1, 2}}, "not JSON-serializable"),
        ({"x": float("nan")}, "not JSON-serializable"),
        ({1: "x"}, "extra keys must be field names"),
        (["x"], "extra must be a mapping"),
    ],
)
def test_extra_that_json_cannot_carry_is_refused(extra: Any, message: str) -> None:
    """Sets, NaN, non-string keys and non-mappings fail at construction, not mid-send."""
    with pytest.raises(SaynaValidationError, match=message):
        TTSConfig(provider="deepgram", model="", extra=extra)


def test_extra_values_stay_out_of_the_repr() -> None:
    """A provider option may be a secret: the repr lists extra's keys only."""
    config = TTSConfig(provider="kokoro", model="", extra={"token": "s3cret"})
    assert "s3cret" not in repr(config)
    assert "token" in repr(config)
    assert hash(config) == hash(TTSConfig(provider="kokoro", model="", extra={"token": "other"}))
    assert config != TTSConfig(provider="kokoro", model="", extra={"token": "other"})


def test_extra_round_trips_through_a_session() -> None:
    """A session with providers the server learned from a test carries every extra to the server."""
    with (
        FakeServer(extra_providers=("kokoro", "whisper"), tts_speedup=0) as server,
        Sayna(server.url) as client,
        client.connect(
            stt_config=WHISPER,
            tts_config=KOKORO,
            livekit_config=LiveKitConfig(room_name="extra-room", extra={"region": "eu"}),
        ) as session,
    ):
        session.update_config(vad=VADConfigUpdate(silence_duration_ms=300, extra={"mode": 2}))
        fake = server.wait_for_session()
        update = fake.wait_for_frame("update_config")
    config = next(f.data for f in fake.received if f.type == "config")
    assert config["stt_config"]["diarize"] is True
    assert config["stt_config"]["beam"] == 5
    assert config["stt_config"]["provider"] == "whisper"
    assert config["tts_config"]["style"] == {"mood": "calm"}
    assert config["livekit"]["region"] == "eu"
    assert update.data["vad"] == {"silence_duration_ms": 300, "mode": 2}


def test_extra_round_trips_through_rest_calls() -> None:
    """speak_rest, set_sip_hooks and sip_call send each model's extra in their bodies."""
    with FakeServer(extra_providers=["Kokoro"]) as server, Sayna(server.url) as client:
        audio = client.speak_rest("hello there", KOKORO)
        client.set_sip_hooks(
            [SipHook(host="h.example", url="https://u", auth_id="", extra={"p": 1})]
        )
        client.sip_call(
            "room",
            "caller",
            "caller-1",
            "+15550001111",
            "+15550002222",
            sip=SIPCallConfig(outbound_address="sip.example.com", extra={"codec": "opus"}),
        )
    assert audio.data
    bodies = {r.path: r.json() for r in server.requests if r.method == "POST"}
    assert bodies["/speak"]["tts_config"]["style"] == {"mood": "calm"}
    assert bodies["/sip/hooks"]["hooks"][0]["p"] == 1
    assert bodies["/sip/call"]["sip"]["codec"] == "opus"


def test_the_server_refuses_unknown_providers_unless_told() -> None:
    """Without extra_providers, the local server answers kokoro as the real server does."""
    with (
        FakeServer() as server,
        Sayna(server.url) as client,
        pytest.raises(SaynaConfigError, match="Unsupported provider: whisper"),
    ):
        client.connect(stt_config=WHISPER, tts_config=KOKORO, timeout=5)
