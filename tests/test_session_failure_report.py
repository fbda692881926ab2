"""A dropped session is reported once: to its consumer if it has one, else as one WARNING."""

from __future__ import annotations

import logging

import pytest

from sayna import CloseEvent, ReadyEvent, ReconnectPolicy, SaynaConnectionClosedError
from sayna._realtime.session import Session
from sayna.testing import FakeSession
from tests.support.lone_server import reconnecting_session
from tests.support.polling import wait_until


def _ended_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "sayna" and r.levelno >= logging.WARNING and "ended" in r.getMessage()
    ]


def test_a_drop_nobody_consumes_is_logged_once_as_a_warning(
    pair: tuple[Session, FakeSession], caplog: pytest.LogCaptureFixture
) -> None:
    """With no iterator, wait or close callback, the log is the report: one WARNING."""
    caplog.set_level(logging.INFO, logger="sayna")
    session, fake = pair
    fake.drop()
    wait_until(lambda: not session.connected)
    wait_until(lambda: len(_ended_warnings(caplog)) == 1)
    assert "connection" in _ended_warnings(caplog)[0]


def test_a_drop_an_iterator_raises_is_not_logged_as_a_warning(
    pair: tuple[Session, FakeSession], caplog: pytest.LogCaptureFixture
) -> None:
    """An open iterator raises the error, so the log records it at INFO only."""
    caplog.set_level(logging.INFO, logger="sayna")
    session, fake = pair
    iterator = session.events(timeout=5)
    assert isinstance(next(iterator), ReadyEvent)
    fake.drop()
    assert isinstance(next(iterator), CloseEvent)
    with pytest.raises(SaynaConnectionClosedError):
        next(iterator)
    # The report's level is chosen when its line is written, which may be just
    # after the close event reached the iterator: wait for the line, then look.
    wait_until(
        lambda: any(
            r.levelno == logging.INFO and "ended" in r.getMessage()
            for r in caplog.records
            if r.name == "sayna"
        )
    )
    assert _ended_warnings(caplog) == []


def test_a_drop_a_close_callback_receives_is_not_logged_as_a_warning(
    pair: tuple[Session, FakeSession], caplog: pytest.LogCaptureFixture
) -> None:
    """A callback registered for the close event is its consumer: no WARNING on top."""
    caplog.set_level(logging.INFO, logger="sayna")
    session, fake = pair
    seen: list[CloseEvent] = []
    session.on(CloseEvent, seen.append)
    fake.drop()
    wait_until(lambda: len(seen) == 1)
    assert isinstance(seen[0].error, SaynaConnectionClosedError)
    assert _ended_warnings(caplog) == []


def test_reconnect_giving_up_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    """When reconnecting fails, a session nobody consumes logs one failure WARNING, not two."""
    caplog.set_level(logging.INFO, logger="sayna")
    policy = ReconnectPolicy(max_attempts=1, initial_delay=0.01, max_delay=0.01)
    with reconnecting_session(policy) as (server, session):
        server.stop()
        wait_until(lambda: session.close_event is not None, timeout=10)
        failures = [
            r.getMessage()
            for r in caplog.records
            if r.name == "sayna"
            and r.levelno >= logging.WARNING
            and "; reconnecting" not in r.getMessage()
        ]
        assert len(failures) == 1, failures
        assert "reconnecting failed" in failures[0]
