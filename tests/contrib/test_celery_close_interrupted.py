"""sayna.contrib.celery when the interruption strikes while session() closes (issue 22, item 12).

Celery's prefork pool raises ``SoftTimeLimitExceeded`` from a ``SIGUSR1``
handler; here the same handler gets a real ``SIGUSR1`` while ``close()`` waits
for a server that never answers. The same code in real worker processes is in
tests/integration/test_celery_close_interrupted.py.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from sayna import Session
from sayna._realtime import connection as connection_module
from sayna.contrib import celery as sayna_celery
from sayna.contrib.celery import SessionInterrupted, session
from sayna.testing import FakeServer
from tests.contrib.test_contrib_celery import worker_process  # noqa: F401 - the fixture
from tests.support.polling import wait_until
from tests.support.speech_configs import STT, TTS


def _session_threads() -> list[str]:
    return [
        t.name for t in threading.enumerate() if t.name.startswith(("sayna-reader", "sayna-disp"))
    ]


def _soft_limit(signum: int, frame: Any) -> None:
    raise SoftTimeLimitExceeded()


@pytest.fixture
def soft_limit_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """SIGUSR1 raises SoftTimeLimitExceeded, as in a prefork pool process; close() waits long."""
    monkeypatch.setattr(connection_module, "CLOSE_HANDSHAKE_TIMEOUT", 30.0)
    saved = signal.signal(signal.SIGUSR1, _soft_limit)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, saved)


def _signal_once_closing(live: Session, signum: int) -> threading.Thread:
    """Send ``signum`` to this process while ``live``'s close() waits for the server.

    Waiting for the state rather than a fixed delay keeps the signal inside
    close() however slowly a loaded machine gets there; the short pause after
    puts it in the wait for the server's Close (30 s here), not in the steps
    before it.
    """

    def send() -> None:
        wait_until(lambda: not live.connected, timeout=30)
        time.sleep(0.2)
        os.kill(os.getpid(), signum)

    thread = threading.Thread(target=send, name="test-signal", daemon=True)
    thread.start()
    return thread


def test_a_soft_time_limit_during_close_is_session_interrupted(
    worker_process: FakeServer,  # noqa: F811
    soft_limit_handler: None,
) -> None:
    """The limit striking inside close(): SessionInterrupted, the session closed, no thread left."""
    opened: list[Session] = []
    signallers: list[threading.Thread] = []

    def task() -> None:
        with session(stt_config=STT, tts_config=TTS) as live:
            opened.append(live)
            worker_process.wait_for_session().pause_reading()  # our Close goes unanswered
            signallers.append(_signal_once_closing(live, signal.SIGUSR1))

    with pytest.raises(SessionInterrupted) as info:
        task()
    signallers[0].join()
    assert info.value.reason == "soft_time_limit"
    assert isinstance(info.value.__cause__, SoftTimeLimitExceeded)
    assert opened[0].close_event is not None
    wait_until(lambda: _session_threads() == [], timeout=5)


def test_a_shutdown_notice_while_an_inner_block_closes(
    worker_process: FakeServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A notice during an inner block's close lets it finish, then interrupts the outer block."""
    monkeypatch.setattr(connection_module, "CLOSE_HANDSHAKE_TIMEOUT", 30.0)
    opened: list[Session] = []
    signallers: list[threading.Thread] = []
    after_inner: list[str] = []

    def task() -> None:
        with session(stt_config=STT, tts_config=TTS) as outer:
            opened.append(outer)
            worker_process.wait_for_session()
            with session(stt_config=STT, tts_config=TTS, stream_id="inner") as inner:
                opened.append(inner)
                fake = next(s for s in worker_process.sessions if s.stream_id == "inner")
                wait_until(lambda: fake.ready, timeout=5)
                fake.pause_reading()
                signallers.append(_signal_once_closing(inner, sayna_celery.SHUTDOWN_NOTICE))
            after_inner.append("ran")  # the notice must take effect before this

    with pytest.raises(SessionInterrupted) as info:
        task()
    signallers[0].join()
    assert info.value.reason == "worker_shutdown"
    assert after_inner == []
    assert all(s.close_event is not None for s in opened)
    wait_until(lambda: _session_threads() == [], timeout=5)
