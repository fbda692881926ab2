"""Transport details the fake server does not produce, against a raw socket server.

A Close frame without a status code, fragmented messages, server pings, invalid
UTF-8 and protocol violations are written byte by byte here: the fake server
speaks through wsproto, which never sends (or cannot send) these.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from sayna import Sayna, SaynaConnectionClosedError, SaynaTimeoutError
from sayna._events import CloseEvent, MalformedEvent, ReadyEvent, TTSAudioEvent
from tests.support.rawserver import RawServer
from tests.support.wspeer import READY, Peer, RecordedSession, server_frame

Script = Callable[[Peer], None]
# The raw_server fixture: start a scripted session, get its URL and its record.
Start = Callable[[Script], tuple[str, RecordedSession]]


@pytest.fixture
def raw_server() -> Iterator[Start]:
    """Starts a RawServer running one scripted session: yields its URL and the record."""
    started: list[tuple[RawServer, RecordedSession]] = []

    def start(script: Script) -> tuple[str, RecordedSession]:
        recorded = RecordedSession(script)
        started.append((RawServer(recorded), recorded))
        return started[-1][0].url, recorded

    yield start
    for server, recorded in started:
        server.stop()
        assert server.errors == []
        assert recorded.error is None, recorded.error


def test_a_close_frame_without_code_is_reported_as_1005_and_echoed(
    raw_server: Start,
) -> None:
    """An empty Close frame ends the session normally with code 1005; the echo is empty too."""

    def script(peer: Peer) -> None:
        peer.send(server_frame(0x1, READY))
        peer.send(server_frame(0x8, b""))

    url, server = raw_server(script)
    with Sayna(url) as client:
        session = client.connect(without_audio=True, timeout=5)
        events = list(session.events(timeout=5))
        session.close()
    close = events[-1]
    assert close == CloseEvent(code=1005, initiator="server")
    assert server.done.wait(5)
    assert (0x8, b"") in server.received[1:]


def test_fragmented_messages_are_reassembled(
    raw_server: Start,
) -> None:
    """Text and binary messages split over continuation frames arrive whole."""

    def script(peer: Peer) -> None:
        peer.send(server_frame(0x1, READY[:5], fin=False))
        peer.send(server_frame(0x0, READY[5:12], fin=False))
        peer.send(server_frame(0x0, READY[12:]))
        peer.send(server_frame(0x2, b"\x01\x02", fin=False))
        peer.send(server_frame(0x9, b"mid"))  # control frames may interleave
        peer.send(server_frame(0x0, b"\x03"))

    url, _ = raw_server(script)
    with Sayna(url) as client, client.connect(without_audio=True, timeout=5) as session:
        assert session.received_stream_id == "raw-1"
        audio = session.wait_for(TTSAudioEvent, 5)
        assert audio == TTSAudioEvent(data=b"\x01\x02\x03")


def test_server_pings_are_answered(
    raw_server: Start,
) -> None:
    """A ping from the server gets a pong with the same payload."""
    ponged = threading.Event()

    def script(peer: Peer) -> None:
        peer.send(server_frame(0x1, READY))
        peer.send(server_frame(0x9, b"are-you-there"))
        opcode, payload = peer.read_frame()
        if (opcode, payload) == (0xA, b"are-you-there"):
            ponged.set()

    url, _ = raw_server(script)
    with Sayna(url) as client, client.connect(without_audio=True, timeout=5):
        assert ponged.wait(5)


def test_invalid_utf8_text_is_a_malformed_event(
    raw_server: Start,
) -> None:
    """A text frame that is not UTF-8 becomes a MalformedEvent keeping the raw bytes."""

    def script(peer: Peer) -> None:
        peer.send(server_frame(0x1, READY))
        peer.send(server_frame(0x1, b'{"type":"error","message":"\xff"}'))

    url, _ = raw_server(script)
    with Sayna(url) as client, client.connect(without_audio=True, timeout=5) as session:
        event = session.wait_for(MalformedEvent, 5)
        assert isinstance(event, MalformedEvent)
        assert event.raw == b'{"type":"error","message":"\xff"}'
        assert session.ready


def test_a_protocol_violation_is_fatal_and_answered_with_1002(
    raw_server: Start,
) -> None:
    """A frame with a reserved opcode ends the session with an error and a 1002 Close."""

    def script(peer: Peer) -> None:
        peer.send(server_frame(0x1, READY))
        peer.send(server_frame(0x3, b"???"))

    url, server = raw_server(script)
    with Sayna(url) as client:
        session = client.connect(without_audio=True, timeout=5)
        events = session.events(timeout=5)
        assert isinstance(next(events), ReadyEvent)
        close = next(events)
        assert isinstance(close, CloseEvent)
        assert close.initiator == "network"
        assert "protocol error" in close.reason
        with pytest.raises(SaynaConnectionClosedError, match="protocol error"):
            next(events)
        session.close()
    assert server.done.wait(5)
    assert (0x8, struct.pack("!H", 1002)) in server.received[1:]


def test_a_silent_peer_that_drops_the_handshake_reply_times_out(
    raw_server: Start,
) -> None:
    """A server that upgrades but never answers the config fails connect() by its timeout."""
    url, _ = raw_server(lambda peer: None)
    with Sayna(url) as client, pytest.raises(SaynaTimeoutError, match="ready"):
        client.connect(without_audio=True, timeout=0.3)
