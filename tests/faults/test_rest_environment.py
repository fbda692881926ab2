"""Proxy settings from the environment are read once per client; the session's on every call."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sayna import Sayna
from tests.support.rawserver import RawServer, read_request_head

OK = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
    b'{"status":"OK"}'
)
# Never resolved: only a proxy can answer for it.
UNREACHABLE = "http://sayna.invalid"


class Recorder:
    """A raw server answering every request OK and keeping each request line."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.server = RawServer(self._handle)

    def _handle(self, conn: socket.socket) -> None:
        while head := read_request_head(conn):
            self.lines.append(head.split(b"\r\n", 1)[0])
            conn.sendall(OK)


@pytest.fixture
def proxy() -> Iterator[Recorder]:
    recorder = Recorder()
    with recorder.server:
        yield recorder


@pytest.fixture
def direct() -> Iterator[Recorder]:
    recorder = Recorder()
    with recorder.server:
        yield recorder


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


def test_environment_proxy_is_used(proxy: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY set when the client is created carries its requests (absolute-form)."""
    monkeypatch.setenv("HTTP_PROXY", proxy.server.url)
    with Sayna(UNREACHABLE, max_retries=0) as client:
        assert client.health().status == "OK"
        assert client.health().status == "OK"
    assert proxy.lines == [b"GET http://sayna.invalid/ HTTP/1.1"] * 2


def test_environment_is_read_once_per_client(
    proxy: Recorder, direct: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy variable set after the client was created does not change its route."""
    with Sayna(direct.server.url, max_retries=0) as client:
        monkeypatch.setenv("HTTP_PROXY", proxy.server.url)
        assert client.health().status == "OK"
    assert proxy.lines == []
    assert direct.lines == [b"GET / HTTP/1.1"]
    with Sayna(direct.server.url, max_retries=0) as later:
        assert later.health().status == "OK"
    assert len(proxy.lines) == 1


def test_session_proxies_are_read_on_every_call(proxy: Recorder) -> None:
    """A user session's proxies, changed after the client was created, still apply."""
    http = requests.Session()
    with Sayna(UNREACHABLE, session=http, max_retries=0) as client:
        http.proxies = {"http": proxy.server.url}
        assert client.health().status == "OK"
    assert proxy.lines == [b"GET http://sayna.invalid/ HTTP/1.1"]
    http.close()


def test_trust_env_false_ignores_the_environment(
    proxy: Recorder, direct: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session with trust_env=False is not routed through HTTP_PROXY."""
    monkeypatch.setenv("HTTP_PROXY", proxy.server.url)
    http = requests.Session()
    http.trust_env = False
    with Sayna(direct.server.url, session=http, max_retries=0) as client:
        assert client.health().status == "OK"
    assert (proxy.lines, direct.lines) == ([], [b"GET / HTTP/1.1"])
    http.close()


def test_a_session_subclass_request_is_honoured(direct: Recorder) -> None:
    """A Session subclass that overrides request() still sees every call."""
    seen: list[str] = []

    class Traced(requests.Session):
        def request(self, method: str | bytes, url: str | bytes, *a: Any, **kw: Any) -> Any:  # type: ignore[override]
            seen.append(f"{method!s} {url!s}")
            return super().request(method, url, *a, **kw)

    http = Traced()
    with Sayna(direct.server.url, session=http) as client:
        assert client.health().status == "OK"
    assert seen == [f"GET {direct.server.url}/"]
    http.close()
