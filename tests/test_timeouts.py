"""One timeout check at the call, everywhere a timeout is taken (issue 15, point 4)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from sayna import Sayna, SaynaValidationError, Session
from sayna._validation import MAX_TIMEOUT, require_positive_seconds, require_wait
from sayna.testing import FakeServer
from tests.support.speech_configs import TTS

BAD = [-1, math.nan, math.inf, -math.inf, "x", "5", True, False, [1], MAX_TIMEOUT * 2, 1e12]


# The session fixture: a plain server, the STT and TTS of speech_configs.
pytestmark = [pytest.mark.fake_server(), pytest.mark.connect(tts_config=TTS)]


@pytest.mark.parametrize("value", [*BAD, 0, 0.0, None])
def test_positive_seconds_refuses_what_cannot_be_a_timeout(value: object) -> None:
    """Strings, bools, NaN, infinities, zero, negatives and overflowing values are refused."""
    with pytest.raises(SaynaValidationError) as info:
        require_positive_seconds(value, "timeout")
    assert info.value.field == "timeout"


@pytest.mark.parametrize("value", BAD)
def test_wait_refuses_the_same_values(value: object) -> None:
    """A consumer's wait refuses the same values but accepts None and zero."""
    with pytest.raises(SaynaValidationError):
        require_wait(value)


def test_wait_accepts_none_zero_and_the_maximum() -> None:
    """None (no limit), 0 (do not wait) and MAX_TIMEOUT itself pass."""
    assert require_wait(None) is None
    assert require_wait(0) == 0.0
    assert require_wait(MAX_TIMEOUT) == MAX_TIMEOUT
    assert require_positive_seconds(2, "timeout") == 2.0


@pytest.mark.parametrize("value", [1e12, math.nan, -1, "x", True])
def test_client_constructor_refuses_bad_timeouts(value: object, sayna_server: FakeServer) -> None:
    """Sayna(url, timeout=1e12) fails when built, before any socket exists."""
    with pytest.raises(SaynaValidationError, match="timeout"):
        Sayna(sayna_server.url, timeout=value)  # type: ignore[arg-type]


CALLS: list[tuple[str, Callable[[Session, Any], object]]] = [
    ("events", lambda s, t: s.events(timeout=t)),
    ("next_event", lambda s, t: s.next_event(timeout=t)),
    ("wait_for", lambda s, t: s.wait_for("ready", timeout=t)),
    ("say", lambda s, t: s.say("hello", timeout=t)),
    ("transcribe", lambda s, t: s.transcribe(b"\0\0" * 1600, timeout=t)),
]


@pytest.mark.parametrize("value", [-1, math.nan, "x", 1e12, True])
@pytest.mark.parametrize(("name", "call"), CALLS, ids=[n for n, _ in CALLS])
def test_session_calls_refuse_bad_timeouts_when_called(
    session: Session, name: str, call: Callable[[Session, Any], object], value: object
) -> None:
    """events(), next_event(), wait_for(), say() and transcribe() raise at the call itself."""
    with pytest.raises(SaynaValidationError, match="timeout"):
        call(session, value)
    assert session.connected  # nothing was sent or broken by the refused call


def test_close_refuses_a_nan_timeout(session: Session) -> None:
    """close(timeout=nan) is refused instead of computing a NaN deadline."""
    with pytest.raises(SaynaValidationError, match="timeout"):
        session.close(timeout=math.nan)


def test_close_takes_zero_but_not_none(session: Session) -> None:
    """close(timeout=None) is refused (close always has a bound); close(timeout=0) works."""
    with pytest.raises(SaynaValidationError, match="timeout"):
        session.close(timeout=None)  # type: ignore[arg-type]
    session.close(timeout=0)
    assert not session.connected
