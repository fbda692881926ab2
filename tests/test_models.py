"""Models: defaults, validation at construction, wire shape, secrets kept out of reprs."""

from __future__ import annotations

import base64
import io
import math
import pathlib
import wave
from typing import Any

import attrs
import pytest

from sayna import (
    ApiKeyAuth,
    AzureAuth,
    GoogleAuth,
    HealthResponse,
    LiveKitConfig,
    LiveKitRoomDetails,
    LiveKitTokenResponse,
    LoadingAudioConfig,
    MuteParticipantResponse,
    Pronunciation,
    SaynaValidationError,
    SIPCallConfig,
    SipHook,
    SipHooksResponse,
    STTConfig,
    TTSConfig,
    TurnDetectConfigUpdate,
    VADConfigUpdate,
    VoiceDescriptor,
)
from sayna._converter import from_wire, to_wire

SECRET = "sk-very-secret-value-123"


def _wav(*, seconds: float = 0.5, rate: int = 16000, channels: int = 1, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(b"\x00" * int(seconds * rate) * channels * width)
    return buffer.getvalue()


# --- STT ------------------------------------------------------------------------


def test_stt_config_seed_form_sends_every_required_field() -> None:
    """STTConfig(provider=, model=) works and its wire form carries every field the server needs."""
    config = STTConfig(provider="deepgram", model="nova-3")
    assert to_wire(config) == {
        "provider": "deepgram",
        "model": "nova-3",
        "language": "en-US",
        "sample_rate": 16000,
        "channels": 1,
        "punctuation": True,
        "encoding": "linear16",
    }


def test_stt_config_wire_round_trip_with_auth() -> None:
    """A full STTConfig survives to_wire/from_wire(strict) with credentials as a dict."""
    config = STTConfig(
        provider="azure",
        model="",
        language="de-DE",
        sample_rate=8000,
        channels=2,
        punctuation=False,
        encoding="mulaw",
        auth=AzureAuth(api_key=SECRET, region="westeurope"),
    )
    wire = to_wire(config)
    assert wire["auth"] == {"api_key": SECRET, "region": "westeurope"}
    assert wire["punctuation"] is False
    back = from_wire(wire, STTConfig, strict=True)
    assert back.auth == {"api_key": SECRET, "region": "westeurope"}
    assert to_wire(back) == wire


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"provider": ""}, "provider"),
        ({"provider": "   "}, "provider"),
        ({"provider": None}, "provider"),
        ({"model": None}, "model"),
        ({"language": ""}, "language"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"sample_rate": -16000}, "sample_rate"),
        ({"sample_rate": 16000.0}, "sample_rate"),
        ({"sample_rate": True}, "sample_rate"),
        ({"channels": 0}, "channels"),
        ({"channels": 3}, "channels"),
        ({"punctuation": "yes"}, "punctuation"),
        ({"encoding": " "}, "encoding"),
        ({"auth": "sk-key-as-a-string"}, "auth"),
        ({"auth": {1: "x"}}, "auth"),
    ],
)
def test_stt_config_refuses_impossible_values(kwargs: dict[str, Any], field: str) -> None:
    """Blank names, non-positive rates, channel counts other than 1/2 and bad types are refused."""
    base: dict[str, Any] = {"provider": "deepgram", "model": "nova-3"}
    with pytest.raises(SaynaValidationError) as info:
        STTConfig(**{**base, **kwargs})
    assert info.value.field == field


def test_stt_config_empty_model_is_allowed() -> None:
    """model may be empty: some providers ignore it and the server accepts ""."""
    assert STTConfig(provider="google", model="").model == ""


# --- TTS ------------------------------------------------------------------------


def test_tts_config_omits_unset_fields() -> None:
    """Fields left at None (and empty pronunciations) are absent from the wire form."""
    assert to_wire(TTSConfig(provider="deepgram", model="aura-asteria-en")) == {
        "provider": "deepgram",
        "model": "aura-asteria-en",
    }


def test_tts_config_full_wire_form() -> None:
    """Every TTS field appears under its wire name, pronunciations as objects."""
    config = TTSConfig(
        provider="elevenlabs",
        model="eleven_flash_v2_5",
        voice_id="21m00Tcm4TlvDq8ikWAM",
        speaking_rate=1.25,
        audio_format="mp3",
        sample_rate=44100,
        connection_timeout=10,
        request_timeout=20,
        pronunciations=[Pronunciation(word="API", pronunciation="A P I")],
        auth=ApiKeyAuth(api_key=SECRET),
    )
    assert to_wire(config) == {
        "provider": "elevenlabs",
        "model": "eleven_flash_v2_5",
        "voice_id": "21m00Tcm4TlvDq8ikWAM",
        "speaking_rate": 1.25,
        "audio_format": "mp3",
        "sample_rate": 44100,
        "connection_timeout": 10,
        "request_timeout": 20,
        "pronunciations": [{"word": "API", "pronunciation": "A P I"}],
        "auth": {"api_key": SECRET},
    }
    assert from_wire(to_wire(config), TTSConfig, strict=True).auth == {"api_key": SECRET}


