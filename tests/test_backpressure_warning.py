"""A consumer that holds the session's reader is named: one WARNING and the timeout's message
(issue 15, point 5)."""

from __future__ import annotations

import logging
import sys
import threading

import pytest

from sayna import SaynaTimeoutError, Session, STTResultEvent, TTSConfig
from sayna._realtime import eventlog as _eventlog
from sayna.testing import encode_speech
from tests.support.speech_configs import STT

TTS = TTSConfig(provider="deepgram", model="", sample_rate=16000)
LONG = "A sentence long enough to need many more audio chunks than the buffer holds. " * 2


# The session fixture: a log of 16 events, filled by 20 ms TTS chunks at 50x speed.
pytestmark = [
    pytest.mark.fake_server(tts_speedup=50, tts_chunk_ms=20),
    pytest.mark.connect(stt_config=STT, tts_config=TTS, max_buffered_events=16),
]


@pytest.fixture(autouse=True)
def _quick_stall_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backpressure WARNING comes after 0.3 s (set before the session opens)."""
    monkeypatch.setattr(_eventlog, "STALL_WARNING_SECONDS", 0.3)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "sayna" and r.levelno == logging.WARNING and "has waited" in r.getMessage()
    ]


def test_an_unread_iterator_is_named_by_where_it_was_created(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    """say() behind an iterator nobody reads: one WARNING and the timeout name the iterator."""
    caplog.set_level(logging.WARNING, logger="sayna")
    forgotten = session.events()
    site = f"{__file__}:{sys._getframe().f_lineno - 1}"
    with pytest.raises(SaynaTimeoutError) as info:
        session.say(LONG, timeout=3)
    assert f"the events() iterator created at {site}" in str(info.value)
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert site in warnings[0]
    assert "max_buffered_events=16" in warnings[0]
    forgotten.close()
    assert len(session.say("Back to normal.", timeout=10)) > 0


def test_a_blocked_callback_is_named_by_where_it_waits(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback that never returns is named with the file and line where it is stuck."""
    caplog.set_level(logging.WARNING, logger="sayna")
    release = threading.Event()
    stuck_line = sys._getframe().f_lineno + 3

    def stuck(event: object) -> None:
        release.wait(20)

    session.on(STTResultEvent, stuck)
    try:
        session.on_audio_input(encode_speech("one two three four five six seven eight", 16000))
        with pytest.raises(SaynaTimeoutError) as info:
            session.say(LONG, timeout=3)
        assert f"a callback that has not returned (it is at {__file__}:{stuck_line})" in str(
            info.value
        )
        assert len(_warnings(caplog)) == 1
    finally:
        release.set()


def test_no_warning_when_consumers_keep_up(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    """A long utterance read by say() alone never triggers the warning."""
    caplog.set_level(logging.WARNING, logger="sayna")
    assert len(session.say(LONG, timeout=20)) > 0
    assert _warnings(caplog) == []
