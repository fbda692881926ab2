"""Reconnects that end cleanly, against hostile loopback servers (issue 22, items 5-11)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from sayna import (
    CloseEvent,
    Event,
    ReconnectedEvent,
    ReconnectingEvent,
    ReconnectPolicy,
    Sayna,
    SaynaConnectionClosedError,
    SaynaConnectionError,
)
from sayna._realtime.session import Session
from tests.support.polling import wait_until
from tests.support.rawserver import RawServer
from tests.support.speech_configs import STT, TTS
from tests.support.wspeer import READY, Peer, server_frame


def ready_then_drop(sock: socket.socket) -> None:
    """Every connection: upgrade, read the config, send ready, hang up at once."""
    peer = Peer(sock)
    peer.upgrade()
    peer.read_frame()
    peer.send(server_frame(0x1, READY))
    sock.shutdown(socket.SHUT_RDWR)


def hold(sock: socket.socket) -> None:
    """Read whatever comes until the client hangs up; answer nothing (not even a Close)."""
    while sock.recv(65536):
        pass


class FirstThen:
    """A handler: the first connection is a good session until ``drop`` is set; later ones
    run ``later`` (a hostile server the attempts meet)."""

    def __init__(self, later: Callable[[socket.socket], None]) -> None:
        self.later = later
        self.drop = threading.Event()
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, sock: socket.socket) -> None:
        with self.lock:
            self.count += 1
            first = self.count == 1
        if not first:
            self.later(sock)
            return
        peer = Peer(sock)
        peer.upgrade()
        peer.read_frame()
        peer.send(server_frame(0x1, READY))
        self.drop.wait(30)
        sock.shutdown(socket.SHUT_RDWR)


def upgrade_never_answered(sock: socket.socket) -> None:
    """Read the upgrade request and never answer it."""
    hold(sock)


def ready_never_sent(sock: socket.socket) -> None:
    """Upgrade, read the config, then stay silent."""
    peer = Peer(sock)
    peer.upgrade()
    hold(sock)


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("sayna-reader", "sayna-recon"))]


@pytest.fixture
def ready_dropper() -> Iterator[RawServer]:
    with RawServer(ready_then_drop) as server:
        yield server


def drain(events: Iterator[Event], into: list[Event]) -> None:
    for event in events:
        into.append(event)


def test_a_ready_then_an_immediate_drop_returns_the_reconnecting_session(
    ready_dropper: RawServer,
) -> None:
    """With reconnect, connect() returns once ready came, even if the drop follows at once."""
    policy = ReconnectPolicy(max_attempts=2, initial_delay=0.01, max_delay=0.01)
    with Sayna(ready_dropper.url, api_key="k") as client:
        for _ in range(20):
            session = client.connect(STT, TTS, reconnect=policy, timeout=5)
            assert session.stream_id == "raw-1"
            session.close()


def test_without_reconnect_a_drop_right_after_ready_is_a_connection_error(
    ready_dropper: RawServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Without reconnect: the session, or an error saying ready came (and no WARNING)."""
    caplog.set_level(logging.INFO, logger="sayna")
    returned: list[str] = []  # "session N ": sessions the caller got (they may warn late)

    def stray_warnings() -> list[str]:
        messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        return [m for m in messages if not m.startswith(tuple(returned))]

    with Sayna(ready_dropper.url, api_key="k") as client:
        for _ in range(20):
            try:
                session = client.connect(STT, TTS, timeout=5)
            except SaynaConnectionError as exc:
                assert "right after the session was ready" in str(exc)  # noqa: PT017
                assert not stray_warnings()
            else:
                returned.append(f"session {session._core.id} ")
                with pytest.raises(SaynaConnectionClosedError):
                    for _event in session.events(timeout=5):
                        pass
                session.close()


