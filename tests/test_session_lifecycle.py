"""Session lifecycle: how it ends (client, server, network, ping), promptly and cleanly."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

from sayna import (
    Sayna,
    SaynaConnectionClosedError,
    SaynaNotConnectedError,
)
from sayna._events import (
    CloseEvent,
    ErrorEvent,
    Event,
    ParticipantDisconnectedEvent,
    ReadyEvent,
)
from sayna._realtime import recovery
from sayna._realtime.core import SessionCore, State, close_all_at_exit
from sayna._realtime.session import Session
from sayna.testing import FakeServer, FakeSession
from tests.support.child_processes import in_forked_child
from tests.support.polling import wait_until
from tests.support.speech_configs import STT, TTS


def our_threads() -> list[threading.Thread]:
    return [
        t for t in threading.enumerate() if t.name.startswith("sayna-") and "fake" not in t.name
    ]


def test_close_is_prompt_and_idempotent(pair: tuple[Session, FakeSession]) -> None:
    """close() completes the handshake quickly, joins its threads, and can be repeated."""
    session, fake = pair
    session.on(ErrorEvent, lambda e: None)
    started = time.monotonic()
    session.close()
    elapsed = time.monotonic() - started
    assert elapsed < 0.5
    assert our_threads() == []
    assert fake.closed.wait(5)
    assert fake.client_close_code == 1000
    close = session.close_event
    assert close == CloseEvent(code=1000, initiator="client")
    session.close()
    session.disconnect()


def test_close_does_not_wait_for_a_server_that_never_answers(
    pair: tuple[Session, FakeSession],
) -> None:
    """With the server not reading, close() gives up on the handshake after a short wait."""
    session, fake = pair
    fake.pause_reading()
    started = time.monotonic()
    session.close()
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 1.5
    assert our_threads() == []
    assert session.close_event is not None
    assert session.close_event.error is None
    fake.resume_reading()


def test_close_returns_with_the_end_recorded_when_the_reader_is_late(
    pair: tuple[Session, FakeSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its time spent on an unanswered Close, close() still returns only once the reader
    has recorded the end (a loaded machine scheduled the reader late: seen in CI)."""
    session, fake = pair
    fake.pause_reading()
    ended = recovery.connection_ended

    def late(core: SessionCore, connection: Any, close: CloseEvent) -> None:
        time.sleep(0.3)
        ended(core, connection, close)

    monkeypatch.setattr(recovery, "connection_ended", late)
    session.close(timeout=0.2)
    assert session.close_event is not None
    assert not session.connected
    fake.resume_reading()


def test_close_with_zero_timeout_returns_at_once(pair: tuple[Session, FakeSession]) -> None:
    """close(timeout=0) never waits, and the session still ends."""
    session, fake = pair
    fake.pause_reading()
    started = time.monotonic()
    session.close(timeout=0)
    assert time.monotonic() - started < 0.2
    assert not session.connected
    assert isinstance(session.wait_for(CloseEvent, 5), CloseEvent)
    fake.resume_reading()


def test_events_received_before_close_still_reach_consumers(
    pair: tuple[Session, FakeSession],
) -> None:
    """Events already received are delivered to iterators and callbacks after close()."""
    session, fake = pair
    seen: list[Event] = []
    gate = threading.Event()

    def slow(event: ErrorEvent) -> None:
        gate.wait(5)
        seen.append(event)

    session.on(ErrorEvent, slow)
    iterator = session.events()
    fake.send_events({"type": "error", "message": str(n)} for n in range(50))
    session.wait_for(lambda e: isinstance(e, ErrorEvent) and e.message == "49", 5)
    gate.set()
    session.close()
    received = list(iterator)
    assert [e.message for e in received if isinstance(e, ErrorEvent)] == [str(n) for n in range(50)]
    assert isinstance(received[-1], CloseEvent)
    assert [e.message for e in seen if isinstance(e, ErrorEvent)] == [str(n) for n in range(50)]


def test_an_abrupt_drop_is_a_fatal_close(pair: tuple[Session, FakeSession]) -> None:
    """A TCP drop ends the session with a network close event and raises everywhere."""
    session, fake = pair
    iterator = session.events(timeout=5)
    assert isinstance(next(iterator), ReadyEvent)
    fake.drop()
    close = next(iterator)
    assert isinstance(close, CloseEvent)
    assert close.initiator == "network"
    assert close.code is None
    assert isinstance(close.error, SaynaConnectionClosedError)
    with pytest.raises(SaynaConnectionClosedError):
        next(iterator)
    with pytest.raises(StopIteration):
        next(iterator)
    with pytest.raises(SaynaConnectionClosedError):
        list(session.events())  # a new iterator: the close event, then the error
    with pytest.raises(SaynaConnectionClosedError):
        session.wait_for(ErrorEvent, 5)
    with pytest.raises(SaynaConnectionClosedError):
        session.speak("hello?")
    assert not session.connected
    session.close()  # joins what is left of the threads
    assert our_threads() == []


