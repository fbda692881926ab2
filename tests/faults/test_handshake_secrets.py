"""websocket.enableTrace(True) shows our handshakes without the API key or proxy credentials."""

from __future__ import annotations

import base64
import logging
import socket
import threading
from collections.abc import Iterator

import pytest
import requests
import websocket

from sayna import Sayna, SaynaConnectionError
from sayna.testing import FakeServer
from tests.support.rawserver import RawServer, read_request_head

KEY = "sk-trace-secret-4711"


class Collect(logging.Handler):
    """Keeps every formatted record."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def trace() -> Iterator[Collect]:
    handler = Collect()
    websocket.enableTrace(True, handler=handler)
    try:
        yield handler
    finally:
        websocket.enableTrace(False)


def test_the_trace_shows_the_upgrade_without_the_key(trace: Collect) -> None:
    """A real handshake with tracing on: the request is traced, the key is not."""
    with (
        FakeServer(api_keys={KEY: "tenant"}) as server,
        Sayna(server.url, api_key=KEY) as client,
        client.connect(without_audio=True, timeout=10) as session,
    ):
        assert session.ready
    text = "\n".join(trace.lines)
    assert "GET /ws HTTP/1.1" in text
    assert "Authorization: Bearer ***" in text
    assert "101" in text
    assert KEY not in text


def test_the_trace_hides_proxy_credentials(trace: Collect) -> None:
    """The CONNECT request to a proxy is traced with its Basic credentials hidden."""
    seen = threading.Event()

    def proxy(conn: socket.socket) -> None:
        read_request_head(conn)
        seen.set()
        conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")

    with RawServer(proxy) as server:
        http = requests.Session()
        http.trust_env = False
        http.proxies = {"http": f"http://agent:pr0xy-pass@127.0.0.1:{server.port}"}
        with (
            Sayna("http://sayna.invalid:9", api_key=KEY, session=http) as client,
            pytest.raises(SaynaConnectionError, match="407"),
        ):
            client.connect(without_audio=True, timeout=5)
    assert seen.is_set()
    text = "\n".join(trace.lines)
    token = base64.b64encode(b"agent:pr0xy-pass").decode()
    assert "CONNECT sayna.invalid:9 HTTP/1.1" in text
    assert "Proxy-Authorization: Basic ***" in text
    assert token not in text
    assert "pr0xy-pass" not in text
    assert KEY not in text
