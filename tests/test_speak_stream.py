"""Session.speak_stream(): streamed text spoken sentence by sentence, over a real socket."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from sayna import Reply, SaynaTimeoutError, SaynaValidationError, Session, TTSAudioEvent
from sayna.testing import FakeServer, FakeSession
from tests.support.stt_push import interim, open_call, say_turn

pytestmark = pytest.mark.fake_server(tts_speedup=20)


@pytest.fixture
def call(
    server: FakeServer, request: pytest.FixtureRequest
) -> Iterator[tuple[Session, FakeSession]]:
    """A session and its server side."""
    with open_call(server, request) as pair:
        yield pair


def slow_tokens(text: str, delay: float, log: list[float] | None = None) -> Iterator[str]:
    """An LLM-like generator: ``text`` in small pieces, ``delay`` seconds apart."""
    for index in range(0, len(text), 7):
        time.sleep(delay)
        if log is not None:
            log.append(time.monotonic())
        yield text[index : index + 7]


def speaks(fake: FakeSession) -> list[str]:
    return [f.data["text"] for f in fake.received if f.type == "speak"]


def test_speech_starts_before_the_generator_finishes(call: tuple[Session, FakeSession]) -> None:
    """The first sentence is spoken, and heard, while the generator is still producing."""
    session, fake = call
    text = "Hello there, my friend. The weather today is fine. Tomorrow brings rain, sadly."
    yielded: list[float] = []
    first_audio: list[float] = []
    session.on(TTSAudioEvent, lambda e: first_audio.append(time.monotonic()))
    reply = session.speak_stream(slow_tokens(text, 0.05, yielded))
    assert isinstance(reply, Reply)
    assert reply.text == text
    assert reply.spoken == (
        "Hello there, my friend.",
        "The weather today is fine.",
        "Tomorrow brings rain, sadly.",
    )
    assert speaks(fake) == list(reply.spoken)
    assert not reply.interrupted
    assert reply.audio_bytes > 0
    assert reply.first_audio is not None
    assert reply.first_audio > 0
    assert min(first_audio) < yielded[-1]  # audio arrived before the last piece existed
    assert reply.first_audio < yielded[-1] - yielded[0]


def test_it_returns_when_the_last_audio_has_arrived(call: tuple[Session, FakeSession]) -> None:
    """All the audio of every sentence is counted, even when the queue drains in between."""
    session, _fake = call
    # A pause longer than a sentence's audio: the server's queue drains, and
    # that completion must not end the reply.
    pieces = ["One. ", "Two. "]

    def gen() -> Iterator[str]:
        yield from pieces
        time.sleep(0.5)
        yield "And the third sentence comes last."

    reply = session.speak_stream(gen())
    alone = session.say("And the third sentence comes last.")
    assert reply.spoken[-1] == "And the third sentence comes last."
    assert reply.audio_bytes > len(alone)
    with session.events(timeout=0.3) as events, pytest.raises(SaynaTimeoutError):
        next(e for e in events if isinstance(e, TTSAudioEvent))


@pytest.mark.connect(barge_in=True)
def test_an_interruption_ends_it_early_and_stops_the_generator(
    call: tuple[Session, FakeSession],
) -> None:
    """The caller talks over the reply: it returns interrupted, the generator is not drained."""
    session, fake = call
    pulled: list[str] = []
    closed = threading.Event()

    def endless() -> Iterator[str]:
        try:
            for index in range(1000):
                piece = f"Sentence number {index} goes on for a little while. "
                pulled.append(piece)
                time.sleep(0.05)
                yield piece
        finally:
            closed.set()

    started = threading.Event()
    session.on(TTSAudioEvent, lambda e: started.set())

    def interrupt() -> None:
        started.wait(5)
        say_turn(fake, "stop right there")

    thread = threading.Thread(target=interrupt)
    thread.start()
    reply = session.speak_stream(endless())
    thread.join()
    assert reply.interrupted
    assert len(pulled) < 100
    assert closed.is_set()
    assert len(reply.spoken) < len(speaks(fake))  # the cut-off sentence is not "spoken"
    assert session.listen(timeout=5).barged_in
    assert not any(t.name == "sayna-speak-stream" for t in threading.enumerate())


def test_an_exception_from_the_generator_is_raised_and_nothing_is_left_running(
    call: tuple[Session, FakeSession],
) -> None:
    """The iterable's own error comes out of speak_stream; the session stays usable."""
    session, _fake = call

    def broken() -> Iterator[str]:
        yield "This much is fine. "
        raise KeyError("the model fell over")

    with pytest.raises(KeyError, match="the model fell over"):
        session.speak_stream(broken())
    assert not any(t.name == "sayna-speak-stream" for t in threading.enumerate())
    assert len(session.say("Still here.")) > 0


def test_an_empty_stream_speaks_nothing(call: tuple[Session, FakeSession]) -> None:
    """No pieces, or only blanks: nothing is sent and the reply is empty."""
    session, fake = call
    reply = session.speak_stream(iter(["", "  "]))
    assert reply == Reply(text="  ", spoken=(), interrupted=False, audio_bytes=0, first_audio=None)
    assert speaks(fake) == []


@pytest.mark.parametrize("bad", ["one text", b"bytes", 42, [1, 2]])
def test_it_takes_an_iterable_of_str_only(call: tuple[Session, FakeSession], bad: object) -> None:
    """A bare string (a common slip), bytes or non-text pieces are refused."""
    session, _ = call
    with pytest.raises(SaynaValidationError):
        session.speak_stream(bad)  # type: ignore[arg-type]


def test_the_timeout_bounds_the_whole_call(call: tuple[Session, FakeSession]) -> None:
    """A generator slower than the timeout ends the call with SaynaTimeoutError."""
    session, _ = call
    started = time.monotonic()
    with pytest.raises(SaynaTimeoutError):
        session.speak_stream(
            slow_tokens("a b c d e f g h i j k l m n o p q r s t u v w", 0.2), timeout=0.5
        )
    assert time.monotonic() - started < 2


@pytest.mark.connect(barge_in=True)
def test_no_sentence_goes_out_after_the_caller_started_talking(
    call: tuple[Session, FakeSession],
) -> None:
    """Between the interrupting result and its report, the next sentences are held back."""
    session, fake = call
    started = threading.Event()
    session.on(TTSAudioEvent, lambda e: started.set())

    def caller() -> None:
        started.wait(5)
        interim(fake, "no stop")  # the final result comes only much later
        time.sleep(0.6)
        say_turn(fake, "no stop", interims=False)

    def reply() -> Iterator[str]:
        yield "This first sentence is a long one so it is still playing when the caller talks. "
        started.wait(5)
        time.sleep(0.3)
        yield "A second sentence. "
        yield "And a third one."

    thread = threading.Thread(target=caller)
    thread.start()
    result = session.speak_stream(reply())
    thread.join()
    assert result.interrupted
    assert speaks(fake) == [
        "This first sentence is a long one so it is still playing when the caller talks."
    ]
    assert result.spoken == ()
