"""Every request body the client sends fits its component in the server's openapi.yaml.

The schemas allow unknown properties, so each body is also checked to use only
property names the component declares: a misspelt key would be ignored by the
server, silently.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sayna import (
    ApiKeyAuth,
    AzureAuth,
    GoogleAuth,
    LiveKitConfig,
    LoadingAudioConfig,
    Pronunciation,
    Sayna,
    SIPCallConfig,
    SipHook,
    STTConfig,
    TTSConfig,
    TurnDetectConfigUpdate,
    VADConfigUpdate,
)
from sayna._converter import to_wire
from tests.support.shared_protocol import PROTOCOL_DIR, assert_valid

BASE = "http://sayna.test"

FULL_TTS = TTSConfig(
    provider="elevenlabs",
    model="eleven_flash_v2_5",
    voice_id="21m00Tcm4TlvDq8ikWAM",
    speaking_rate=1.1,
    audio_format="mp3",
    sample_rate=44100,
    connection_timeout=30,
    request_timeout=60,
    pronunciations=[Pronunciation(word="API", pronunciation="A P I")],
    auth=ApiKeyAuth(api_key="el-key"),
)

# (component, method, path, call): one entry per shape of body the client can send.
CASES: list[tuple[str, str, str, Callable[[Sayna], Any]]] = [
    (
        "SpeakRequest",
        "POST",
        "/speak",
        lambda c: c.speak_rest("Hello", TTSConfig(provider="deepgram", model="aura-asteria-en")),
    ),
    ("SpeakRequest", "POST", "/speak", lambda c: c.speak_rest("Hello", FULL_TTS)),
    (
        "SpeakRequest",
        "POST",
        "/speak",
        lambda c: c.speak_rest(
            "Hallo",
            {
                "provider": "google",
                "model": "",
                "voice_id": "de-DE-Neural2-B",
                "auth": GoogleAuth(credentials={"type": "service_account"}),
            },
        ),
    ),
    (
        "SpeakRequest",
        "POST",
        "/speak",
        lambda c: c.speak_rest(
            "Hi",
            TTSConfig(
                provider="azure",
                model="",
                voice_id="en-US-JennyNeural",
                auth=AzureAuth(api_key="k", region="eastus"),
            ),
        ),
    ),
    ("TokenRequest", "POST", "/livekit/token", lambda c: c.get_livekit_token("r", "n", "i")),
    (
        "RemoveParticipantRequest",
        "DELETE",
        "/livekit/participant",
        lambda c: c.remove_livekit_participant("r", "p"),
    ),
    (
        "MuteParticipantRequest",
        "POST",
        "/livekit/participant/mute",
        lambda c: c.mute_livekit_participant_track("r", "p", "TR_1", True),
    ),
    (
        "MuteParticipantRequest",
        "POST",
        "/livekit/participant/mute",
        lambda c: c.mute_livekit_participant_track("r", "p", "TR_1", False),
    ),
    (
        "SipHooksRequest",
        "POST",
        "/sip/hooks",
        lambda c: c.set_sip_hooks(
            [
                SipHook(host="a.example", url="https://x/a", auth_id="tenant-a"),
                {"host": "b.example", "url": "https://x/b", "auth_id": ""},
            ]
        ),
    ),
    ("DeleteSipHooksRequest", "DELETE", "/sip/hooks", lambda c: c.delete_sip_hooks(["a.example"])),
    (
        "SIPTransferRequest",
        "POST",
        "/sip/transfer",
        lambda c: c.sip_transfer_rest("r", "sip_1", "+15550001111"),
    ),
    (
        "SIPCallRequest",
        "POST",
        "/sip/call",
        lambda c: c.sip_call("r", "Customer", "pstn", "+15105550123", "+15551234567"),
    ),
    (
        "SIPCallRequest",
        "POST",
        "/sip/call",
        lambda c: c.sip_call(
            "r",
            "Customer",
            "pstn",
            "+15105550123",
            "1001",
            sip=SIPCallConfig(outbound_address="sip.x:5060", auth_username="u", auth_password="p"),
        ),
    ),
    (
        "SIPCallRequest",
        "POST",
        "/sip/call",
        lambda c: c.sip_call("r", "C", "p", "+1", "+2", sip={"outbound_address": "sip.x"}),
    ),
]


@functools.cache
def _schemas() -> dict[str, Any]:
    document = yaml.safe_load((PROTOCOL_DIR / "openapi.yaml").read_text("utf-8"))
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


def _assert_declared(instance: dict[str, Any], component: str) -> None:
    declared = set(_schemas()[component].get("properties", {}))
    assert set(instance) <= declared, f"{component} does not declare {set(instance) - declared}"


@pytest.fixture
def client() -> Iterator[tuple[Sayna, responses.RequestsMock]]:
    with responses.RequestsMock() as mock, Sayna(BASE, api_key="sk_test_123") as c:
        yield c, mock


def test_every_request_component_is_exercised() -> None:
    """Each openapi request component the client can send appears in CASES."""
    sent = {component for component, *_ in CASES}
    assert sent == {
        "SpeakRequest",
        "TokenRequest",
        "RemoveParticipantRequest",
        "MuteParticipantRequest",
        "SipHooksRequest",
        "DeleteSipHooksRequest",
        "SIPTransferRequest",
        "SIPCallRequest",
    }


@pytest.mark.parametrize(
    ("component", "method", "path", "call"),
    CASES,
    ids=[f"{component}-{index}" for index, (component, *_) in enumerate(CASES)],
)
def test_request_body_fits_openapi(
    client: tuple[Sayna, responses.RequestsMock],
    component: str,
    method: str,
    path: str,
    call: Callable[[Sayna], Any],
) -> None:
    """The body the client sends validates against its component and uses only declared keys."""
    sayna, mock = client
    # The answer is irrelevant here; a 500 ends the call right after sending.
    mock.add(method, BASE + path, status=500, json={"error": "stop"})
    with pytest.raises(Exception, match="stop"):
        call(sayna)
    body = json.loads(mock.calls[0].request.body)
    assert_valid(body, component)
    _assert_declared(body, component)
    if component == "SpeakRequest":
        _assert_declared(body["tts_config"], "TTSWebSocketConfig")
    if component == "SIPCallRequest" and "sip" in body:
        _assert_declared(body["sip"], "SIPCallSipConfig")
    if component == "SipHooksRequest":
        for hook in body["hooks"]:
            _assert_declared(hook, "SipHookEntry")


@pytest.mark.parametrize(
    ("model", "component"),
    [
        (STTConfig(provider="deepgram", model="nova-3"), "STTWebSocketConfig"),
        (
            STTConfig(provider="azure", model="", auth={"api_key": "k", "region": "eastus"}),
            "STTWebSocketConfig",
        ),
        (FULL_TTS, "TTSWebSocketConfig"),
        (LiveKitConfig(room_name="r"), "LiveKitWebSocketConfig"),
        (
            LiveKitConfig(
                room_name="r",
                enable_recording=True,
                sayna_participant_identity="bot",
                sayna_participant_name="Bot",
                listen_participants=["a", "b"],
            ),
            "LiveKitWebSocketConfig",
        ),
        (LoadingAudioConfig(data=b"\x00\x00"), "LoadingAudioConfig"),
        (
            LoadingAudioConfig(data=b"\x00\x00", format="pcm", sample_rate=16000, channels=1),
            "LoadingAudioConfig",
        ),
        (VADConfigUpdate(silence_duration_ms=300), "VADConfigUpdate"),
        (TurnDetectConfigUpdate(threshold=0.5), "TurnDetectConfigUpdate"),
        (Pronunciation(word="API", pronunciation="A P I"), "Pronunciation"),
        (SipHook(host="h", url="u", auth_id=""), "SipHookEntry"),
        (SIPCallConfig(auth_password="p"), "SIPCallSipConfig"),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else value,
)
def test_config_objects_fit_openapi(model: object, component: str) -> None:
    """Config objects the realtime session will send fit their openapi components."""
    wire = to_wire(model)
    assert_valid(wire, component)
    _assert_declared(wire, component)


_names = st.text(min_size=1, max_size=12).filter(lambda s: s.strip() != "")


@settings(max_examples=60, database=None, deadline=None)
@given(
    st.builds(
        TTSConfig,
        provider=_names,
        model=st.text(max_size=12),
        voice_id=st.none() | _names,
        speaking_rate=st.none() | st.floats(min_value=0.1, max_value=4.0),
        audio_format=st.none() | _names,
        sample_rate=st.none() | st.integers(min_value=1, max_value=192_000),
        connection_timeout=st.none() | st.integers(min_value=1, max_value=600),
        request_timeout=st.none() | st.integers(min_value=1, max_value=600),
        pronunciations=st.lists(
            st.builds(Pronunciation, word=_names, pronunciation=st.text(max_size=8)), max_size=3
        ),
        auth=st.none() | st.builds(ApiKeyAuth, api_key=_names),
    )
)
def test_any_tts_config_fits_openapi(config: TTSConfig) -> None:
    """Whatever valid TTSConfig a user builds, its wire form fits TTSWebSocketConfig."""
    assert_valid(to_wire(config), "TTSWebSocketConfig")


@settings(max_examples=60, database=None, deadline=None)
@given(
    st.builds(
        STTConfig,
        provider=_names,
        model=st.text(max_size=12),
        language=_names,
        sample_rate=st.integers(min_value=1, max_value=192_000),
        channels=st.sampled_from([1, 2]),
        punctuation=st.booleans(),
        encoding=_names,
    )
)
def test_any_stt_config_fits_openapi(config: STTConfig) -> None:
    """Whatever valid STTConfig a user builds, its wire form has every required field."""
    assert_valid(to_wire(config), "STTWebSocketConfig")
