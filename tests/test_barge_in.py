"""Barge-in: the caller speaking over our speech stops it (connect(barge_in=...)), real sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from sayna import (
    BargeIn,
    Event,
    Sayna,
    SaynaValidationError,
    Session,
    SpeechInterruptedEvent,
    STTResultEvent,
    TTSAudioEvent,
)
from sayna.testing import FakeServer, FakeSession
from tests.support.polling import wait_until
from tests.support.speech_configs import STT, TTS_16K
from tests.support.stt_push import interim, open_call, say_turn

pytestmark = [pytest.mark.fake_server(tts_speedup=4), pytest.mark.connect(barge_in=True)]

LONG = (
    "This answer is long on purpose, so that it is still playing when the caller starts"
    " to talk over it, the way callers do when they have heard enough of it."
)


@pytest.fixture
def call(
    server: FakeServer, request: pytest.FixtureRequest
) -> Iterator[tuple[Session, FakeSession]]:
    """A session with barge-in (unless the connect marker says otherwise) and its server side."""
    with open_call(server, request) as pair:
        yield pair


def after_first_audio(session: Session, then: object) -> threading.Thread:
    """Run ``then()`` on a thread once the first TTS audio has reached the session."""
    started = threading.Event()
    session.on(TTSAudioEvent, lambda event: started.set())

    def run() -> None:
        started.wait(5)
        then()  # type: ignore[operator]

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def clears(fake: FakeSession, *, expected: int = 0) -> int:
    """How many clear frames the server received (after waiting for ``expected`` of them)."""
    for _ in range(expected):
        fake.wait_for_frame("clear", timeout=5)
    return sum(1 for frame in fake.received if frame.type == "clear")


def test_the_caller_interrupts_say_which_returns_early(call: tuple[Session, FakeSession]) -> None:
    """An interim result while say() plays sends clear; say() returns at once, interrupted."""
    session, fake = call
    thread = after_first_audio(session, lambda: say_turn(fake, "wait a second"))
    started = time.monotonic()
    result = session.say(LONG)
    took = time.monotonic() - started
    thread.join()
    assert result.interrupted
    assert took < 2.0  # the whole answer plays for about 3 s at this pace
    fake.wait_for_frame("clear", timeout=5)
    turn = session.listen(timeout=5)
    assert turn.text == "wait a second"
    assert turn.barged_in


def test_audio_queued_before_the_clear_is_dropped_for_every_consumer(
    call: tuple[Session, FakeSession],
) -> None:
    """Late audio of the cancelled speech reaches no iterator and no callback; it is counted."""
    session, fake = call
    from_callbacks: list[Event] = []
    session.on(None, from_callbacks.append)
    with session.events(timeout=5) as events:

        def talk_over() -> None:
            # The server reads nothing for a while: its TTS goes on sending the
            # cancelled speech after our clear, as a real server's queue does.
            fake.pause_reading()
            interim(fake, "hold on")
            time.sleep(0.4)
            fake.resume_reading()
            say_turn(fake, "hold on please")

        thread = after_first_audio(session, talk_over)
        session.speak(LONG)
        seen: list[Event] = []
        for event in events:
            seen.append(event)
            if isinstance(event, SpeechInterruptedEvent):
                break
        thread.join()
    interruption = seen[-1]
    assert isinstance(interruption, SpeechInterruptedEvent)
    assert interruption.heard == "hold on"
    assert interruption.cancelled_text == (LONG,)
    assert interruption.discarded_bytes > 0
    trigger = next(
        i for i, e in enumerate(seen) if isinstance(e, STTResultEvent) and e.transcript == "hold on"
    )
    assert not any(isinstance(e, TTSAudioEvent) for e in seen[trigger:])
    wait_until(lambda: any(isinstance(e, SpeechInterruptedEvent) for e in from_callbacks))
    at = next(
        i
        for i, e in enumerate(from_callbacks)
        if isinstance(e, STTResultEvent) and e.transcript == "hold on"
    )
    stop = next(i for i, e in enumerate(from_callbacks) if isinstance(e, SpeechInterruptedEvent))
    assert not any(isinstance(e, TTSAudioEvent) for e in from_callbacks[at:stop])
    assert clears(fake, expected=1) == 1


def test_a_backchannel_does_not_interrupt(call: tuple[Session, FakeSession]) -> None:
    """ "Mhm." and "yeah" while we speak change nothing: no clear, the whole answer arrives."""
    session, fake = call
    thread = after_first_audio(session, lambda: say_turn(fake, "Mhm.", "yeah"))
    result = session.say(LONG)
    thread.join()
    assert not result.interrupted
    assert session.listen(timeout=5).text == "Mhm. yeah"
    assert clears(fake) == 0


@pytest.mark.connect(barge_in=BargeIn(min_words=3))
def test_min_words_decides_how_much_speech_interrupts(call: tuple[Session, FakeSession]) -> None:
    """With min_words=3, two words do not interrupt and three do."""
    session, fake = call

    def talk() -> None:
        interim(fake, "no wait")
        time.sleep(0.2)
        interim(fake, "no wait stop")
        say_turn(fake, "no wait stop", interims=False)

    interruptions: list[SpeechInterruptedEvent] = []
    session.on(SpeechInterruptedEvent, interruptions.append)
    thread = after_first_audio(session, talk)
    result = session.say(LONG)
    thread.join()
    assert result.interrupted
    assert clears(fake, expected=1) == 1
    wait_until(lambda: bool(interruptions))
    assert [i.heard for i in interruptions] == ["no wait stop"]


def test_speech_sent_without_allow_interruption_is_not_interrupted(
    call: tuple[Session, FakeSession],
) -> None:
    """speak(allow_interruption=False) plays to the end whatever the caller says."""
    session, fake = call
    with session.events(timeout=5) as events:
        thread = after_first_audio(session, lambda: say_turn(fake, "stop talking now"))
        session.speak(LONG, allow_interruption=False)
        for event in events:
            assert not isinstance(event, SpeechInterruptedEvent)
            if event.type == "tts_playback_complete":
                break
        thread.join()
    assert clears(fake) == 0


@pytest.mark.connect(barge_in=False)
def test_without_barge_in_nothing_interrupts(call: tuple[Session, FakeSession]) -> None:
    """The default: the caller's words while we speak send nothing."""
    session, fake = call
    thread = after_first_audio(session, lambda: say_turn(fake, "stop talking now"))
    result = session.say(LONG)
    thread.join()
    assert not result.interrupted
    assert clears(fake) == 0
    assert session.listen(timeout=5).barged_in  # our audio went on during the turn


