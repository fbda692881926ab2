"""Outgoing messages: one builder per client message, the mirror of :mod:`sayna._events`.

Each builder returns the JSON object the server's ``IncomingMessage`` schema
describes, ready for ``json.dumps``; the conformance tests validate them
against that schema directly. Builders build: the checks of the user's
arguments (empty text, a config that cannot be valid) happen at the call site
in :class:`~sayna.Session` and ``connect()``, before anything is built.
"""

from __future__ import annotations

from typing import Any

from sayna._converter import to_wire
from sayna._models import (
    LiveKitConfig,
    LoadingAudioConfig,
    STTConfig,
    TTSConfig,
    TurnDetectConfigUpdate,
    VADConfigUpdate,
)

__all__ = [
    "clear",
    "config",
    "loading_start",
    "loading_stop",
    "send_message",
    "sip_transfer",
    "speak",
    "update_config",
]


def config(
    *,
    audio: bool,
    stream_id: str | None = None,
    stt_config: STTConfig | None = None,
    tts_config: TTSConfig | None = None,
    livekit: LiveKitConfig | None = None,
    loading_audio: LoadingAudioConfig | None = None,
) -> dict[str, Any]:
    """``config``: the session's first message; options left as ``None`` are omitted."""
    message: dict[str, Any] = {"type": "config", "audio": audio}
    if stream_id is not None:
        message["stream_id"] = stream_id
    if stt_config is not None:
        message["stt_config"] = to_wire(stt_config)
    if tts_config is not None:
        message["tts_config"] = to_wire(tts_config)
    if livekit is not None:
        message["livekit"] = to_wire(livekit)
    if loading_audio is not None:
        message["loading_audio"] = to_wire(loading_audio)
    return message


def speak(text: str, *, flush: bool = True, allow_interruption: bool = True) -> dict[str, Any]:
    """``speak``: both flags always sent, as the official SDK does (an empty text flushes)."""
    return {
        "type": "speak",
        "text": text,
        "flush": flush,
        "allow_interruption": allow_interruption,
    }


def clear() -> dict[str, Any]:
    """``clear``: cancel queued and ongoing synthesis."""
    return {"type": "clear"}


def send_message(
    message: str, role: str, topic: str = "messages", debug: Any = None
) -> dict[str, Any]:
    """``send_message``: a data packet for the LiveKit room; ``debug`` only when given."""
    built: dict[str, Any] = {
        "type": "send_message",
        "message": message,
        "role": role,
        "topic": topic,
    }
    if debug is not None:
        built["debug"] = debug
    return built


def sip_transfer(transfer_to: str) -> dict[str, Any]:
    """``sip_transfer``: ``transfer_to`` already normalized (digits, optional leading +)."""
    return {"type": "sip_transfer", "transfer_to": transfer_to}


def update_config(
    vad: VADConfigUpdate | None = None, turn_detect: TurnDetectConfigUpdate | None = None
) -> dict[str, Any]:
    """``update_config``: only the parts given."""
    message: dict[str, Any] = {"type": "update_config"}
    if vad is not None:
        message["vad"] = to_wire(vad)
    if turn_detect is not None:
        message["turn_detect"] = to_wire(turn_detect)
    return message


def loading_start() -> dict[str, Any]:
    """``loading_start``: loop the configured loading clip into the room."""
    return {"type": "loading_start"}


def loading_stop() -> dict[str, Any]:
    """``loading_stop``: stop the loading clip."""
    return {"type": "loading_stop"}
