"""The argument checks of the session's commands, made before anything is sent.

:class:`~sayna.Session`'s send methods stay thin: each calls the check here
that fits its arguments, then the builder of :mod:`sayna._messages`. Every
refusal is a :class:`~sayna.SaynaValidationError` naming the field.
"""

from __future__ import annotations

import json
from typing import Any

from sayna import _conveniences
from sayna._audio import AudioResult
from sayna._errors import SaynaValidationError
from sayna._models import STTConfig, TurnDetectConfigUpdate, VADConfigUpdate
from sayna._wav import WavAudio

__all__ = ["audio_bytes", "check_config_update", "check_debug"]


def check_debug(debug: Any) -> None:
    """``send_message(debug=...)``: any JSON value, or ``None``."""
    if debug is None:
        return
    try:
        json.dumps(debug, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SaynaValidationError(
            f"debug must be JSON-serializable: {exc}", field="debug"
        ) from None


def check_config_update(
    vad: VADConfigUpdate | None, turn_detect: TurnDetectConfigUpdate | None
) -> None:
    """``update_config()``: at least one update, each of its own type."""
    if vad is None and turn_detect is None:
        raise SaynaValidationError("update_config() needs vad or turn_detect", field="vad")
    if vad is not None and not isinstance(vad, VADConfigUpdate):
        raise SaynaValidationError(
            f"vad must be a VADConfigUpdate, not {type(vad).__name__}", field="vad"
        )
    if turn_detect is not None and not isinstance(turn_detect, TurnDetectConfigUpdate):
        raise SaynaValidationError(
            f"turn_detect must be a TurnDetectConfigUpdate, not {type(turn_detect).__name__}",
            field="turn_detect",
        )


def audio_bytes(
    audio_data: bytes | bytearray | memoryview | AudioResult | WavAudio,
    stt_config: STTConfig | None,
) -> bytes:
    """``on_audio_input()``: the bytes to send, converted to ``stt_config`` when given audio."""
    given: object = audio_data
    if isinstance(given, bytes):
        data = given
    elif isinstance(given, (AudioResult, WavAudio)):
        data = _conveniences.input_pcm(given, stt_config)
    elif isinstance(given, str):
        raise SaynaValidationError("audio_data must be bytes-like, not str", field="audio_data")
    else:
        try:
            data = bytes(memoryview(given))  # type: ignore[arg-type]
        except TypeError:
            raise SaynaValidationError(
                f"audio_data must be bytes-like, not {type(given).__name__}",
                field="audio_data",
            ) from None
    if not data:
        raise SaynaValidationError("audio_data must not be empty", field="audio_data")
    return data
