"""The shapes of every body and frame the server reads (docs/protocol.rst §2, §4)."""

from __future__ import annotations

import json
from typing import Any

from sayna.testing._shape import (
    ANY,
    BOOL,
    F32,
    STR,
    U16,
    U32,
    U64,
    Field,
    ListOf,
    MapOf,
    ShapeError,
    Struct,
    describe_json_error,
    unexpected,
)

AUTH = MapOf(ANY)

STT_CONFIG = Struct(
    "STTWebSocketConfig",
    {
        "provider": Field(STR, required=True),
        "language": Field(STR, required=True),
        "sample_rate": Field(U32, required=True),
        "channels": Field(U16, required=True),
        "punctuation": Field(BOOL, required=True),
        "encoding": Field(STR, required=True),
        "model": Field(STR, required=True),
        "auth": Field(AUTH),
    },
)

PRONUNCIATION = Struct(
    "Pronunciation",
    {"word": Field(STR, required=True), "pronunciation": Field(STR, required=True)},
)

TTS_CONFIG = Struct(
    "TTSWebSocketConfig",
    {
        "provider": Field(STR, required=True),
        "model": Field(STR, required=True),
        "voice_id": Field(STR),
        "speaking_rate": Field(F32),
        "audio_format": Field(STR),
        "sample_rate": Field(U32),
        "connection_timeout": Field(U64),
        "request_timeout": Field(U64),
        "pronunciations": Field(ListOf(PRONUNCIATION)),
        "auth": Field(AUTH),
    },
)

LIVEKIT_CONFIG = Struct(
    "LiveKitWebSocketConfig",
    {
        "room_name": Field(STR, required=True),
        "enable_recording": Field(BOOL),
        "sayna_participant_identity": Field(STR),
        "sayna_participant_name": Field(STR),
        "listen_participants": Field(ListOf(STR)),
    },
)

LOADING_AUDIO = Struct(
    "LoadingAudioConfig",
    {
        "data": Field(STR, required=True),
        "format": Field(STR),
        "sample_rate": Field(U32),
        "channels": Field(U16),
        "volume": Field(F32),
    },
)

INCOMING: dict[str, Struct] = {
    "config": Struct(
        "config",
        {
            "stream_id": Field(STR),
            "audio": Field(BOOL),
            "stt_config": Field(STT_CONFIG),
            "tts_config": Field(TTS_CONFIG),
            "livekit": Field(LIVEKIT_CONFIG),
            "loading_audio": Field(LOADING_AUDIO),
        },
    ),
    "speak": Struct(
        "speak",
        {
            "text": Field(STR, required=True),
            "flush": Field(BOOL),
            "allow_interruption": Field(BOOL),
        },
    ),
    "clear": Struct("clear", {}),
    "send_message": Struct(
        "send_message",
        {
            "message": Field(STR, required=True),
            "role": Field(STR, required=True),
            "topic": Field(STR),
            "debug": Field(ANY),
        },
    ),
    "sip_transfer": Struct("sip_transfer", {"transfer_to": Field(STR, required=True)}),
    "update_config": Struct(
        "update_config",
        {
            "vad": Field(Struct("VADConfigUpdate", {"silence_duration_ms": Field(U64)})),
            "turn_detect": Field(Struct("TurnDetectConfigUpdate", {"threshold": Field(F32)})),
        },
    ),
    "loading_start": Struct("loading_start", {}),
    "loading_stop": Struct("loading_stop", {}),
}

_VARIANTS = ", ".join(f"`{name}`" for name in INCOMING)


class FrameError(Exception):
    """A text frame that does not decode; ``str()`` is the decoder message."""


def decode_incoming(text: str) -> dict[str, Any]:
    """Decode a client text frame into a dict with a valid ``type`` (or raise)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FrameError(describe_json_error(exc)) from None
    if not isinstance(value, dict):
        raise FrameError(
            f"invalid type: {unexpected(value)}, expected internally tagged enum IncomingMessage"
        )
    if "type" not in value:
        raise FrameError("missing field `type`")
    kind = value["type"]
    if not isinstance(kind, str):
        raise FrameError(f"invalid type: {unexpected(kind)}, expected variant identifier")
    shape = INCOMING.get(kind)
    if shape is None:
        raise FrameError(f"unknown variant `{kind}`, expected one of {_VARIANTS}")
    try:
        shape.check(value, "")
    except ShapeError as exc:
        # The WebSocket decoder does not track paths: only the innermost message.
        raise FrameError(exc.message) from None
    return value


# REST request bodies (§2).
SPEAK_REQUEST = Struct(
    "SpeakRequest",
    {"text": Field(STR, required=True), "tts_config": Field(TTS_CONFIG, required=True)},
)
TOKEN_REQUEST = Struct(
    "TokenRequest",
    {
        "room_name": Field(STR, required=True),
        "participant_name": Field(STR, required=True),
        "participant_identity": Field(STR, required=True),
    },
)
REMOVE_PARTICIPANT_REQUEST = Struct(
    "RemoveParticipantRequest",
    {"room_name": Field(STR, required=True), "participant_identity": Field(STR, required=True)},
)
MUTE_REQUEST = Struct(
    "MuteParticipantRequest",
    {
        "room_name": Field(STR, required=True),
        "participant_identity": Field(STR, required=True),
        "track_sid": Field(STR, required=True),
        "muted": Field(BOOL, required=True),
    },
)
SIP_HOOK_ENTRY = Struct(
    "SipHookEntry",
    {
        "host": Field(STR, required=True),
        "url": Field(STR, required=True),
        "auth_id": Field(STR, required=True),
    },
)
SIP_HOOKS_REQUEST = Struct("SipHooksRequest", {"hooks": Field(ListOf(SIP_HOOK_ENTRY))})
DELETE_SIP_HOOKS_REQUEST = Struct("DeleteSipHooksRequest", {"hosts": Field(ListOf(STR))})
SIP_TRANSFER_REQUEST = Struct(
    "SIPTransferRequest",
    {
        "room_name": Field(STR, required=True),
        "participant_identity": Field(STR, required=True),
        "transfer_to": Field(STR, required=True),
    },
)
SIP_CALL_REQUEST = Struct(
    "SIPCallRequest",
    {
        "room_name": Field(STR, required=True),
        "participant_name": Field(STR, required=True),
        "participant_identity": Field(STR, required=True),
        "from_phone_number": Field(STR, required=True),
        "to_phone_number": Field(STR, required=True),
        "sip": Field(
            Struct(
                "SIPCallSipConfig",
                {
                    "outbound_address": Field(STR),
                    "auth_username": Field(STR),
                    "auth_password": Field(STR),
                },
            )
        ),
    },
)