def test_tts_config_accepts_pronunciation_dicts_and_lists() -> None:
    """Pronunciations given as dicts in a list are stored as a tuple of Pronunciation."""
    config = TTSConfig(
        provider="deepgram", model="m", pronunciations=[{"word": "SQL", "pronunciation": "sequel"}]
    )
    assert config.pronunciations == (Pronunciation(word="SQL", pronunciation="sequel"),)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"provider": ""}, "provider"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"speaking_rate": 0}, "speaking_rate"),
        ({"speaking_rate": -1.0}, "speaking_rate"),
        ({"speaking_rate": math.nan}, "speaking_rate"),
        ({"connection_timeout": 0}, "connection_timeout"),
        ({"request_timeout": -5}, "request_timeout"),
        ({"voice_id": ""}, "voice_id"),
        ({"audio_format": " "}, "audio_format"),
        ({"pronunciations": "API"}, "pronunciations"),
        ({"pronunciations": [("API", "A P I")]}, "pronunciations"),
        ({"pronunciations": [{"word": "API"}]}, "pronunciation"),
    ],
)
def test_tts_config_refuses_impossible_values(kwargs: dict[str, Any], field: str) -> None:
    """Non-positive rates and timeouts, blank strings and malformed pronunciations are refused."""
    with pytest.raises(SaynaValidationError) as info:
        TTSConfig(**{"provider": "deepgram", "model": "m", **kwargs})
    assert info.value.field == field


def test_tts_config_copies_auth_dict() -> None:
    """A plain auth dict is copied, so later changes to the caller's dict do not leak in."""
    auth = {"api_key": SECRET}
    config = TTSConfig(provider="deepgram", model="m", auth=auth)
    auth["api_key"] = "changed"
    assert config.auth == {"api_key": SECRET}


def test_models_are_frozen() -> None:
    """Assigning to a model's field raises: models are immutable values."""
    config = TTSConfig(provider="deepgram", model="m")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.model = "other"  # type: ignore[misc]


# --- credentials and secrets ----------------------------------------------------


def test_google_credentials_string_or_dict() -> None:
    """Google credentials may be JSON text, a server path or a dict; blank or empty is refused."""
    assert to_wire(GoogleAuth(credentials={"type": "service_account"})) == {
        "credentials": {"type": "service_account"}
    }
    assert to_wire(GoogleAuth(credentials="/etc/creds.json")) == {"credentials": "/etc/creds.json"}
    for bad in ("", " ", {}, 42):
        with pytest.raises(SaynaValidationError):
            GoogleAuth(credentials=bad)  # type: ignore[arg-type]
    with pytest.raises(SaynaValidationError) as info:
        AzureAuth(api_key=SECRET, region="")
    assert info.value.field == "region"


@pytest.mark.parametrize(
    "model",
    [
        ApiKeyAuth(api_key=SECRET),
        AzureAuth(api_key=SECRET, region="eastus"),
        GoogleAuth(credentials={"private_key": SECRET}),
        GoogleAuth(credentials=SECRET),
        STTConfig(provider="deepgram", model="nova-3", auth=ApiKeyAuth(api_key=SECRET)),
        STTConfig(provider="deepgram", model="nova-3", auth={"api_key": SECRET}),
        TTSConfig(provider="deepgram", model="m", auth={"api_key": SECRET}),
        TTSConfig(provider="google", model="m", auth=GoogleAuth(credentials={"k": SECRET})),
        SIPCallConfig(auth_username="user", auth_password=SECRET),
        LiveKitTokenResponse(
            token=SECRET, room_name="r", participant_identity="p", livekit_url="wss://lk"
        ),
        LoadingAudioConfig(data=SECRET.encode(), format="pcm", sample_rate=16000),
    ],
    ids=lambda model: type(model).__name__,
)
def test_secrets_never_in_repr(model: object) -> None:
    """Credentials, passwords, tokens and audio bytes are redacted in repr and str."""
    assert SECRET not in repr(model)
    assert SECRET not in str(model)
    assert SECRET.encode().hex() not in repr(model)


def test_redacted_repr_still_says_what_is_set() -> None:
    """A redacted field shows '***' when set and None when not, so the repr stays useful."""
    assert "auth='***'" in repr(STTConfig(provider="d", model="m", auth={"api_key": SECRET}))
    assert "auth=None" in repr(STTConfig(provider="d", model="m"))
    assert "region='eastus'" in repr(AzureAuth(api_key=SECRET, region="eastus"))
    assert "data=<4 bytes>" in repr(LoadingAudioConfig(data=b"\x00\x01\x02\x03"))