def test_a_server_that_drops_after_every_ready_is_given_up_on(ready_dropper: RawServer) -> None:
    """Ready-then-drop on every connection stops after max_attempts, not retried forever."""
    policy = ReconnectPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02)
    with Sayna(ready_dropper.url, api_key="k") as client:
        session = client.connect(STT, TTS, reconnect=policy, timeout=5)
        seen: list[Event] = []
        started = time.monotonic()
        with pytest.raises(SaynaConnectionClosedError) as info:
            drain(session.events(timeout=10), seen)
        elapsed = time.monotonic() - started
        session.close()
    assert "within 5 s of ready" in str(info.value)
    assert [e.attempt for e in seen if isinstance(e, ReconnectingEvent)] == [1, 2, 3]
    assert ready_dropper.accepted == 4  # the first connection and three attempts
    assert elapsed < 2.0


def test_reconnect_events_wait_for_an_unread_iterator_within_the_bound(
    ready_dropper: RawServer,
) -> None:
    """An unread iterator holds reconnect events to max_buffered_events, as any event."""
    policy = ReconnectPolicy(max_attempts=40, initial_delay=0.001, max_delay=0.001)
    with Sayna(ready_dropper.url, api_key="k") as client:
        session = client.connect(STT, TTS, reconnect=policy, timeout=5, max_buffered_events=5)
        with session.events(timeout=10) as events:
            time.sleep(1.5)  # unbounded, 40 attempts add ~80 entries by now
            assert len(session._core.log) <= 5
            seen: list[Event] = []
            with pytest.raises(SaynaConnectionClosedError):
                drain(events, seen)
        attempts = [e.attempt for e in seen if isinstance(e, ReconnectingEvent)]
        assert attempts == list(range(1, 41))  # nothing lost to the bound
        session.close()


def _dropped_session(client: Sayna, handler: FirstThen, policy: ReconnectPolicy) -> Session:
    session = client.connect(STT, TTS, reconnect=policy, timeout=30)
    handler.drop.set()
    return session


def test_close_cuts_an_attempt_whose_upgrade_is_never_answered() -> None:
    """close() during an unanswered upgrade returns at once; no thread or socket lives on."""
    handler = FirstThen(upgrade_never_answered)
    policy = ReconnectPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.01)
    with RawServer(handler) as server, Sayna(server.url, api_key="k") as client:
        session = _dropped_session(client, handler, policy)
        wait_until(lambda: server.accepted == 2, timeout=10)
        time.sleep(0.1)  # the upgrade request is out; the answer never comes
        started = time.monotonic()
        session.close()
        elapsed = time.monotonic() - started
        assert elapsed < 0.3
        assert not [t for t in reader_threads() if t.is_alive()]
        assert session.close_event is not None
        assert session.close_event.initiator == "client"


def test_close_cuts_an_attempt_waiting_for_ready() -> None:
    """close() while an attempt waits for its ready returns without a Close handshake wait."""
    handler = FirstThen(ready_never_sent)
    policy = ReconnectPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.01)
    with RawServer(handler) as server, Sayna(server.url, api_key="k") as client:
        session = _dropped_session(client, handler, policy)
        wait_until(lambda: server.accepted == 2, timeout=10)
        time.sleep(0.1)
        started = time.monotonic()
        session.close()
        assert time.monotonic() - started < 0.3
        assert not [t for t in reader_threads() if t.is_alive()]


def test_a_client_closes_its_sessions_in_parallel() -> None:
    """Sayna.close() of five sessions whose server never answers a Close takes one wait."""
    with RawServer(_silent_session) as server:
        client = Sayna(server.url, api_key="k")
        sessions = [client.connect(STT, TTS, timeout=5) for _ in range(5)]
        started = time.monotonic()
        client.close()
        elapsed = time.monotonic() - started
    assert elapsed < 1.2  # one after another: 5 x 0.5 s
    assert not [t for t in reader_threads() if t.is_alive()]
    assert all(s.close_event is not None for s in sessions)


def _silent_session(sock: socket.socket) -> None:
    peer = Peer(sock)
    peer.upgrade()
    peer.read_frame()
    peer.send(server_frame(0x1, READY))
    hold(sock)


