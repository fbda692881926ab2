"""The fault tests' raw server itself."""

from __future__ import annotations

import socket

from tests.support.rawserver import RawServer, read_request_head


def test_handler_sees_the_request_and_its_bytes_reach_the_client() -> None:
    """A handler reads the request head and what it writes arrives verbatim."""
    heads: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        heads.append(read_request_head(conn))
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    with (
        RawServer(handler) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as client,
    ):
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(100) == b"HTTP/1.1 204 No Content\r\n\r\n"
    assert heads == [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]
    assert server.accepted == 1
    assert not server.errors


def test_stop_ends_a_handler_blocked_in_recv() -> None:
    """stop() returns promptly although a handler is waiting for bytes that never come."""

    def handler(conn: socket.socket) -> None:
        conn.recv(1)

    server = RawServer(handler)
    client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        server.stop()
        assert all(not t.is_alive() for t in server._threads)
    finally:
        client.close()