# --- LiveKit, loading audio, update_config ---------------------------------------


def test_livekit_config_wire_form() -> None:
    """Only the room is required; defaults are omitted and listen_participants becomes a list."""
    assert to_wire(LiveKitConfig(room_name="support-room-42")) == {"room_name": "support-room-42"}
    full = LiveKitConfig(
        room_name="r",
        enable_recording=True,
        sayna_participant_identity="bot",
        sayna_participant_name="Bot",
        listen_participants=["caller-1"],
    )
    assert to_wire(full) == {
        "room_name": "r",
        "enable_recording": True,
        "sayna_participant_identity": "bot",
        "sayna_participant_name": "Bot",
        "listen_participants": ["caller-1"],
    }
    assert from_wire(to_wire(full), LiveKitConfig, strict=True) == full


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"room_name": " "}, "room_name"),
        ({"enable_recording": 1}, "enable_recording"),
        ({"listen_participants": "caller-1"}, "listen_participants"),
        ({"listen_participants": [""]}, "listen_participants"),
    ],
)
def test_livekit_config_refuses_impossible_values(kwargs: dict[str, Any], field: str) -> None:
    """A blank room, a non-bool recording flag or a bare-string listen list is refused."""
    with pytest.raises(SaynaValidationError) as info:
        LiveKitConfig(**{"room_name": "r", **kwargs})
    assert info.value.field == field


def test_loading_audio_is_base64_on_the_wire() -> None:
    """Loading-audio bytes travel as standard base64 and decode back to the same bytes."""
    config = LoadingAudioConfig(data=b"\x00\xff" * 4, format="pcm", sample_rate=16000, channels=1)
    wire = to_wire(config)
    assert wire == {
        "data": base64.b64encode(b"\x00\xff" * 4).decode(),
        "format": "pcm",
        "sample_rate": 16000,
        "channels": 1,
    }
    assert from_wire(wire, LoadingAudioConfig, strict=True) == config


def test_loading_audio_from_wav(tmp_path: pathlib.Path) -> None:
    """from_wav_bytes/from_wav_file accept a valid 16-bit WAV and mark it as wav."""
    data = _wav(seconds=0.5)
    config = LoadingAudioConfig.from_wav_bytes(data, volume=0.5)
    assert config.data == data
    assert config.format == "wav"
    assert config.volume == 0.5
    path = tmp_path / "hold.wav"
    path.write_bytes(data)
    assert LoadingAudioConfig.from_wav_file(path) == LoadingAudioConfig(data=data, format="wav")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"not a wav file at all", "not a valid WAV"),
        (_wav(width=1), "16-bit"),
        (_wav(rate=4000), "8000-48000"),
        (_wav(seconds=0.1), "250-10000 ms"),
        (_wav(seconds=11), "250-10000 ms"),
    ],
)
def test_loading_audio_from_wav_refuses_what_the_server_refuses(data: bytes, match: str) -> None:
    """8-bit, out-of-range rates and too short or too long clips are refused before sending."""
    with pytest.raises(SaynaValidationError, match=match):
        LoadingAudioConfig.from_wav_bytes(data)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"data": b""}, "data"),
        ({"data": "AAAA"}, "data"),
        ({"format": "mp3"}, "format"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"channels": 6}, "channels"),
        ({"volume": "loud"}, "volume"),
    ],
)
def test_loading_audio_refuses_impossible_values(kwargs: dict[str, Any], field: str) -> None:
    """Empty or non-bytes data, unknown formats, bad rates and channel counts are refused."""
    with pytest.raises(SaynaValidationError) as info:
        LoadingAudioConfig(**{"data": b"\x00\x00", **kwargs})
    assert info.value.field == field


def test_update_config_models() -> None:
    """Threshold must lie in 0..1 and silence must be non-negative; valid values go on the wire."""
    assert to_wire(TurnDetectConfigUpdate(threshold=0.5)) == {"threshold": 0.5}
    assert to_wire(VADConfigUpdate(silence_duration_ms=300)) == {"silence_duration_ms": 300}
    for bad in (-0.1, 1.01, math.inf, "0.5", True):
        with pytest.raises(SaynaValidationError) as info:
            TurnDetectConfigUpdate(threshold=bad)  # type: ignore[arg-type]
        assert info.value.field == "threshold"
    with pytest.raises(SaynaValidationError):
        VADConfigUpdate(silence_duration_ms=-1)


# --- SIP --------------------------------------------------------------------------


