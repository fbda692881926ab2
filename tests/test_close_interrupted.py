"""Ctrl-C during close() leaves a session that ends; a later close() finishes (issue 22, 12)."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from sayna import Sayna
from sayna._realtime import connection as connection_module
from sayna._realtime.session import Session
from tests.support.polling import wait_until
from tests.support.rawserver import RawServer
from tests.support.speech_configs import STT, TTS
from tests.support.wspeer import READY, Peer, server_frame


def silent_session(sock: socket.socket) -> None:
    """Ready, then read everything and answer nothing (not even our Close)."""
    peer = Peer(sock)
    peer.upgrade()
    peer.read_frame()
    peer.send(server_frame(0x1, READY))
    while sock.recv(65536):
        pass


def session_threads() -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t.name.startswith(("sayna-reader", "sayna-reconnect", "sayna-close")) and t.is_alive()
    ]


@pytest.fixture
def slow_close(monkeypatch: pytest.MonkeyPatch) -> Iterator[RawServer]:
    """A server that never answers a Close, and a close() that would wait 30 s for it."""
    monkeypatch.setattr(connection_module, "CLOSE_HANDSHAKE_TIMEOUT", 30.0)
    with RawServer(silent_session) as server:
        yield server


def ctrl_c_in(seconds: float) -> threading.Timer:
    """Send SIGINT to the main thread after ``seconds``, as Ctrl-C in a terminal does."""
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(seconds, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_during_close_leaves_a_session_that_ends(slow_close: RawServer) -> None:
    """Ctrl-C while close() waits for the Close answer: the socket is cut, the session ends."""
    with Sayna(slow_close.url, api_key="k") as client:
        session: Session = client.connect(STT, TTS, timeout=5)
        timer = ctrl_c_in(0.3)
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            session.close(timeout=30)
        timer.join()
        assert time.monotonic() - started < 5
        # The reader saw the socket cut and recorded the end, with no other call.
        wait_until(lambda: session.close_event is not None, timeout=2)
        assert not session_threads()
        started = time.monotonic()
        session.close()
        assert time.monotonic() - started < 0.5
        assert session.close_event is not None
        assert session.close_event.initiator == "client"


def test_a_second_client_close_finishes_what_ctrl_c_cut_short(slow_close: RawServer) -> None:
    """Ctrl-C during Sayna.close(): the next Sayna.close() leaves every session closed."""
    client = Sayna(slow_close.url, api_key="k")
    sessions = [client.connect(STT, TTS, timeout=5) for _ in range(2)]
    # Each close would wait 30 s for its answer; the client's close waits for both.
    timer = ctrl_c_in(0.3)
    with pytest.raises(KeyboardInterrupt):
        client.close()
    timer.join()
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started < 5
    assert all(s.close_event is not None for s in sessions)
    wait_until(lambda: not session_threads(), timeout=5)
