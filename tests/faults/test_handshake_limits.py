"""connect(timeout=T) against a hostile server: done within T + 1 s, bounded memory, short errors.

Each server misbehaves at one step of opening a session: the TCP connect,
the proxy's tunnel, TLS, the upgrade answer, the wait for ready.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator

import pytest
import requests

from sayna import (
    AuthenticationError,
    Sayna,
    SaynaConnectionError,
    SaynaError,
    SaynaProtocolError,
    SaynaTimeoutError,
)
from sayna._events import ErrorEvent
from sayna._realtime import handshake as _handshake
from tests.support.rawserver import RawServer, read_request_head
from tests.support.wspeer import READY, Peer, server_frame, switching_protocols

T = 1.0  # the connect timeout of every test here
KEY = "sk-hostile-test-key"


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of a test: ends every handler that waits or streams."""
    event = threading.Event()
    yield event
    event.set()


def client_for(url: str, proxy: str | None = None) -> Sayna:
    http = requests.Session()
    http.trust_env = False
    if proxy is not None:
        http.proxies = {"http": proxy}
    return Sayna(url, api_key=KEY, session=http)


def timed_connect(client: Sayna, timeout: float = T) -> tuple[float, BaseException]:
    started = time.monotonic()
    with pytest.raises(SaynaError) as info:
        client.connect(without_audio=True, timeout=timeout)
    return time.monotonic() - started, info.value


def run_against(
    handler: Callable[[socket.socket], None],
    release: threading.Event,
    *,
    proxy: bool = False,
    tls: bool = False,
) -> tuple[float, BaseException]:
    """Connect to a server running ``handler``; ``release`` ends the handler before it stops."""
    with RawServer(handler) as server:
        if proxy:
            client = client_for("http://sayna.invalid:9", proxy=server.url)
        elif tls:
            client = client_for(f"https://127.0.0.1:{server.port}")
        else:
            client = client_for(server.url)
        try:
            with client:
                return timed_connect(client)
        finally:
            release.set()


def test_a_trickled_upgrade_answer_times_out_on_time(release: threading.Event) -> None:
    """A 101 answer sent one byte per 50 ms (6 s in all) fails at T, not per byte."""

    def handler(conn: socket.socket) -> None:
        for byte in switching_protocols(read_request_head(conn)):
            if release.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(0.05)

    elapsed, error = run_against(handler, release)
    assert isinstance(error, SaynaTimeoutError)
    assert "waiting for the server's answer" in str(error)
    assert elapsed < T + 1


def test_a_slow_but_complete_upgrade_answer_is_accepted() -> None:
    """An answer trickled byte by byte that completes in time opens the session."""

    def handler(conn: socket.socket) -> None:
        peer = Peer(conn)
        for byte in switching_protocols(peer.read_request()):
            conn.sendall(bytes([byte]))
            time.sleep(0.002)
        peer.read_frame()
        peer.send(server_frame(0x1, READY))
        peer.drain()

    with RawServer(handler) as server, client_for(server.url) as client:
        session = client.connect(without_audio=True, timeout=10)
        assert session.ready
        session.close()


