"""connect(retry=...): the first upgrade is tried again when the server is busy or not up yet."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from sayna import (
    AuthenticationError,
    RateLimitError,
    ReconnectPolicy,
    Sayna,
    SaynaConfigError,
    SaynaConnectionError,
    SaynaServerError,
    SaynaValidationError,
)
from sayna.testing import FakeServer
from tests.support.rawserver import RawServer, read_request_head
from tests.support.speech_configs import STT, TTS

FAST = ReconnectPolicy(max_attempts=5, initial_delay=0.05, max_delay=0.2)


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def busy_then_real(
    server: FakeServer, answers: list[bytes]
) -> Iterator[tuple[RawServer, list[int]]]:
    """A front that answers the first upgrades with ``answers``, then forwards to ``server``."""
    seen: list[int] = []
    lock = threading.Lock()

    def handle(conn: socket.socket) -> None:
        with lock:
            index = len(seen)
            seen.append(index)
        if index < len(answers):
            read_request_head(conn)
            conn.sendall(answers[index])
            return
        upstream = socket.create_connection(("127.0.0.1", server.port))
        back = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
        back.start()
        _pipe(conn, upstream)
        back.join(5)
        upstream.close()

    with RawServer(handle) as raw:
        yield raw, seen


def _answer(status: str, headers: str = "") -> bytes:
    body = b'{"error":"busy"}'
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{headers}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def test_busy_upgrades_are_retried_until_ready(sayna_server: FakeServer) -> None:
    """503 then 429 (Retry-After: 0) then a real upgrade: one connect() returns a ready session."""
    answers = [_answer("503 Service Unavailable"), _answer("429 Too Many", "Retry-After: 0\r\n")]
    with (
        busy_then_real(sayna_server, answers) as (raw, seen),
        Sayna(raw.url) as client,
        client.connect(stt_config=STT, tts_config=TTS, retry=FAST, timeout=10) as session,
    ):
        assert session.ready
        assert len(seen) == 3


def test_without_retry_the_first_busy_answer_raises(sayna_server: FakeServer) -> None:
    """retry=False (the default) raises the 503 after one try."""
    with (
        busy_then_real(sayna_server, [_answer("503 Service Unavailable")]) as (raw, seen),
        Sayna(raw.url) as client,
        pytest.raises(SaynaServerError),
    ):
        client.connect(stt_config=STT, tts_config=TTS, timeout=5)
    assert len(seen) == 1


def test_a_refused_connection_is_retried_until_the_server_is_up() -> None:
    """A server that starts 0.3 s after connect() is reached by retry=True's later tries."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    servers: list[FakeServer] = []
    starter = threading.Timer(0.3, lambda: servers.append(FakeServer(port=port).start()))
    starter.start()
    try:
        with (
            Sayna(f"http://127.0.0.1:{port}") as client,
            client.connect(stt_config=STT, tts_config=TTS, retry=True, timeout=15) as session,
        ):
            assert session.ready
    finally:
        starter.join()
        for server in servers:
            server.stop()


def test_a_refused_connection_without_retry_raises_at_once() -> None:
    """Without retry, connection refused is SaynaConnectionError from the first try."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Sayna(f"http://127.0.0.1:{port}") as client, pytest.raises(SaynaConnectionError):
        client.connect(stt_config=STT, tts_config=TTS, timeout=5)


def test_401_is_never_retried() -> None:
    """A wrong key fails after one upgrade, whatever the policy."""
    with (
        FakeServer(api_keys={"right": "t"}) as server,
        Sayna(server.url, api_key="wrong") as client,
        pytest.raises(AuthenticationError),
    ):
        client.connect(stt_config=STT, tts_config=TTS, retry=FAST, timeout=5)
    assert [r.path for r in server.requests] == ["/ws"]


def test_a_refused_config_is_never_retried(sayna_server: FakeServer) -> None:
    """The server's error for the config ends connect() after one upgrade."""
    sayna_server.fail_config("no such model")
    with Sayna(sayna_server.url) as client, pytest.raises(SaynaConfigError):
        client.connect(stt_config=STT, tts_config=TTS, retry=FAST, timeout=5)
    assert [r.path for r in sayna_server.requests] == ["/ws"]


def test_a_long_retry_after_raises_at_once(sayna_server: FakeServer) -> None:
    """Retry-After: 60 is past the 10 s cap: raised after one try, with retry_after set."""
    answers = [_answer("429 Too Many", "Retry-After: 60\r\n")]
    with (
        busy_then_real(sayna_server, answers) as (raw, seen),
        Sayna(raw.url) as client,
        pytest.raises(RateLimitError) as info,
    ):
        client.connect(stt_config=STT, tts_config=TTS, retry=FAST, timeout=5)
    assert info.value.retry_after == 60
    assert len(seen) == 1


def test_retries_stay_within_the_connect_timeout(sayna_server: FakeServer) -> None:
    """A server busy forever, 50 tries allowed, timeout=1: connect() raises within ~1 s."""
    policy = ReconnectPolicy(max_attempts=50, initial_delay=0.2, max_delay=0.2)
    answers = [_answer("503 Service Unavailable")] * 100
    with busy_then_real(sayna_server, answers) as (raw, seen), Sayna(raw.url) as client:
        started = time.monotonic()
        with pytest.raises(SaynaServerError):
            client.connect(stt_config=STT, tts_config=TTS, retry=policy, timeout=1.0)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert 2 <= len(seen) < 50


def test_retry_is_checked(sayna_server: FakeServer) -> None:
    """retry takes True, False or a ReconnectPolicy."""
    with Sayna(sayna_server.url) as client, pytest.raises(SaynaValidationError) as info:
        client.connect(stt_config=STT, tts_config=TTS, retry=3)  # type: ignore[arg-type]
    assert info.value.field == "retry"
