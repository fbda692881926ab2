"""REST timeouts and retries against a scripted raw server: stalls are timeouts, never retried."""

from __future__ import annotations

import email.utils
import itertools
import socket
import threading
import time
from collections.abc import Callable

import pytest

from sayna import RateLimitError, Sayna, SaynaServerError, SaynaTimeoutError
from tests.support.rawserver import RawServer, read_request_head

OK_JSON = b'{"status":"OK"}'
# Generous: the machine is shared. The point is "not 3 x timeout, not 30 s".
PROMPT = 10.0


def _answer(status: str, body: bytes = OK_JSON, headers: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body


def _stall(conn: socket.socket) -> None:
    """Send nothing more until the test stops the server."""
    while conn.recv(65536):
        pass


def _serve(script: Callable[[int, socket.socket], bool]) -> Callable[[socket.socket], None]:
    """A handler answering each request on a connection with script(n, conn), n counting all."""
    counter = itertools.count()
    lock = threading.Lock()

    def handler(conn: socket.socket) -> None:
        while read_request_head(conn):
            with lock:
                n = next(counter)
            if not script(n, conn):
                return

    return handler


STALLS = {
    "before the status line": b"",
    "inside the headers": b"HTTP/1.1 200 OK\r\nContent-Type: applic",
    "after the headers": b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
    "inside a sized body": b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b'{"status":',
    "inside a chunked body": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"a\r\n" + b'{"status":'
    ),
}


@pytest.mark.parametrize("sent", STALLS.values(), ids=STALLS.keys())
@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_a_stall_anywhere_is_a_timeout_and_not_retried(sent: bytes, verb: str) -> None:
    """timeout=1, max_retries=2: a stall at any point raises SaynaTimeoutError after one request."""

    def script(n: int, conn: socket.socket) -> bool:
        conn.sendall(sent)
        _stall(conn)
        return False

    with RawServer(_serve(script)) as server, Sayna(server.url, timeout=1, max_retries=2) as client:
        call: Callable[[], object] = (
            client.health
            if verb == "GET"
            else lambda: client.get_livekit_token("room", "name", "identity")
        )
        started = time.monotonic()
        with pytest.raises(SaynaTimeoutError, match="timed out after 1s") as info:
            call()
        elapsed = time.monotonic() - started
        assert server.accepted == 1
        assert elapsed < PROMPT
        assert isinstance(info.value, TimeoutError)


def test_stalled_body_after_a_few_bytes_raises_promptly() -> None:
    """The issue's case: headers and a few bytes, then silence, is one SaynaTimeoutError."""

    def script(n: int, conn: socket.socket) -> bool:
        conn.sendall(STALLS["inside a sized body"])
        _stall(conn)
        return False

    with RawServer(_serve(script)) as server, Sayna(server.url, timeout=1, max_retries=2) as client:
        with pytest.raises(SaynaTimeoutError, match="reading the answer"):
            client.get_voices()
        assert server.accepted == 1


def _retry_script(
    first: bytes, then: bytes = _answer("200 OK")
) -> Callable[[int, socket.socket], bool]:
    def script(n: int, conn: socket.socket) -> bool:
        conn.sendall(first if n == 0 else then)
        return True

    return script


def _sleeps_before_health(first: bytes) -> list[float]:
    """The delays the client sleeps before health() succeeds, ``first`` being the first answer."""
    with RawServer(_serve(_retry_script(first))) as server, Sayna(server.url) as client:
        sleeps: list[float] = []
        client._sleep = sleeps.append
        assert client.health().status == "OK"
    return sleeps


@pytest.mark.parametrize("status", ["429 Too Many Requests", "503 Service Unavailable"])
def test_retry_after_sets_the_retry_delay(status: str) -> None:
    """A GET answered 429/503 with Retry-After: 2 waits 2 s (not the backoff), then succeeds."""
    first = _answer(status, b'{"error":"slow down"}', "Retry-After: 2\r\n")
    assert _sleeps_before_health(first) == [2.0]


def test_retry_after_as_an_http_date() -> None:
    """Retry-After given as an HTTP date becomes the seconds until then (capped below at 0)."""
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    first = _answer("503 Service Unavailable", b"", f"Retry-After: {past}\r\n")
    assert _sleeps_before_health(first) == [0.0]


def test_malformed_retry_after_falls_back_to_backoff() -> None:
    """A Retry-After that is neither seconds nor a date is ignored: the usual backoff applies."""
    first = _answer("503 Service Unavailable", b"", "Retry-After: soon-ish\r\n")
    assert _sleeps_before_health(first) == [0.25]


def test_retry_after_beyond_the_cap_raises_at_once_with_the_delay() -> None:
    """Retry-After: 3600 is not waited for: RateLimitError at once, retry_after=3600.0."""
    first = _answer("429 Too Many Requests", b'{"error":"quota"}', "Retry-After: 3600\r\n")
    with RawServer(_serve(_retry_script(first))) as server, Sayna(server.url) as client:
        sleeps: list[float] = []
        client._sleep = sleeps.append
        with pytest.raises(RateLimitError) as info:
            client.get_voices()
        assert info.value.retry_after == 3600.0
        assert info.value.server_message == "quota"
        assert sleeps == []
        assert server.accepted == 1


def test_post_is_not_retried_but_exposes_retry_after() -> None:
    """A POST answered 503 with Retry-After raises at once, the delay on the exception."""
    first = _answer("503 Service Unavailable", b'{"error":"busy"}', "Retry-After: 1\r\n")
    with RawServer(_serve(_retry_script(first))) as server, Sayna(server.url) as client:
        sleeps: list[float] = []
        client._sleep = sleeps.append
        with pytest.raises(SaynaServerError) as info:
            client.get_livekit_token("room", "name", "identity")
        assert info.value.retry_after == 1.0
        assert sleeps == []


def test_retries_exhausted_keep_the_last_retry_after() -> None:
    """When every attempt is refused, the last answer's error carries its Retry-After."""
    refusal = _answer("503 Service Unavailable", b'{"error":"busy"}', "Retry-After: 1\r\n")
    with RawServer(_serve(_retry_script(refusal, refusal))) as server:
        with Sayna(server.url, max_retries=2) as client:
            sleeps: list[float] = []
            client._sleep = sleeps.append
            with pytest.raises(SaynaServerError) as info:
                client.health()
        assert info.value.retry_after == 1.0
        assert sleeps == [1.0, 1.0]
