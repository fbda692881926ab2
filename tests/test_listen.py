"""Session.listen() and Session.turns(): user turns from the event log, over a real socket."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from sayna import (
    Sayna,
    SaynaNotConnectedError,
    SaynaTimeoutError,
    Session,
    STTResultEvent,
    Turn,
)
from sayna.testing import FakeServer, FakeSession
from tests.support.speech_configs import STT, TTS_16K
from tests.support.stt_push import interim, open_call, say_turn, stt_frame


@pytest.fixture
def call(
    server: FakeServer, request: pytest.FixtureRequest
) -> Iterator[tuple[Session, FakeSession]]:
    """A session and its server side."""
    with open_call(server, request) as pair:
        yield pair


def test_final_segments_are_joined_up_to_the_end_of_turn(call: tuple[Session, FakeSession]) -> None:
    """Interim results are left out; the finals of one turn are joined, with their events."""
    session, fake = call
    say_turn(fake, "I would like", "to book a table")
    turn = session.listen(timeout=5)
    assert isinstance(turn, Turn)
    assert turn.text == "I would like to book a table"
    assert [s.transcript for s in turn.segments] == ["I would like", "to book a table"]
    assert all(isinstance(s, STTResultEvent) and s.is_final for s in turn.segments)
    assert turn.started_at <= turn.ended_at <= time.monotonic()
    assert not turn.barged_in


def test_turns_that_ended_before_the_call_come_back_once_and_in_order(
    call: tuple[Session, FakeSession],
) -> None:
    """Three turns pushed while nobody listens are all returned, in order, none twice."""
    session, fake = call
    say_turn(fake, "one")
    assert session.listen(timeout=5).text == "one"
    for text in ("two", "three", "four"):
        say_turn(fake, text)
    fake.send_event({"type": "tts_playback_complete", "timestamp": 1})
    session.wait_for("tts_playback_complete", timeout=5)  # all of them have arrived
    assert [session.listen(timeout=5).text for _ in range(3)] == ["two", "three", "four"]
    with pytest.raises(SaynaTimeoutError):
        session.listen(timeout=0.2)


def test_a_turn_spoken_during_say_is_not_lost(call: tuple[Session, FakeSession]) -> None:
    """The trap of the hand-written loop: a turn that ends while say() consumes events."""
    session, fake = call
    say_turn(fake, "first")
    assert session.listen(timeout=5).text == "first"
    speaker = threading.Thread(target=lambda: say_turn(fake, "spoken over the answer"))
    speaker.start()
    session.say("Let me answer that at some length, so that the caller talks meanwhile.")
    speaker.join()
    assert session.listen(timeout=5).text == "spoken over the answer"


def test_an_events_iterator_does_not_steal_turns(call: tuple[Session, FakeSession]) -> None:
    """listen() reads through its own cursor: an iterator reading the same events takes nothing."""
    session, fake = call
    say_turn(fake, "warm up")
    session.listen(timeout=5)
    with session.events(timeout=5) as events:
        say_turn(fake, "seen by both")
        for event in events:
            if isinstance(event, STTResultEvent) and event.is_speech_final:
                break
    assert session.listen(timeout=5).text == "seen by both"


def test_the_first_listen_returns_a_turn_that_ended_before_it(
    call: tuple[Session, FakeSession],
) -> None:
    """A turn that ended before the first listen() is still returned."""
    session, fake = call
    say_turn(fake, "early bird")
    session.wait_for(lambda e: isinstance(e, STTResultEvent) and e.is_speech_final, timeout=5)
    assert session.listen(timeout=5).text == "early bird"


def test_listen_times_out_and_loses_nothing(call: tuple[Session, FakeSession]) -> None:
    """A timeout leaves the half-heard turn in place; the next call returns it whole."""
    session, fake = call
    fake.send_event(stt_frame("half", final=True))
    with pytest.raises(SaynaTimeoutError):
        session.listen(timeout=0.3)
    fake.send_event(stt_frame("done", final=True))
    fake.send_event(stt_frame("", speech_final=True))
    assert session.listen(timeout=5).text == "half done"


def test_turns_iterates_until_the_server_ends_the_session(
    call: tuple[Session, FakeSession],
) -> None:
    """turns() yields each turn, then the one cut short by the close, then stops."""
    session, fake = call
    say_turn(fake, "hello")
    say_turn(fake, "goodbye")
    fake.send_event(stt_frame("and one more", final=True))
    fake.close(1000)
    assert [t.text for t in session.turns(timeout=5)] == ["hello", "goodbye", "and one more"]
    with pytest.raises(SaynaNotConnectedError):
        session.listen(timeout=1)


def test_the_turn_reader_never_holds_the_socket_reader_up(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Events pile up unread by listen(): the log stays bounded and reading goes on."""
    with (
        Sayna(server.url) as client,
        client.connect(stt_config=STT, tts_config=TTS_16K, max_buffered_events=64) as session,
    ):
        fake = server.wait_for_session()
        say_turn(fake, "open the reader")
        assert session.listen(timeout=5).text == "open the reader"
        with session.events(timeout=5) as events:
            for index in range(2000):
                interim(fake, f"word {index}")
            fake.send_event({"type": "tts_playback_complete", "timestamp": 2})
            started = time.monotonic()
            for event in events:
                if event.type == "tts_playback_complete":
                    break
            assert time.monotonic() - started < 5
        assert len(session._core.log) <= 64
        with caplog.at_level(logging.WARNING, logger="sayna"):
            say_turn(fake, "after the flood")
            assert session.listen(timeout=5).text == "after the flood"
        assert "the turn reader missed" in caplog.text