def test_a_vad_speech_start_interrupts(call: tuple[Session, FakeSession]) -> None:
    """Where the server sends VAD events, speech_start interrupts before any transcript."""
    session, fake = call

    def talk() -> None:
        fake.send_event({"type": "vad_event", "event": "speech_start", "timestamp_ms": 1})
        say_turn(fake, "hmm actually", interims=False)

    thread = after_first_audio(session, talk)
    result = session.say(LONG)
    thread.join()
    assert result.interrupted
    assert clears(fake, expected=1) == 1


def test_nothing_interrupts_when_nothing_plays(call: tuple[Session, FakeSession]) -> None:
    """After the completion, the caller's turn sends no clear."""
    session, fake = call
    assert not session.say("Short.").interrupted
    say_turn(fake, "now it is my turn")
    assert not session.listen(timeout=5).barged_in
    assert clears(fake) == 0


@pytest.mark.parametrize("bad", ["yes", 1, BargeIn])
def test_barge_in_must_be_a_bool_or_a_policy(server: FakeServer, bad: object) -> None:
    """Anything else is refused before connecting."""
    with Sayna(server.url) as client, pytest.raises(SaynaValidationError):
        client.connect(stt_config=STT, tts_config=TTS_16K, barge_in=bad)  # type: ignore[arg-type]


def test_barge_in_policy_values_are_checked() -> None:
    """min_words below 1 and an ignore list that is one string are refused."""
    with pytest.raises(SaynaValidationError):
        BargeIn(min_words=0)
    with pytest.raises(SaynaValidationError):
        BargeIn(ignore="mhm")
    assert BargeIn(ignore=["Uh-huh."]).ignore == frozenset({"uh-huh"})


def test_the_session_says_which_policy_it_applies(call: tuple[Session, FakeSession]) -> None:
    """Session.barge_in is the policy given to connect (True means the defaults)."""
    session, _ = call
    assert session.barge_in == BargeIn()


@pytest.mark.connect(barge_in=False)
def test_the_session_has_no_policy_without_barge_in(call: tuple[Session, FakeSession]) -> None:
    """Without barge_in the property is None."""
    session, _ = call
    assert session.barge_in is None


def test_an_audio_result_pickled_before_the_flag_existed_is_not_interrupted() -> None:
    """A pickle from before AudioResult.interrupted loads and reads as not interrupted."""
    import pickle

    from sayna import AudioResult

    old = AudioResult.__new__(AudioResult)
    # What unpickling an old AudioResult does: it sets the slots it carries.
    old._data = b"\x00\x01"  # type: ignore[misc]
    old._headers = AudioResult(b"", {"x-audio-format": "linear16"}).headers  # type: ignore[misc]
    assert not old.interrupted
    assert "interrupted" not in repr(old)
    again = pickle.loads(pickle.dumps(AudioResult(b"\x00", {}, interrupted=True)))
    assert again.interrupted
