"""Error and warning messages that read right: they name the call and what went wrong."""

from __future__ import annotations

import logging
import threading

import pytest

from sayna import (
    Sayna,
    SaynaNotConnectedError,
    SaynaValidationError,
    Session,
)
from sayna._events import CloseEvent, Event
from sayna._realtime.eventlog import EventLog
from sayna._wav import pace
from sayna.testing import FakeServer
from tests.support.polling import wait_until
from tests.support.speech_configs import STT, TTS_16K


def test_audio_on_a_session_without_audio_names_the_method(server: FakeServer) -> None:
    """on_audio_input on a without_audio session names the call, not 'audio needs audio'."""
    with (
        Sayna(server.url) as client,
        client.connect(without_audio=True) as session,
        pytest.raises(SaynaValidationError) as info,
    ):
        session.on_audio_input(b"\0\0")
    message = str(info.value)
    assert message.startswith("on_audio_input() ")
    assert "audio needs audio" not in message


def test_pace_names_speed_only() -> None:
    """A bad speed is reported as speed; users never pass bytes_per_second."""
    with pytest.raises(SaynaValidationError, match=r"^speed must be a positive number$"):
        list(pace([b"x"], bytes_per_second=32000, speed=0))


def test_transcribe_names_a_bad_speed(server: FakeServer) -> None:
    """transcribe(speed='fast') is refused at the call, naming speed."""
    with (
        Sayna(server.url) as client,
        client.connect(stt_config=STT, tts_config=TTS_16K) as session,
        pytest.raises(SaynaValidationError) as info,
    ):
        session.transcribe(b"\0\0" * 160, realtime=True, speed="fast")  # type: ignore[arg-type]
    assert info.value.field == "speed"


def test_say_after_close_says_the_session_is_closed(server: FakeServer) -> None:
    """say() on a closed session says so, not 'the session closed while starting'."""
    with Sayna(server.url) as client:
        session: Session = client.connect(stt_config=STT, tts_config=TTS_16K)
        session.close()
        with pytest.raises(SaynaNotConnectedError) as info:
            session.say("hello")
        assert "while starting" not in str(info.value)
        assert "closed" in str(info.value)
        with pytest.raises(SaynaNotConnectedError, match="closed"):
            session.transcribe(b"\0\0" * 160)


def test_say_after_the_server_closed_says_the_session_is_closed(server: FakeServer) -> None:
    """say() after the server ended the session says it is closed, not 'while starting'."""
    with Sayna(server.url) as client:
        session = client.connect(stt_config=STT, tts_config=TTS_16K)
        server.wait_for_session().close(1000, "bye")
        wait_until(lambda: not session.connected)
        with pytest.raises(SaynaNotConnectedError) as info:
            session.say("hello")
        assert str(info.value) == "say() needs an open session; this one is closed"
        session.close()


def test_say_just_before_the_close_reaches_the_log_says_the_same(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The end is recorded just before its CloseEvent is logged: say() in between says the same."""
    logged = threading.Event()
    append = EventLog.append

    def late_close(log: EventLog, event: Event, *, force: bool = False) -> bool:
        if isinstance(event, CloseEvent):
            logged.wait(10)  # held until say() has run
        return append(log, event, force=force)

    monkeypatch.setattr(EventLog, "append", late_close)
    with Sayna(server.url) as client:
        session = client.connect(stt_config=STT, tts_config=TTS_16K)
        server.wait_for_session().close(1000, "bye")
        wait_until(lambda: session.close_event is not None)
        try:
            with pytest.raises(SaynaNotConnectedError) as info:
                session.say("hello")
        finally:
            logged.set()
        assert str(info.value) == "say() needs an open session; this one is closed"
        session.close()


def test_say_skips_earlier_events_without_a_warning(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Events dropped before say() are skipped silently: skipping them is its documented job."""
    with (
        Sayna(server.url) as client,
        client.connect(stt_config=STT, tts_config=TTS_16K, max_buffered_events=16) as session,
    ):
        fake = server.wait_for_session()
        fake.send_events([{"type": "error", "message": f"old {n}"} for n in range(60)])
        session.wait_for(lambda e: getattr(e, "message", "") == "old 59", timeout=10)
        # The wait consumed them; now let more pile up, unread, past the bound.
        log = session._core.log
        arrived = log.end + 60
        fake.send_events([{"type": "error", "message": f"older {n}"} for n in range(60)])
        wait_until(lambda: log.end >= arrived)
        assert len(log) < 60  # the unread ones were dropped
        with caplog.at_level(logging.WARNING, logger="sayna"):
            assert len(session.say("fresh")) > 0
    assert "discarded" not in caplog.text
