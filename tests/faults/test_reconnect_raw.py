"""Reconnecting against a scripted raw-socket server: byte-level drops and failed attempts."""

from __future__ import annotations

import json
import socket
import struct
import threading

import pytest

from sayna import (
    CloseEvent,
    ErrorEvent,
    Event,
    ReconnectedEvent,
    ReconnectingEvent,
    ReconnectPolicy,
    Sayna,
    SaynaConnectionClosedError,
)
from tests.support.rawserver import RawServer
from tests.support.speech_configs import STT, TTS
from tests.support.wspeer import Peer, server_frame


def upgrade(conn: socket.socket) -> dict[str, object]:
    """Answer the WebSocket upgrade, then read the client's config frame; return it."""
    peer = Peer(conn)
    peer.upgrade()
    return json.loads(peer.read_frame()[1])  # type: ignore[no-any-return]


def text(payload: dict[str, object]) -> bytes:
    """A server text frame carrying ``payload`` as JSON."""
    return server_frame(0x1, json.dumps(payload).encode())


def reset(conn: socket.socket) -> None:
    """Drop the connection with a TCP reset (no Close frame, no FIN)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def test_a_reset_mid_frame_resumes_on_a_new_connection_without_the_torn_frame() -> None:
    """Whole frames before a reset arrive once; the torn one never; the stream id is resent."""
    configs: list[dict[str, object]] = []
    second_done = threading.Event()

    def handler(conn: socket.socket) -> None:
        config = upgrade(conn)
        configs.append(config)
        if len(configs) == 1:
            conn.sendall(text({"type": "ready", "stream_id": "s-1"}))
            conn.sendall(text({"type": "error", "message": "one"}))
            torn = text({"type": "error", "message": "torn"})
            conn.sendall(text({"type": "error", "message": "two"}) + torn[:7])
            threading.Event().wait(0.2)
            reset(conn)
        elif len(configs) == 2:
            conn.close()  # accepted, then gone before the upgrade answer: a failed attempt
        else:
            conn.sendall(text({"type": "ready", "stream_id": "s-1"}))
            conn.sendall(text({"type": "error", "message": "three"}))
            second_done.wait(10)

    policy = ReconnectPolicy(max_attempts=3, initial_delay=0.05, max_delay=0.1)
    with (
        RawServer(handler) as server,
        Sayna(server.url) as client,
        client.connect(STT, TTS, reconnect=policy, timeout=5) as session,
    ):
        seen: list[Event] = []
        with session.events(timeout=10) as events:
            for event in events:
                seen.append(event)
                if isinstance(event, ErrorEvent) and event.message == "three":
                    break
        second_done.set()
    messages = [e.message for e in seen if isinstance(e, ErrorEvent)]
    assert messages == ["one", "two", "three"]
    attempts = [e.attempt for e in seen if isinstance(e, ReconnectingEvent)]
    assert attempts == [1, 2]
    reconnected = [e for e in seen if isinstance(e, ReconnectedEvent)]
    assert len(reconnected) == 1
    assert reconnected[0].attempt == 2
    assert reconnected[0].stream_id == "s-1"
    assert [c.get("stream_id") for c in configs] == [None, "s-1", "s-1"]
    assert not any(isinstance(e, CloseEvent) for e in seen)
    assert not server.errors


@pytest.mark.parametrize("refusal", ["close", "reset"])
def test_every_attempt_failing_ends_the_session_with_the_last_reason(refusal: str) -> None:
    """Attempts that the server accepts and then drops count; the last one ends the session."""
    accepted = 0

    def handler(conn: socket.socket) -> None:
        nonlocal accepted
        accepted += 1
        if accepted == 1:
            upgrade(conn)
            conn.sendall(text({"type": "ready", "stream_id": "s-2"}))
            threading.Event().wait(0.1)
            reset(conn)
        elif refusal == "reset":
            reset(conn)
        else:
            conn.close()

    policy = ReconnectPolicy(max_attempts=2, initial_delay=0.05, max_delay=0.1)
    with RawServer(handler) as server, Sayna(server.url) as client:
        session = client.connect(STT, TTS, reconnect=policy, timeout=5)
        with session.events(timeout=10) as events:
            seen = []
            try:
                for event in events:
                    seen.append(event)
            except Exception as exc:
                final: BaseException = exc
        session.close()
    assert type(final).__name__ == "SaynaConnectionClosedError"
    assert "2 attempt(s) failed" in str(final)
    assert [e.attempt for e in seen if isinstance(e, ReconnectingEvent)] == [1, 2]
    assert isinstance(seen[-1], CloseEvent)
    assert server.accepted == 3


def test_a_protocol_violation_ends_the_session_without_reconnecting() -> None:
    """A frame with reserved bits set is the server breaking the protocol: no reconnect."""
    accepted = 0

    def handler(conn: socket.socket) -> None:
        nonlocal accepted
        accepted += 1
        upgrade(conn)
        conn.sendall(text({"type": "ready", "stream_id": "s-3"}))
        threading.Event().wait(0.1)
        conn.sendall(b"\xf1\x02{}")  # FIN + RSV1-3 on a text frame
        threading.Event().wait(1.0)

    policy = ReconnectPolicy(max_attempts=2, initial_delay=0.05, max_delay=0.1)
    with RawServer(handler) as server, Sayna(server.url) as client:
        session = client.connect(STT, TTS, reconnect=policy, timeout=5)
        with session.events(timeout=10) as events:
            seen: list[Event] = []
            with pytest.raises(SaynaConnectionClosedError, match="protocol error"):
                seen.extend(events)
        session.close()
    assert not any(isinstance(e, ReconnectingEvent) for e in seen)
    assert accepted == 1
