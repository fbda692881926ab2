"""A malformed status line, header or redirect from a raw server gives a SaynaError only."""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sayna import Sayna, SaynaConnectionError, SaynaError
from sayna.testing import FakeServer
from tests.support.rawserver import RawServer, read_request_head


class Scripted:
    """A raw server answering every request with ``answer``, then closing."""

    def __init__(self) -> None:
        self.answer = b""
        self.server = RawServer(self._handle)

    def _handle(self, conn: socket.socket) -> None:
        read_request_head(conn)
        conn.sendall(self.answer)


@pytest.fixture(scope="module")
def scripted() -> Iterator[Scripted]:
    raw = Scripted()
    with raw.server:
        yield raw


@pytest.fixture(scope="module")
def client(scripted: Scripted) -> Iterator[Sayna]:
    with Sayna(scripted.server.url, max_retries=1, timeout=5) as made:
        made._sleep = lambda _delay: None
        yield made


MALFORMED_LOCATIONS = [
    b"http://[::1",
    b"//[",
    b"http://[zz]/",
    b"\xff\xfe",
    b"http://" + b"a" * 300 + b"/x",
]


@pytest.mark.parametrize("location", MALFORMED_LOCATIONS, ids=repr)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_malformed_redirect_location_is_a_connection_error(
    scripted: Scripted, client: Sayna, location: bytes, status: int
) -> None:
    """A redirect whose Location urllib cannot parse raises SaynaConnectionError, cause kept."""
    scripted.answer = (
        # Connection: close keeps the answered connection out of the pool: the server
        # closes it after answering, and a retry that reused it could be reset first.
        f"HTTP/1.1 {status} Moved\r\nContent-Length: 0\r\nConnection: close\r\nLocation: ".encode()
        + location
        + b"\r\n\r\n"
    )
    if location == b"http://[zz]/" and sys.version_info < (3, 11):
        # Python 3.10's urlsplit does not check a bracketed host (3.11 does), so
        # requests follows the redirect to the host "zz", which fails to resolve:
        # still one SaynaConnectionError, from the connection instead of the parse.
        expected = r"GET /: connection failed .*'zz'"
    else:
        expected = r"GET /: unusable answer"
    with pytest.raises(SaynaConnectionError, match=expected) as caught:
        client.health()
    assert isinstance(caught.value.__cause__, ValueError if "unusable" in expected else OSError)


statuses = st.sampled_from(
    [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.0 200 OK",
        b"HTTP/1.1 301 Moved",
        b"HTTP/1.1 302 Found",
        b"HTTP/1.1 303 See Other",
        b"HTTP/1.1 307 Temporary",
        b"HTTP/1.1 308 Permanent",
        b"HTTP/1.1 204 No Content",
        b"HTTP/1.1 304 Not Modified",
        b"HTTP/1.1 100 Continue",
        b"HTTP/1.1 101 Switching",
        b"HTTP/1.1 429 Slow",
        b"HTTP/1.1 503 Busy",
        b"HTTP/1.1 999 Odd",
        b"HTTP/1.1 -1 Odd",
        b"HTTP/2 200",
        b"ICY 200 OK",
    ]
) | st.binary(max_size=30)
header_names = st.sampled_from(
    [
        b"Location",
        b"Content-Length",
        b"Transfer-Encoding",
        b"Content-Encoding",
        b"Content-Type",
        b"Retry-After",
        b"X-Request-Id",
        b"Connection",
        b"Set-Cookie",
    ]
) | st.binary(min_size=1, max_size=10)
header_values = st.sampled_from(
    [
        *MALFORMED_LOCATIONS,
        b"http://127.0.0.1:0/",
        b"http://127.0.0.1:99999/",
        b"ftp://elsewhere/",
        b"file:///etc/passwd",
        b"-1",
        b"99999999999999999999999",
        b"1, 2",
        b"chunked",
        b"gzip",
        b"br",
        b"inf",
        b"nan",
        b"1e400",
        b"Fri, 31 Dec 9999 23:59:59 GMT",
    ]
) | st.binary(max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    status=statuses,
    headers=st.lists(st.tuples(header_names, header_values), max_size=5),
    body=st.binary(max_size=20),
)
def test_any_answer_head_gives_a_sayna_error_or_a_result(
    scripted: Scripted,
    client: Sayna,
    status: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> None:
    """Fuzzed status lines and headers (redirects included) end in a result or a SaynaError."""
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    scripted.answer = status + b"\r\n" + head + b"\r\n" + body
    with contextlib.suppress(SaynaError):
        client.health()


@pytest.mark.parametrize(
    "proxy",
    ["http://proxy:80a", "http://user:s3cret@proxy:80a", "http://[zz", "http://user:s3cret@[::1"],
)
def test_malformed_environment_proxy_fails_connect_with_a_sayna_error(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed *_PROXY variable: connect() raises SaynaConnectionError, password unquoted."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setenv("ALL_PROXY", proxy)
    with FakeServer() as server, Sayna(server.url, max_retries=0) as client:
        with pytest.raises(SaynaConnectionError, match="proxy URL") as caught:
            client.connect(without_audio=True, timeout=5)
        with pytest.raises(SaynaConnectionError) as rest:
            client.health()
    for error in (caught.value, rest.value):
        assert "s3cret" not in str(error)
