"""The server side of a raw WebSocket connection, for fault tests on :class:`RawServer`.

``Peer`` completes the upgrade (or answers it however a test wants), reads the
client's frames and writes any bytes: frames that wsproto would never produce.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
from collections.abc import Callable

from tests.support.rawserver import read_request_head

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
READY = json.dumps({"type": "ready", "stream_id": "raw-1"}).encode()


def server_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """An unmasked frame as a server writes it (RFC 6455 §5.2); any opcode and bits allowed."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", first, n) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


def accept_value(request_head: bytes) -> bytes:
    """Sec-WebSocket-Accept for the key in a request head."""
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request_head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())  # noqa: S324 - RFC 6455


def switching_protocols(request_head: bytes) -> bytes:
    """A valid 101 answer to the request."""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_value(request_head) + b"\r\n\r\n"
    )


class Peer:
    """One accepted connection: the upgrade, then frames either way."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.request_head = b""

    def read_request(self) -> bytes:
        data = read_request_head(self.sock)
        self.request_head, _, self.buffer = data.partition(b"\r\n\r\n")
        return self.request_head

    def upgrade(self) -> None:
        """Read the request and answer 101."""
        self.sock.sendall(switching_protocols(self.read_request()))

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_frame(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        key = self._read(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(self._read(length)))
        return first & 0x0F, payload

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def drain(self) -> None:
        """Read (and drop) whatever the client sends until it hangs up."""
        while self.sock.recv(65536):
            pass


def session_handler(script: Callable[[Peer], None]) -> Callable[[socket.socket], None]:
    """A RawServer handler: upgrade, read the config, send ready, run ``script``."""

    def handle(sock: socket.socket) -> None:
        peer = Peer(sock)
        peer.upgrade()
        peer.read_frame()  # the config
        peer.send(server_frame(0x1, READY))
        script(peer)

    return handle


class RecordedSession:
    """A RawServer handler: one scripted session, and every frame the client sent in it.

    It completes the upgrade and reads the config; ``script`` then writes the
    server's side (``ready`` included). Afterwards it records the client's frames
    until the client hangs up, answering a Close as a polite server does.
    ``error`` keeps what broke the handler, for the test to assert on.
    """

    def __init__(self, script: Callable[[Peer], None]) -> None:
        self.script = script
        self.received: list[tuple[int, bytes]] = []
        self.error: BaseException | None = None
        self.done = threading.Event()

    def __call__(self, sock: socket.socket) -> None:
        try:
            peer = Peer(sock)
            peer.upgrade()
            self.received.append(peer.read_frame())  # the config
            self.script(peer)
            while True:
                try:
                    frame = peer.read_frame()
                except (EOFError, OSError):
                    break
                self.received.append(frame)
                if frame[0] == 0x8:
                    peer.send(server_frame(0x8, frame[1]))
                    break
        except BaseException as exc:  # the RawServer would drop an OSError: keep all
            self.error = exc
        finally:
            self.done.set()