def test_giving_up_stays_within_the_documented_bound() -> None:
    """Attempts that never get ready end the session within the delays plus the timeouts."""
    handler = FirstThen(ready_never_sent)
    policy = ReconnectPolicy(max_attempts=3, initial_delay=0.05, max_delay=0.05)
    timeout = 0.5
    with RawServer(handler) as server, Sayna(server.url, api_key="k") as client:
        session = client.connect(STT, TTS, reconnect=policy, timeout=timeout)
        seen: list[Event] = []
        with session.events(timeout=10) as events:
            handler.drop.set()
            started = time.monotonic()
            with pytest.raises(SaynaConnectionClosedError):
                drain(events, seen)
            elapsed = time.monotonic() - started
        session.close()
    delays = sum(e.delay for e in seen if isinstance(e, ReconnectingEvent))
    bound = delays + policy.max_attempts * timeout
    assert isinstance(seen[-1], CloseEvent)
    # The drop itself and the thread hand-offs: a small allowance, not 0.5 s per attempt.
    assert elapsed < bound + 0.3, (elapsed, bound)


class FailingPlans(requests.Session):
    """A user's session whose environment merge breaks once ``broken`` is set."""

    broken = False

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> Any:
        if self.broken:
            raise RuntimeError("proxy://user:hunter2@bad")
        return super().merge_environment_settings(*args, **kwargs)


def test_an_unexpected_error_in_an_attempt_ends_the_session_with_an_error() -> None:
    """The reconnect thread failing ends the session with an error; a send does not block."""
    handler = FirstThen(ready_then_drop)
    http = FailingPlans()
    policy = ReconnectPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.01)
    with RawServer(handler) as server, Sayna(server.url, api_key="k", session=http) as client:
        session = client.connect(STT, TTS, reconnect=policy, timeout=5)
        http.broken = True
        seen: list[Event] = []
        with session.events(timeout=10) as events:
            handler.drop.set()
            with pytest.raises(SaynaConnectionClosedError) as info:
                drain(events, seen)
        assert "RuntimeError" in str(info.value)
        assert "hunter2" not in str(info.value)
        started = time.monotonic()
        with pytest.raises(SaynaConnectionClosedError):
            session.speak("after the end")
        assert time.monotonic() - started < 1
        assert isinstance(seen[-1], CloseEvent)
        assert isinstance(seen[-1].error, SaynaConnectionClosedError)
        assert isinstance(seen[-1].error.__cause__, RuntimeError)
        session.close()
    http.close()
    assert not [e for e in seen if isinstance(e, ReconnectedEvent)]


def test_a_callback_may_close_its_client_with_several_sessions() -> None:
    """Sayna.close() from a callback closes every session at once, without waiting on itself."""
    from sayna import STTResultEvent
    from sayna.testing import FakeServer

    with FakeServer() as server:
        client = Sayna(server.url)
        first = client.connect(STT, TTS, timeout=5)
        second = client.connect(STT, TTS, timeout=5)
        fake = server.sessions[0]
        closed = threading.Event()

        @first.on(STTResultEvent)
        def close_all(event: STTResultEvent) -> None:
            client.close()
            closed.set()

        started = time.monotonic()
        fake.send_event(
            {
                "type": "stt_result",
                "transcript": "bye",
                "is_final": True,
                "is_speech_final": True,
                "confidence": 0.9,
            }
        )
        assert closed.wait(10)
        assert time.monotonic() - started < 1.5  # waiting on itself: 2 s per session
        assert first.close_event is not None
        assert second.close_event is not None


def test_close_cuts_an_attempt_stuck_in_a_silent_proxy() -> None:
    """close() while an attempt waits for a proxy's CONNECT answer returns at once."""
    handler = FirstThen(upgrade_never_answered)
    policy = ReconnectPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.01)
    http = requests.Session()
    http.trust_env = False
    with (
        RawServer(handler) as server,
        RawServer(hold) as proxy,
        Sayna(server.url, api_key="k", session=http) as client,
    ):
        session = client.connect(STT, TTS, reconnect=policy, timeout=30)
        # From the next connection on, every WebSocket goes through a proxy that never answers.
        http.proxies = {"http": proxy.url, "https": proxy.url}
        handler.drop.set()
        wait_until(lambda: proxy.accepted == 1, timeout=10)
        time.sleep(0.1)  # the CONNECT request is out; its answer never comes
        started = time.monotonic()
        session.close()
        assert time.monotonic() - started < 0.3
        assert not [t for t in reader_threads() if t.is_alive()]
    http.close()
