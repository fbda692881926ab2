"""Callbacks at the edges: exits raised in a callback, and late registrations' replay."""

from __future__ import annotations

import logging
import threading

import pytest

from sayna import Sayna
from sayna._events import (
    CallbackErrorEvent,
    ErrorEvent,
    Event,
    ReadyEvent,
    TTSPlaybackCompleteEvent,
)
from sayna._realtime.session import Session
from sayna.testing import FakeServer, FakeSession
from tests.support.polling import wait_until
from tests.support.speech_configs import STT, TTS


@pytest.mark.parametrize("exit_exc", [SystemExit(3), KeyboardInterrupt()])
def test_an_exit_raised_in_a_callback_stops_no_other_callback_and_is_raised_at_close(
    client: Sayna,
    sayna_server: FakeServer,
    caplog: pytest.LogCaptureFixture,
    exit_exc: BaseException,
) -> None:
    """SystemExit/KeyboardInterrupt in a callback is logged, evented, and re-raised by close()."""
    session = client.connect(STT, TTS)
    fake = sayna_server.wait_for_session()
    later: list[str] = []

    def exits(event: ErrorEvent) -> None:
        if event.message == "first":
            raise exit_exc

    session.on(ErrorEvent, exits)
    session.on(ErrorEvent, lambda event: later.append(event.message))
    with session.events(timeout=5) as events, caplog.at_level(logging.ERROR, "sayna"):
        fake.send_event({"type": "error", "message": "first"})
        fake.send_event({"type": "error", "message": "second"})
        wait_until(lambda: later == ["first", "second"])
        failure = next(e for e in events if isinstance(e, CallbackErrorEvent))
    assert failure.error is exit_exc
    assert "Traceback" in caplog.text
    assert session.callback_errors == [exit_exc]
    with pytest.raises(type(exit_exc)) as info:
        session.close()
    assert info.value is exit_exc
    session.close()  # raised once: quiet afterwards


def test_an_exit_in_a_callback_registered_before_ready_arrives_is_replayed_safely(
    pair: tuple[Session, FakeSession],
) -> None:
    """An exit raised while replaying setup events does not stop the later callbacks."""
    session, fake = pair
    seen: list[str] = []

    def exits(event: Event) -> None:
        raise SystemExit(1)

    session.on(ReadyEvent, exits)
    session.on(None, lambda event: seen.append(event.type))
    fake.send_event({"type": "error", "message": "after"})
    wait_until(lambda: "error" in seen)
    assert seen[0] == "ready"
    with pytest.raises(SystemExit):
        session.close()


def test_a_late_callback_gets_an_arrived_event_without_waiting_for_another(
    pair: tuple[Session, FakeSession],
) -> None:
    """A callback registered after the dispatcher caught up is replayed what arrived, at once."""
    session, fake = pair
    first: list[str] = []
    session.on(None, lambda event: first.append(event.type))
    fake.send_event({"type": "tts_playback_complete", "timestamp": 1})
    wait_until(lambda: "tts_playback_complete" in first)
    # The dispatcher now waits for the next event; nothing else will arrive.
    second = threading.Event()
    session.on(TTSPlaybackCompleteEvent, lambda event: second.set())
    assert second.wait(5), "the replay waited for a later event"
