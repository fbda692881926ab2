"""Every WebSocket sequence vector, replayed with a raw client against a FakeServer.

Semantics of the steps are those of vectors/README.md. Every text frame the
server sends is validated against the server's ``OutgoingMessage`` schema.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import websocket

from sayna.testing import FakeServer, FakeSession
from tests.support.shared_protocol import assert_valid, load_vectors

VECTORS = load_vectors("ws_sequences")


class _Client(websocket.WebSocket):  # type: ignore[misc]
    def close(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().close(*args, **kwargs)
        finally:
            self.shutdown()  # release the TCP socket even when the server went away


class Replayer:
    """Runs vector steps on one connection, checking every server frame against the schema."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws
        self.binary_seen = 0

    def _frame(self, timeout: float = 5.0) -> tuple[int, bytes]:
        self.ws.settimeout(timeout)
        frame = self.ws.recv_data_frame(control_frame=True)
        opcode, data = frame[0], frame[1].data
        if opcode == websocket.ABNF.OPCODE_TEXT:
            assert_valid(json.loads(data), "OutgoingMessage")
        elif opcode == websocket.ABNF.OPCODE_BINARY:
            self.binary_seen += 1
        return opcode, data

    def next_text(self) -> dict[str, Any]:
        while True:
            opcode, data = self._frame()
            if opcode == websocket.ABNF.OPCODE_TEXT:
                value: dict[str, Any] = json.loads(data)
                return value
            assert opcode == websocket.ABNF.OPCODE_BINARY, f"unexpected opcode {opcode}"

    def run(self, step: dict[str, Any]) -> None:
        if "send" in step:
            self.ws.send(json.dumps(step["send"]))
        elif "send_raw_text" in step:
            self.ws.send(step["send_raw_text"])
        elif "send_binary_base64" in step:
            self.ws.send_binary(base64.b64decode(step["send_binary_base64"]))
        elif "recv" in step:
            self._check(dict(step["recv"]), self.next_text())
            self.binary_seen = 0
        elif "recv_binary" in step:
            while self.binary_seen < step["recv_binary"]["min_count"]:
                opcode, _ = self._frame()
                assert opcode == websocket.ABNF.OPCODE_BINARY
        elif "recv_nothing_within_ms" in step:
            with pytest.raises(websocket.WebSocketTimeoutException):
                self._frame(timeout=step["recv_nothing_within_ms"] / 1000)
        elif "recv_close" in step:
            expected = step["recv_close"]
            deadline = time.monotonic() + expected["within_ms"] / 1000
            while True:
                opcode, data = self._frame(timeout=max(0.01, deadline - time.monotonic()))
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
            code = int.from_bytes(data[:2], "big") if data else None
            assert code == expected["code"]
        else:
            raise AssertionError(f"unknown step {step}")

    @staticmethod
    def _check(expected: dict[str, Any], actual: dict[str, Any]) -> None:
        prefix = expected.pop("message_startswith", None)
        present = expected.pop("fields_present", [])
        absent = expected.pop("fields_absent", [])
        if prefix is not None:
            assert actual["message"].startswith(prefix), actual
        for field in present:
            assert field in actual, (field, actual)
        for field in absent:
            assert field not in actual, (field, actual)
        for key, value in expected.items():
            assert actual.get(key) == value, (key, actual)


def _livekit_session(server: FakeServer, ws: websocket.WebSocket) -> FakeSession:
    """Precondition 'LiveKit session established': configured, ready, a caller in the room."""
    server.add_participant("support-room-42", "caller-1", name="Alice")
    config = {"type": "config", "audio": False, "livekit": {"room_name": "support-room-42"}}
    ws.send(json.dumps(config))
    replay = Replayer(ws)
    assert replay.next_text()["type"] == "ready"
    session = server.wait_for_session()
    session.participant_leaves("caller-1", "Alice")
    return session


pytestmark = pytest.mark.fake_server(livekit_url="wss://livekit.example.com")


@pytest.mark.parametrize(("name", "vector"), VECTORS, ids=[name for name, _ in VECTORS])
def test_ws_sequence(server: FakeServer, name: str, vector: dict[str, Any]) -> None:
    """The server answers the vector's frames exactly as the sequence says."""
    ws = websocket.create_connection(server.ws_url, timeout=5, class_=_Client)
    try:
        if vector.get("preconditions") == "LiveKit session established.":
            _livekit_session(server, ws)
        replay = Replayer(ws)
        for step in vector["steps"]:
            replay.run(step)
    finally:
        ws.close()


def test_every_sequence_has_known_preconditions() -> None:
    """Only preconditions this replay knows how to establish appear in the vectors."""
    known = {
        None,
        "LiveKit session established.",
        "Server has a Deepgram key.",  # FakeServer default: credentials for every provider
        "Server built with the stt-vad feature.",  # FakeServer default: turn_detection=True
    }
    assert {vector.get("preconditions") for _, vector in VECTORS} <= known