def test_next_event_returns_the_close_event_then_raises(pair: tuple[Session, FakeSession]) -> None:
    """next_event hands out the close event, and raises the fatal error afterwards."""
    session, fake = pair
    fake.drop()
    events: list[Event | None] = []

    def drain() -> None:
        while True:
            events.append(session.next_event(5))

    with pytest.raises(SaynaConnectionClosedError):
        drain()
    assert isinstance(events[0], ReadyEvent)
    assert isinstance(events[-1], CloseEvent)


def test_a_participant_leaving_ends_the_session_normally(
    pair: tuple[Session, FakeSession],
) -> None:
    """participant_disconnected then a server close: no exception from events(), sends refused."""
    session, fake = pair
    fake.participant_leaves()
    events = list(session.events(timeout=5))
    assert isinstance(events[-2], ParticipantDisconnectedEvent)
    close = events[-1]
    assert isinstance(close, CloseEvent)
    assert close.initiator == "server"
    assert close.error is None
    with pytest.raises(SaynaNotConnectedError, match="server ended"):
        session.speak("still there?")
    session.close()


def test_a_server_close_with_an_error_code_is_fatal(pair: tuple[Session, FakeSession]) -> None:
    """A Close frame with an error code ends the session with SaynaConnectionClosedError."""
    session, fake = pair
    fake.close(1011, "internal failure")
    with pytest.raises(SaynaConnectionClosedError) as info:
        list(session.events(timeout=5))
    assert info.value.code == 1011
    assert info.value.reason == "internal failure"
    close = session.close_event
    assert close is not None
    assert close.initiator == "server"
    assert close.code == 1011


def test_an_unanswered_ping_ends_the_session(sayna_server: FakeServer) -> None:
    """A server that stops answering pings is reported as a lost connection."""
    with Sayna(sayna_server.url, ping_interval=0.1, ping_timeout=0.3) as client:
        session = client.connect(STT, TTS)
        fake = sayna_server.wait_for_session()
        fake.pause_reading()
        started = time.monotonic()
        close = session.wait_for(CloseEvent, 5)
        detected = time.monotonic() - started
        fake.resume_reading()
        assert isinstance(close, CloseEvent)
        assert close.initiator == "network"
        assert "ping" in close.reason
        assert isinstance(close.error, SaynaConnectionClosedError)
        assert detected < 2.0
        with pytest.raises(SaynaConnectionClosedError, match="stopped answering"):
            session.clear()
        session.close()
    assert our_threads() == []


def test_answered_pings_keep_an_idle_session_alive(sayna_server: FakeServer) -> None:
    """Pings on a healthy idle session are answered and the session stays open."""
    with (
        Sayna(sayna_server.url, ping_interval=0.05, ping_timeout=0.2) as client,
        client.connect(STT, TTS) as session,
    ):
        assert session.next_event(1.0) is not None  # ready
        assert session.next_event(0.8) is None  # ~16 pings came and went
        assert session.ready
        assert any(t.name == "sayna-keepalive" for t in threading.enumerate())
    assert our_threads() == []


def test_two_hundred_connect_close_cycles_leave_no_thread(sayna_server: FakeServer) -> None:
    """After 200 connect/close cycles the thread count is back where it started."""
    baseline = threading.active_count()
    with Sayna(sayna_server.url) as client:
        for _ in range(200):
            with client.connect(without_audio=True) as session:
                session.on_any(lambda e: None)
            assert our_threads() == []
        # the fake server's per-connection threads wind down
        wait_until(lambda: threading.active_count() == baseline, timeout=10)


def test_a_collected_open_session_warns_and_closes(sayna_server: FakeServer, client: Sayna) -> None:
    """Garbage-collecting an open session emits ResourceWarning and ends it."""
    session = client.connect(STT, TTS)
    fake = sayna_server.wait_for_session()
    text = repr(session)
    with pytest.warns(ResourceWarning, match="unclosed"):
        del session  # no reference cycle: collected right here
    assert "Session" in text
    assert fake.closed.wait(5)
    wait_until(lambda: our_threads() == [], timeout=5)


def test_sessions_left_open_are_closed_at_exit(pair: tuple[Session, FakeSession]) -> None:
    """The atexit hook closes every live session without waiting."""
    session, fake = pair
    started = time.monotonic()
    close_all_at_exit()
    assert time.monotonic() - started < 0.5
    assert fake.closed.wait(5)
    assert not session.connected


