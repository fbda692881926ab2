"""Raw-client helpers for the FakeServer tests (plain requests and websocket-client)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import websocket

from tests.support.polling import wait_until as wait_until
from tests.support.shared_protocol import assert_valid as assert_valid

STT_CONFIG: dict[str, Any] = {
    "provider": "deepgram",
    "language": "en-US",
    "sample_rate": 16000,
    "channels": 1,
    "punctuation": True,
    "encoding": "linear16",
    "model": "nova-3",
}
TTS_CONFIG: dict[str, Any] = {
    "provider": "deepgram",
    "model": "aura-asteria-en",
    "sample_rate": 16000,
    "audio_format": "linear16",
}


def audio_config(**extra: Any) -> dict[str, Any]:
    """A config frame for an audio session at 16 kHz both ways."""
    return {
        "type": "config",
        "stt_config": dict(STT_CONFIG),
        "tts_config": dict(TTS_CONFIG),
        **extra,
    }


class ClosingWebSocket(websocket.WebSocket):  # type: ignore[misc]
    """websocket-client's socket, whose close() always releases the TCP socket.

    Plain ``close()`` leaves the socket open when the server already went away,
    which would surface as a ResourceWarning.
    """

    def close(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().close(*args, **kwargs)
        finally:
            self.shutdown()


def connect(url: str, *, key: str | None = None, timeout: float = 5.0) -> websocket.WebSocket:
    """A raw websocket-client connection (Bearer key when given)."""
    header = [f"Authorization: Bearer {key}"] if key else []
    return websocket.create_connection(url, header=header, timeout=timeout, class_=ClosingWebSocket)


def send(ws: websocket.WebSocket, frame: dict[str, Any]) -> None:
    ws.send(json.dumps(frame))


def recv(ws: websocket.WebSocket) -> dict[str, Any] | bytes:
    """The next frame: a dict for text, bytes for binary."""
    opcode, data = ws.recv_data()
    if opcode == websocket.ABNF.OPCODE_TEXT:
        value: dict[str, Any] = json.loads(data)
        return value
    return bytes(data)


def drain(ws: websocket.WebSocket) -> list[dict[str, Any] | bytes]:
    """Every frame until the socket's timeout expires with nothing more."""
    frames: list[dict[str, Any] | bytes] = []
    while True:
        try:
            frames.append(recv(ws))
        except websocket.WebSocketTimeoutException:
            return frames


def recv_json(ws: websocket.WebSocket) -> dict[str, Any]:
    """The next frame, which must be text."""
    frame = recv(ws)
    assert isinstance(frame, dict), f"expected a text frame, got {len(frame)} binary bytes"
    return frame


def recv_until(
    ws: websocket.WebSocket, stop: Callable[[dict[str, Any]], bool]
) -> tuple[list[dict[str, Any]], bytes]:
    """Text frames up to and including the first that satisfies ``stop``, and all binary."""
    texts: list[dict[str, Any]] = []
    audio = bytearray()
    while True:
        frame = recv(ws)
        if isinstance(frame, bytes):
            audio += frame
            continue
        texts.append(frame)
        if stop(frame):
            return texts, bytes(audio)


def configure(ws: websocket.WebSocket, **extra: Any) -> dict[str, Any]:
    """Send an audio config and return the ready frame."""
    send(ws, audio_config(**extra))
    ready = recv_json(ws)
    assert ready["type"] == "ready", ready
    return ready


def speak_and_collect(ws: websocket.WebSocket, text: str) -> bytes:
    """Speak ``text`` and return the utterance's audio (up to tts_playback_complete)."""
    send(ws, {"type": "speak", "text": text})
    _, audio = recv_until(ws, lambda f: f["type"] == "tts_playback_complete")
    return audio


def fake_threads() -> list[str]:
    """Names of live threads that belong to a FakeServer."""
    return [t.name for t in threading.enumerate() if t.name.startswith("sayna-fake")]