def endless(conn: socket.socket, first: bytes, chunk: bytes, release: threading.Event) -> None:
    # 32 MiB at most, so that a client without a cap fails the test instead of hanging.
    read_request_head(conn)
    conn.sendall(first)
    for _ in range((32 << 20) // len(chunk)):
        if release.is_set():
            return
        conn.sendall(chunk)


@pytest.mark.parametrize(
    ("name", "first", "chunk"),
    [
        ("endless header line", b"HTTP/1.1 101 Switching Protocols\r\nX-Long: ", b"a" * 65536),
        ("endless headers", b"HTTP/1.1 101 Switching Protocols\r\n", b"X-Header: value\r\n" * 1000),
        ("endless status line", b"HTTP/1.1 101 ", b"b" * 65536),
    ],
)
def test_an_endless_answer_head_is_cut_at_64_kib(
    name: str, first: bytes, chunk: bytes, release: threading.Event, traced: None
) -> None:
    """Header bytes that never end raise SaynaProtocolError at 64 KiB, at once, in little memory."""
    elapsed, error = run_against(lambda conn: endless(conn, first, chunk, release), release)
    _, peak = tracemalloc.get_traced_memory()
    assert isinstance(error, SaynaProtocolError), name
    assert "exceed 64 KiB" in str(error)
    assert error.endpoint == "/ws"
    assert len(error.body) <= 1024
    assert elapsed < T + 1
    assert peak < 4 * 1024 * 1024, peak


def test_endless_proxy_headers_are_cut_at_64_kib(release: threading.Event) -> None:
    """A proxy whose CONNECT answer never ends raises SaynaProtocolError at once."""
    first = b"HTTP/1.1 200 Connection established\r\n"
    elapsed, error = run_against(
        lambda conn: endless(conn, first, b"X-Header: value\r\n" * 1000, release),
        release,
        proxy=True,
    )
    assert isinstance(error, SaynaProtocolError)
    assert "proxy's answer headers exceed 64 KiB" in str(error)
    assert elapsed < T + 1


def test_a_401_with_a_24_mb_body_keeps_a_short_excerpt(
    release: threading.Event, traced: None
) -> None:
    """A 401 with a 24 MB body is AuthenticationError with a 1 KiB excerpt; the body is not read."""
    body = b"x" * 24_000_000

    def handler(conn: socket.socket) -> None:
        read_request_head(conn)
        conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: %d\r\n\r\n" % len(body))
        with contextlib.suppress(OSError):
            conn.sendall(body)
        release.wait(10)

    tracemalloc.reset_peak()
    baseline, _ = tracemalloc.get_traced_memory()
    elapsed, error = run_against(handler, release)
    _, peak = tracemalloc.get_traced_memory()
    assert isinstance(error, AuthenticationError)
    assert error.status_code == 401
    assert len(str(error)) < 1200
    assert len(error.body) < 1100
    assert error.body.endswith("[truncated: a body of 24000000 bytes]")
    assert KEY not in str(error)
    assert elapsed < T + 1
    assert peak - baseline < 4 * 1024 * 1024, peak - baseline


def test_a_refusal_whose_body_stalls_raises_the_status_on_time(release: threading.Event) -> None:
    """A 403 announcing 1 MB and sending 10 bytes raises its status by the deadline."""

    def handler(conn: socket.socket) -> None:
        read_request_head(conn)
        conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 1000000\r\n\r\nforbidden!")
        release.wait(10)

    elapsed, error = run_against(handler, release)
    assert isinstance(error, SaynaError)
    assert getattr(error, "status_code", None) == 403
    assert "forbidden!" in error.body  # type: ignore[attr-defined]
    assert "truncated: a body of 1000000 bytes" in error.body  # type: ignore[attr-defined]
    assert elapsed < T + 1


@pytest.mark.parametrize("depth", [1_100, 100_000])
def test_a_deeply_nested_json_401_is_an_authentication_error(
    depth: int, release: threading.Event
) -> None:
    """A 401 with JSON nested past the recursion limit: AuthenticationError, no RecursionError."""
    body = b"[" * depth + b"]" * depth

    def handler(conn: socket.socket) -> None:
        read_request_head(conn)
        conn.sendall(
            b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
        release.wait(10)

    _, error = run_against(handler, release)
    assert isinstance(error, AuthenticationError)
    assert len(str(error)) < 1200


def test_a_small_json_401_keeps_the_servers_message(release: threading.Event) -> None:
    """A normal-sized JSON refusal is parsed whole: its message and code come through."""
    body = b'{"error":"unauthorized","message":"Invalid API secret"}'

    def handler(conn: socket.socket) -> None:
        read_request_head(conn)
        conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        release.wait(10)

    _, error = run_against(handler, release)
    assert isinstance(error, AuthenticationError)
    assert error.server_message == "Invalid API secret"
    assert error.code == "unauthorized"


def stall_after(prefix: bytes, release: threading.Event) -> Callable[[socket.socket], None]:
    def handler(conn: socket.socket) -> None:
        read_request_head(conn)
        conn.sendall(prefix)
        release.wait(30)

    return handler


@pytest.mark.parametrize(
    "prefix",
    [b"", b"HTTP/1.1 101 Switching Protocols\r\nUpgr", b"HTTP/1.1 101 Switching Protocols\r\n"],
)
def test_a_stall_during_the_upgrade_times_out_on_time(
    prefix: bytes, release: threading.Event
) -> None:
    """A server that stops before, inside or after the status line: SaynaTimeoutError at T."""
    elapsed, error = run_against(stall_after(prefix, release), release)
    assert isinstance(error, SaynaTimeoutError)
    assert elapsed < T + 1


def test_a_stall_before_ready_times_out_on_time(release: threading.Event) -> None:
    """A server that upgrades, reads the config, never sends ready: SaynaTimeoutError by T + 1."""

    def handler(conn: socket.socket) -> None:
        peer = Peer(conn)
        peer.upgrade()
        peer.read_frame()
        release.wait(30)

    elapsed, error = run_against(handler, release)
    assert isinstance(error, SaynaTimeoutError)
    assert "ready" in str(error)
    assert elapsed < T + 1


def test_a_trickled_upgrade_leaves_no_time_for_ready(release: threading.Event) -> None:
    """The upgrade and the wait for ready share one deadline: a slow upgrade shortens the wait."""

    def handler(conn: socket.socket) -> None:
        peer = Peer(conn)
        answer = switching_protocols(peer.read_request())
        for byte in answer:
            conn.sendall(bytes([byte]))
            time.sleep(0.7 * T / len(answer))
        peer.read_frame()
        release.wait(30)

    elapsed, error = run_against(handler, release)
    assert isinstance(error, SaynaTimeoutError)
    assert elapsed < T + 1


def test_a_silent_tls_server_times_out_on_time(release: threading.Event) -> None:
    """A wss:// server that accepts TCP and never speaks TLS: SaynaTimeoutError at T."""

    def handler(conn: socket.socket) -> None:
        release.wait(30)

    elapsed, error = run_against(handler, release, tls=True)
    assert isinstance(error, SaynaTimeoutError)
    assert "TLS handshake" in str(error)
    assert elapsed < T + 1


def test_a_trickling_tls_server_times_out_on_time(release: threading.Event) -> None:
    """A wss:// server that sends TLS record bytes one by one, slowly: SaynaTimeoutError at T."""

    def handler(conn: socket.socket) -> None:
        # A server hello record header announcing a long handshake, then a byte at a time.
        conn.sendall(b"\x16\x03\x03\x40\x00\x02")
        for _ in range(200):
            if release.wait(0.05):
                return
            conn.sendall(b"\x00")

    elapsed, error = run_against(handler, release, tls=True)
    assert isinstance(error, SaynaTimeoutError)
    assert elapsed < T + 1


def test_a_stalled_proxy_times_out_on_time(release: threading.Event) -> None:
    """An HTTP proxy that reads CONNECT and never answers: SaynaTimeoutError at T."""
    elapsed, error = run_against(stall_after(b"", release), release, proxy=True)
    assert isinstance(error, SaynaTimeoutError)
    assert "proxy" in str(error)
    assert elapsed < T + 1


def test_a_trickling_proxy_times_out_on_time(release: threading.Event) -> None:
    """A proxy answering CONNECT one byte per 50 ms: SaynaTimeoutError at T."""

    def handler(conn: socket.socket) -> None:
        read_request_head(conn)
        for byte in b"HTTP/1.1 200 Connection established\r\nX-Pad: aaaaaaaaaaaaaaaa\r\n\r\n":
            if release.wait(0.05):
                return
            conn.sendall(bytes([byte]))

    elapsed, error = run_against(handler, release, proxy=True)
    assert isinstance(error, SaynaTimeoutError)
    assert elapsed < T + 1


def test_a_refusing_proxy_is_a_connection_error(release: threading.Event) -> None:
    """A proxy answering CONNECT with 403 is a SaynaConnectionError naming the status."""
    _, error = run_against(
        stall_after(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", release),
        release,
        proxy=True,
    )
    assert isinstance(error, SaynaConnectionError)
    assert "403" in str(error)


def test_a_full_accept_queue_times_out_on_time() -> None:
    """A listener that never accepts (its queue full): the TCP connect times out at T."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):  # fill the accept queue; later SYNs are dropped
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.2)
        with client_for(f"http://127.0.0.1:{port}") as client:
            elapsed, error = timed_connect(client)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert isinstance(error, SaynaTimeoutError)
    assert elapsed < T + 1


def test_garbage_instead_of_http_is_a_protocol_error(release: threading.Event) -> None:
    """An answer that is not HTTP raises SaynaProtocolError with an excerpt of what came."""
    elapsed, error = run_against(stall_after(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", release), release)
    assert isinstance(error, SaynaProtocolError)
    assert "SSH-2.0" in error.body
    assert elapsed < T + 1


def test_a_101_with_a_wrong_accept_is_a_protocol_error(release: threading.Event) -> None:
    """A 101 whose Sec-WebSocket-Accept does not match the key is refused."""
    answer = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n"
    )
    _, error = run_against(stall_after(answer, release), release)
    assert isinstance(error, SaynaProtocolError)
    assert "not a valid WebSocket upgrade" in str(error)


def test_frames_sent_with_the_101_answer_reach_the_session() -> None:
    """Bytes that arrive in the same read as the answer head are parsed as frames, not lost."""

    def handler(conn: socket.socket) -> None:
        peer = Peer(conn)
        head = peer.read_request()
        early = server_frame(0x1, READY) + server_frame(0x1, b'{"type":"error","message":"early"}')
        conn.sendall(switching_protocols(head) + early)
        peer.read_frame()
        peer.drain()

    with RawServer(handler) as server, client_for(server.url) as client:
        session = client.connect(without_audio=True, timeout=10)
        event = session.wait_for(ErrorEvent, timeout=10)
        assert isinstance(event, ErrorEvent)
        assert event.message == "early"
        session.close()


class CountingSocket:
    """A stand-in socket that serves one answer and records every recv size asked for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.sizes: list[int] = []

    def settimeout(self, value: float | None) -> None:
        pass

    def recv(self, size: int) -> bytes:
        self.sizes.append(size)
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk


def test_the_answer_head_is_read_in_large_chunks_not_byte_by_byte() -> None:
    """A 101 answer that arrived whole costs one recv; leftover bytes are kept."""
    sock = CountingSocket(switching_protocols(b"Sec-WebSocket-Key: a2V5\r\n") + b"\x81\x00")
    answer = _handshake.read_answer(
        sock,  # type: ignore[arg-type]
        deadline=time.monotonic() + 5,
        url="ws://h/ws",
        timeout=5,
    )
    assert answer.status == 101
    assert answer.headers["upgrade"] == "websocket"
    assert answer.leftover == b"\x81\x00"
    assert sock.sizes == [65536]
