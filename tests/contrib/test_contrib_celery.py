"""sayna.contrib.celery in one process: the per-process client, session(), the shutdown notice.

The same code in real worker processes, with a real broker, is in tests/integration.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import threading
from collections.abc import Iterator

import pytest
from celery import Celery, signals
from celery.exceptions import SoftTimeLimitExceeded

from sayna import SaynaConnectionClosedError, SaynaConnectionError, SaynaValidationError
from sayna.contrib import celery as sayna_celery
from sayna.contrib.celery import SessionInterrupted, client, configure, session
from sayna.testing import FakeServer
from tests.support.speech_configs import STT, TTS


@pytest.fixture
def worker_process(sayna_server: FakeServer) -> Iterator[FakeServer]:
    """This process plays a fresh pool process: its own state, the notice handler installed."""
    saved_state, saved_options = sayna_celery._state, dict(sayna_celery._options)
    saved_handler = signal.getsignal(sayna_celery.SHUTDOWN_NOTICE)
    sayna_celery._state = sayna_celery._ProcessState()
    configure(url=sayna_server.url, timeout=10)
    signals.worker_process_init.send(sender=None)
    try:
        yield sayna_server
    finally:
        signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
        signal.signal(sayna_celery.SHUTDOWN_NOTICE, saved_handler)
        sayna_celery._state = saved_state
        sayna_celery._options.clear()
        sayna_celery._options.update(saved_options)


def _session_threads() -> list[str]:
    return [
        t.name for t in threading.enumerate() if t.name.startswith(("sayna-reader", "sayna-disp"))
    ]


def test_client_is_one_per_process_and_closed_at_process_shutdown(
    worker_process: FakeServer,
) -> None:
    """client() returns one client per process; worker_process_shutdown closes it."""
    first = client()
    assert client() is first
    assert first.health().status == "OK"
    signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert first.closed


def test_a_forked_child_gets_its_own_client(worker_process: FakeServer) -> None:
    """A pool process forked after the parent used client() creates and uses its own."""
    parent = client()
    parent.health()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's cleanup
        try:
            mine = client()
            ok = mine is not parent and mine.health().status == "OK"
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"1"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert client() is parent


def test_configure_refuses_unknown_arguments() -> None:
    """A misspelt Sayna argument is refused when configured, not at the first task."""
    with pytest.raises(SaynaValidationError, match="timout"):
        configure(timout=3)


def test_session_closes_and_leaves_no_thread(worker_process: FakeServer) -> None:
    """Leaving the block closes the session with 1000 and joins its threads."""
    with session(stt_config=STT, tts_config=TTS) as call:
        call.on_any(lambda event: None)  # starts the dispatcher thread too
        assert call.say("all good").data
    fake = worker_process.sessions[-1]
    assert fake.closed.wait(5)
    assert fake.client_close_code == 1000
    assert _session_threads() == []


def test_soft_time_limit_in_the_block_becomes_session_interrupted(
    worker_process: FakeServer,
) -> None:
    """SoftTimeLimitExceeded inside the block closes the session and raises SessionInterrupted."""
    with pytest.raises(SessionInterrupted) as info, session(stt_config=STT, tts_config=TTS):
        raise SoftTimeLimitExceeded()
    assert info.value.reason == "soft_time_limit"
    assert isinstance(info.value.__cause__, SoftTimeLimitExceeded)
    assert worker_process.sessions[-1].client_close_code == 1000
    assert _session_threads() == []


def test_shutdown_notice_interrupts_a_waiting_session(worker_process: FakeServer) -> None:
    """The warm-shutdown notice (SIGUSR2) ends a blocked wait with SessionInterrupted."""
    timer = threading.Timer(0.3, os.kill, (os.getpid(), sayna_celery.SHUTDOWN_NOTICE))

    def hold() -> None:
        with session(stt_config=STT, tts_config=TTS) as call:
            timer.start()
            for _event in call.events(timeout=30):  # the server sends nothing more
                pass

    with pytest.raises(SessionInterrupted) as info:
        hold()
    timer.join()
    assert info.value.reason == "worker_shutdown"
    assert worker_process.sessions[-1].client_close_code == 1000
    assert _session_threads() == []
    # Told to stop, the process opens no new session.
    with pytest.raises(SessionInterrupted), session(stt_config=STT, tts_config=TTS):
        pytest.fail("a session was opened after the shutdown notice")
    assert len(worker_process.sessions) == 1


def test_shutdown_notice_outside_a_session_only_marks_the_process(
    worker_process: FakeServer,
) -> None:
    """Outside session() the notice raises nothing; the next session() is refused."""
    os.kill(os.getpid(), sayna_celery.SHUTDOWN_NOTICE)
    assert client().health().status == "OK"  # plain REST still works while draining
    with pytest.raises(SessionInterrupted), session(stt_config=STT, tts_config=TTS):
        pass


def test_a_dropped_connection_fails_the_block_with_a_connection_error(
    worker_process: FakeServer,
) -> None:
    """Plain sayna already fails the task when the connection drops: nothing to add here."""

    def listen_until_the_end() -> None:
        with session(stt_config=STT, tts_config=TTS) as call:
            worker_process.sessions[-1].drop()
            for _event in call.events(timeout=30):
                pass

    with pytest.raises(SaynaConnectionClosedError):
        listen_until_the_end()
    assert _session_threads() == []


def test_session_interrupted_is_retryable_and_crosses_processes() -> None:
    """SessionInterrupted is a SaynaConnectionError and keeps reason through pickle and JSON."""
    error = SessionInterrupted("cut short", reason="worker_shutdown")
    assert isinstance(error, SaynaConnectionError)
    assert pickle.loads(pickle.dumps(error)).reason == "worker_shutdown"
    backend = Celery(backend="cache+memory://", set_as_current=False).backend
    stored = json.loads(json.dumps(backend.prepare_exception(error, "json")))
    again = backend.exception_to_python(stored)
    assert type(again) is SessionInterrupted
    assert (str(again), again.reason) == ("cut short", "worker_shutdown")