def test_sip_models() -> None:
    """SipHook needs auth_id (may be empty); SIPCallConfig omits unset overrides."""
    assert to_wire(SipHook(host="a.example", url="https://x", auth_id="")) == {
        "host": "a.example",
        "url": "https://x",
        "auth_id": "",
    }
    with pytest.raises(TypeError):
        SipHook(host="a.example", url="https://x")  # type: ignore[call-arg]
    with pytest.raises(SaynaValidationError):
        SipHook(host="a.example", url="https://x", auth_id=None)  # type: ignore[arg-type]
    assert to_wire(SIPCallConfig(outbound_address="sip.example:5060")) == {
        "outbound_address": "sip.example:5060"
    }
    with pytest.raises(SaynaValidationError):
        SIPCallConfig(outbound_address=" ")


# --- answers ---------------------------------------------------------------------


ROOM = {
    "sid": "RM_1",
    "name": "r",
    "num_participants": 1,
    "max_participants": 0,
    "creation_time": 1767225600,
    "metadata": "",
    "active_recording": False,
    "participants": [
        {
            "sid": "PA_1",
            "identity": "caller",
            "name": "Caller",
            "state": "ACTIVE",
            "kind": "SIP",
            "joined_at": 1767225601,
            "metadata": "",
            "attributes": {"sip.phoneNumber": "+15550000000"},
            "is_publisher": True,
        }
    ],
}


def test_answers_decode_and_encode_back() -> None:
    """A room-details answer decodes strictly and encodes back to the same JSON."""
    room = from_wire(ROOM, LiveKitRoomDetails, strict=True)
    assert room.participants[0].attributes == {"sip.phoneNumber": "+15550000000"}
    assert to_wire(room) == ROOM


def test_unknown_keys_lenient_versus_strict() -> None:
    """An extra key is ignored by the production converter and rejected by the strict one."""
    body = {"status": "OK", "uptime": 12}
    assert from_wire(body, HealthResponse) == HealthResponse(status="OK")
    with pytest.raises(Exception, match="HealthResponse"):
        from_wire(body, HealthResponse, strict=True)
    nested = {"hooks": [{"host": "h", "url": "u", "auth_id": "", "secret": "x"}]}
    assert from_wire(nested, SipHooksResponse).hooks == (SipHook(host="h", url="u", auth_id=""),)
    with pytest.raises(Exception, match="SipHooksResponse"):
        from_wire(nested, SipHooksResponse, strict=True)


@pytest.mark.parametrize(
    "body",
    [
        {"room_name": "r", "participant_identity": "p", "track_sid": "t", "muted": "false"},
        {"room_name": "r", "participant_identity": "p", "track_sid": 5, "muted": False},
        {"room_name": "r", "participant_identity": "p", "track_sid": "t"},
    ],
)
def test_wrong_json_types_are_not_coerced(body: dict[str, Any]) -> None:
    """A string where a bool belongs, a number for a string or a missing field fails decoding."""
    with pytest.raises(Exception, match="MuteParticipantResponse"):
        from_wire(body, MuteParticipantResponse)


def test_voice_descriptor_fields() -> None:
    """VoiceDescriptor has the six fields of the catalogue, all strings, under wire names."""
    voice = {
        "id": "v",
        "sample": "",
        "name": "N",
        "accent": "Unknown",
        "gender": "Female",
        "language": "English",
    }
    assert to_wire(from_wire(voice, VoiceDescriptor, strict=True)) == voice


def test_every_model_has_to_dict() -> None:
    """Every public model class offers to_dict()."""
    import sayna
    from sayna import _models

    missing = [
        name
        for name in _models.__all__
        if attrs.has(getattr(sayna, name, object)) and not hasattr(getattr(sayna, name), "to_dict")
    ]
    assert missing == []


def test_rest_answers_to_dict_are_json_with_wire_names(client: Any) -> None:
    """The answers of the REST calls dump to JSON with the wire's names and read back equal."""
    import json

    from sayna._converter import from_wire

    voices = client.get_voices()
    data = {provider: [v.to_dict() for v in listed] for provider, listed in voices.items()}
    assert json.loads(json.dumps(data)) == data
    first = next(iter(data.values()))[0]
    assert {"id", "name"} <= first.keys()
    token = client.get_livekit_token("room-1", "Ada", "ada")
    assert set(token.to_dict()) >= {"token", "room_name", "participant_identity", "livekit_url"}
    for answer in (client.health(), token, client.get_sip_hooks(), *voices["deepgram"]):
        dumped = json.loads(json.dumps(answer.to_dict()))
        assert from_wire(dumped, type(answer)) == answer


def test_config_to_dict_is_what_the_server_receives() -> None:
    """A config's to_dict() is the JSON sent on the wire (bytes as base64, None left out)."""
    config = TTSConfig(
        provider="deepgram",
        model="aura",
        pronunciations=[Pronunciation(word="a", pronunciation="b")],
    )
    assert config.to_dict() == {
        "provider": "deepgram",
        "model": "aura",
        "pronunciations": [{"word": "a", "pronunciation": "b"}],
    }
