"""Transport details the fake server does not produce, against a raw socket server.

A Close frame without a status code, fragmented messages, server pings, invalid
UTF-8 and protocol violations are written byte by byte here: the fake server
speaks through wsproto, which never sends (or cannot send) these.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from sayna import Sayna, SaynaConnectionClosedError, SaynaTimeoutError
from sayna._events import CloseEvent, MalformedEvent, ReadyEvent, TTSAudioEvent
from tests.support.wspeer import READY, Peer, server_frame

Script = Callable[[Peer], None]


class RawServer:
    """Accepts one connection, completes the upgrade, reads the config, runs a script."""

    def __init__(self, script: Script) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.script = script
        self.received: list[tuple[int, bytes]] = []
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
            with conn:
                peer = Peer(conn)
                peer.upgrade()
                self.received.append(peer.read_frame())  # the config
                self.script(peer)
                # Record what the client sends until it hangs up.
                while True:
                    try:
                        frame = peer.read_frame()
                    except (EOFError, OSError):
                        break
                    self.received.append(frame)
                    if frame[0] == 0x8:  # answer a Close, as a polite server does
                        peer.send(server_frame(0x8, frame[1]))
                        break
        except BaseException as exc:  # pragma: no cover - surfaced by the test
            self.error = exc
        finally:
            self.done.set()

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)
        assert self.error is None, self.error


@pytest.fixture
def raw_server() -> Iterator[Callable[[Script], RawServer]]:
    servers: list[RawServer] = []

    def start(script: Script) -> RawServer:
        server = RawServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_a_close_frame_without_code_is_reported_as_1005_and_echoed(
    raw_server: Callable[[Script], RawServer],
) -> None:
    """An empty Close frame ends the session normally with code 1005; the echo is empty too."""

    def script(peer: Peer) -> None:
        peer.send(server_frame(0x1, READY))
        peer.send(server_frame(0x8, b""))

    server = raw_server(script)
    with Sayna(server.url) as client:
        session = client.connect(without_audio=True, timeout=5)
        events = list(session.events(timeout=5))
        session.close()
    close = events[-1]
    assert close == CloseEvent(code=1005, initiator="server")
    assert server.done.wait(5)
    assert (0x8, b"") in server.received[1:]


def test_fragmented_messages_are_reassembled(raw_server: Callable[[Script], RawServer]) -> None:
    """Text and binary messages split over continuation frames arrive whole."""

    def script(peer: Peer) -> None:
        peer.send(server_frame(0x1, READY[:5], fin=False))
        peer.send(server_frame(0x0, READY[5:12], fin=False))
        peer.send(server_frame(0x0, READY[12:]))
        peer.send(server_frame(0x2, b"\x01\x02", fin=False))
        peer.send(server_frame(0x9, b"mid"))  # control frames may interleave
        peer.send(server_frame(0x0, b"\x03"))

    server = raw_server(script)
    with Sayna(server.url) as client, client.connect(without_audio=True, timeout=5) as session:
        assert session.received_stream_id == "raw-1"
        audio = session.wait_for(TTSAudioEvent, 5)
        assert audio == TTSAudioEvent(data=b"\x01\x02\x03")


def test_server_pings_are_answered(raw_server: Callable[[Script], RawServer]) -> None:
    """A ping from the server gets a pong with the same payload."""
    ponged = threading.Event()

    def script(peer: Peer) -> None:
        peer.send(server_frame(0x1, READY))
        peer.send(server_frame(0x9, b"are-you-there"))
        opcode, payload = peer.read_frame()
        if (opcode, payload) == (0xA, b"are-you-there"):
            ponged.set()

    server = raw_server(script)
    with Sayna(server.url) as client, client.connect(without_audio=True, timeout=5):
        assert ponged.wait(5)


def test_invalid_utf8_text_is_a_malformed_event(raw_server: Callable[[Script], RawServer]) -> None:
    """A text frame that is not UTF-8 becomes a MalformedEvent keeping the raw bytes."""

    def script(peer: Peer) -> None:
        peer.send(server_frame(0x1, READY))
        peer.send(server_frame(0x1, b'{"type":"error","message":"\xff"}'))

    server = raw_server(script)
    with Sayna(server.url) as client, client.connect(without_audio=True, timeout=5) as session:
        event = session.wait_for(MalformedEvent, 5)
        assert isinstance(event, MalformedEvent)
        assert event.raw == b'{"type":"error","message":"\xff"}'
        assert session.ready


def test_a_protocol_violation_is_fatal_and_answered_with_1002(
    raw_server: Callable[[Script], RawServer],
) -> None:
    """A frame with a reserved opcode ends the session with an error and a 1002 Close."""

    def script(peer: Peer) -> None:
        peer.send(server_frame(0x1, READY))
        peer.send(server_frame(0x3, b"???"))

    server = raw_server(script)
    with Sayna(server.url) as client:
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
    raw_server: Callable[[Script], RawServer],
) -> None:
    """A server that upgrades but never answers the config fails connect() by its timeout."""
    server = raw_server(lambda peer: None)
    with Sayna(server.url) as client, pytest.raises(SaynaTimeoutError, match="ready"):
        client.connect(without_audio=True, timeout=0.3)