def test_interpreter_exit_with_an_open_session_is_clean() -> None:
    """A script that never closes its session exits promptly, without errors."""
    script = textwrap.dedent(
        """
        from sayna import Sayna, STTConfig, TTSConfig
        from sayna.testing import FakeServer
        server = FakeServer().start()
        client = Sayna(server.url)
        session = client.connect(without_audio=True)
        session.on_any(lambda event: None)
        print("connected", flush=True)
        """
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "connected" in result.stdout
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 15


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() exists on POSIX only")
def test_a_forked_child_cannot_use_the_session(pair: tuple[Session, FakeSession]) -> None:
    """In a forked child every use raises a clear SaynaError; the parent's session survives."""
    session, fake = pair

    def child() -> bytes:
        outcome = b"ok"
        for call in (lambda: session.speak("x"), session.close, session.events):
            try:
                call()
                outcome = b"no error"
            except SaynaNotConnectedError as exc:
                if "forked child" not in str(exc):
                    outcome = b"unclear message"
        close_all_at_exit()  # must leave the parent's connection alone
        gc.collect()
        return outcome

    outcome = in_forked_child(child)
    assert outcome == b"ok"
    session.speak("parent still here")
    assert fake.wait_for_frame("speak").data["text"] == "parent still here"  # type: ignore[index]
    assert session.connected


def test_close_is_prompt_while_the_reader_is_held_by_backpressure(
    sayna_server: FakeServer, client: Sayna
) -> None:
    """A reader paused on a full buffer does not delay close(); the iterator still ends."""
    session = client.connect(STT, TTS, max_buffered_events=10)
    fake = sayna_server.wait_for_session()
    iterator = session.events(timeout=5)
    fake.send_events({"type": "error", "message": str(n)} for n in range(100))
    wait_until(lambda: session._core.log.paused, timeout=5)
    started = time.monotonic()
    session.close()
    assert time.monotonic() - started < 1.5
    events = list(iterator)
    assert isinstance(events[0], ReadyEvent)
    assert isinstance(events[-1], CloseEvent)
    numbers = [int(e.message) for e in events if isinstance(e, ErrorEvent)]
    assert numbers == list(range(len(numbers)))


def test_close_unblocks_a_sender_stuck_on_a_full_socket(pair: tuple[Session, FakeSession]) -> None:
    """A send blocked because the server stopped reading ends when another thread closes."""
    session, fake = pair
    fake.pause_reading()
    outcome: list[BaseException] = []
    stuck = threading.Event()

    def flood() -> None:
        try:
            while True:
                stuck.set()
                session.on_audio_input(b"\x00" * 65536)
        except BaseException as exc:
            outcome.append(exc)

    sender = threading.Thread(target=flood)
    sender.start()
    assert stuck.wait(5)
    time.sleep(0.2)  # long enough to fill the socket buffers
    started = time.monotonic()
    session.close()
    assert time.monotonic() - started < 2.0
    sender.join(5)
    assert not sender.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], SaynaNotConnectedError)
    fake.resume_reading()


@pytest.fixture(params=["prompt", "late"])
def waiter_wakes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """ "late": connect()'s wait for ready wakes only after the close has finished,
    as a descheduled thread on a loaded machine does (it used to raise
    SaynaConnectionClosedError then, "closed before ready (code 1000)")."""
    if request.param == "late":
        waiting = SessionCore._wait_ready

        def wait_ready_late(core: SessionCore, deadline: float, timeout: float) -> None:
            cond = core._cond
            woken = cond.wait

            def wait_then_linger(wait_for: float | None = None) -> bool:
                result = woken(wait_for)
                if core.state is not State.CONNECTING:
                    cond.release()  # the close goes on while this thread is away
                    wait_until(lambda: core.close_event is not None)
                    cond.acquire()
                return result

            cond.wait = wait_then_linger  # type: ignore[method-assign]
            waiting(core, deadline, timeout)

        monkeypatch.setattr(SessionCore, "_wait_ready", wait_ready_late)
    return str(request.param)


def test_closing_the_client_aborts_a_pending_connect(
    sayna_server: FakeServer, waiter_wakes: str
) -> None:
    """Sayna.close() from another thread ends a connect() still waiting for ready."""
    sayna_server.withhold_ready = True
    client = Sayna(sayna_server.url)
    outcome: list[BaseException] = []

    def connect() -> None:
        try:
            client.connect(STT, TTS, timeout=30)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=connect)
    thread.start()
    sayna_server.wait_for_session().wait_for_frame("config")
    client.close()
    thread.join(5)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], SaynaNotConnectedError)
    assert our_threads() == []


def test_pings_and_close_work_on_descriptors_above_1024(sayna_server: FakeServer) -> None:
    """With more than 1024 files open, pings and the close handshake still work."""
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with Sayna(sayna_server.url, ping_interval=0.05, ping_timeout=0.3) as client:
            session = client.connect(STT, TTS)
            fake = sayna_server.wait_for_session()
            assert session._core.connection.sock.fileno() > 1024
            assert session.next_event(1.0) is not None  # ready
            assert session.next_event(0.6) is None  # pings answered meanwhile
            assert session.ready
            started = time.monotonic()
            session.close()
            assert time.monotonic() - started < 0.3
            assert fake.closed.wait(5)
            assert fake.client_close_code == 1000
    finally:
        for fd in filler:
            os.close(fd)
