"""Playback.drain() and Session.wait_callbacks(): nothing the session said is cut off.

``say()`` returns when the iterator side sees ``tts_playback_complete``, but
play_on() feeds the speaker from a callback, on the dispatcher thread, which
may still be behind (the last 192 bytes of a ``sayna say --play`` were lost in
CI that way). A callback held on purpose keeps the dispatcher behind here.
"""

from __future__ import annotations

import array
import threading
import time

from sayna import SaynaValidationError, Session, TTSAudioEvent
from sayna.audio import Speaker, resample
from tests.support.held_stream import HeldStream

TIMEOUT = 10


def _hold_audio(session: Session) -> threading.Event:
    """Holds the dispatcher at the first audio frame until the returned event is set."""
    release = threading.Event()
    session.on(TTSAudioEvent, lambda _: release.wait(TIMEOUT))
    return release


def test_drain_waits_for_the_callbacks_still_feeding(
    session: Session, held_stream: HeldStream
) -> None:
    """say() has returned while the speaker was fed nothing yet; drain() plays it all."""
    release = _hold_audio(session)
    with Speaker(sample_rate=16000) as speaker, session.play_on(speaker) as playback:
        audio = session.say("Every last sample.")
        assert speaker.queued == 0  # nothing fed yet
        assert not held_stream.held
        threading.Timer(0.2, release.set).start()
        assert playback.drain(timeout=TIMEOUT)
    assert bytes(held_stream.played) == audio.data
    assert held_stream.calls == ["stop", "close"]


def test_drain_flushes_the_resampler(session: Session, held_stream: HeldStream) -> None:
    """16 kHz speech on a 48 kHz speaker: the filter's held tail plays too (exact length)."""
    with Speaker(sample_rate=48000) as speaker, session.play_on(speaker) as playback:
        audio = session.say("Three times the rate.")
        assert playback.drain(timeout=TIMEOUT)
    got = array.array("h", bytes(held_stream.played))
    want = array.array("h", resample(audio.data, 16000, 48000))
    assert len(got) == len(want)
    assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= 4


def test_drain_times_out_while_a_callback_holds_the_dispatcher(
    session: Session, held_stream: HeldStream
) -> None:
    release = _hold_audio(session)
    try:
        with Speaker(sample_rate=16000) as speaker, session.play_on(speaker) as playback:
            session.say("Held.")
            started = time.monotonic()
            assert not playback.drain(timeout=0.2)
            assert time.monotonic() - started >= 0.2
            release.set()
            assert playback.drain(timeout=TIMEOUT)
    finally:
        release.set()


def test_wait_callbacks_without_callbacks_is_true_at_once(session: Session) -> None:
    session.say("Nobody listens.")
    assert session.wait_callbacks(timeout=0)


def test_wait_callbacks_waits_for_a_replayed_handler(session: Session) -> None:
    """A handler registered during the setup is replayed `ready`; until it returns, not done."""
    release = threading.Event()
    replayed: list[str] = []

    def slow(event: object) -> None:
        release.wait(TIMEOUT)
        replayed.append(type(event).__name__)

    session.on("ready", lambda _: None)
    assert session.wait_callbacks(timeout=TIMEOUT)  # the dispatcher is past `ready`
    session.on("ready", slow)  # no send yet: replayed what came before it
    assert not session.wait_callbacks(timeout=0.2)
    release.set()
    assert session.wait_callbacks(timeout=TIMEOUT)
    assert replayed == ["ReadyEvent"]


def test_wait_callbacks_from_a_callback_is_refused(session: Session) -> None:
    """It would wait for itself: a clear error at the call site instead of a hang."""
    raised: list[BaseException] = []
    done = threading.Event()

    def inside(_: object) -> None:
        try:
            session.wait_callbacks(timeout=TIMEOUT)
        except BaseException as exc:
            raised.append(exc)
        done.set()

    session.on("ready", inside)
    assert done.wait(TIMEOUT)
    assert len(raised) == 1
    assert isinstance(raised[0], SaynaValidationError)
    assert "cannot be called from a callback" in str(raised[0])


def test_wait_callbacks_after_the_session_ended(session: Session) -> None:
    """A stopped dispatcher has nothing left to run: True, never a hang."""
    session.on("ready", lambda _: None)
    session.close()
    assert session.wait_callbacks(timeout=TIMEOUT)


def test_drain_of_a_stopped_playback_is_the_speakers(
    session: Session, held_stream: HeldStream
) -> None:
    with Speaker(sample_rate=16000) as speaker:
        playback = session.play_on(speaker)
        playback.stop()
        speaker.feed(b"\x01\x00" * 4)
        assert playback.drain(timeout=TIMEOUT)
        assert bytes(held_stream.held) == b"\x01\x00" * 4
