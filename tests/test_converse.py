"""sayna.converse(): the agent loop against the local server, through real sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from sayna import (
    Conversation,
    Line,
    Sayna,
    SaynaValidationError,
    Session,
    TTSPlaybackCompleteEvent,
    Turn,
    converse,
)
from sayna.testing import FakeServer, FakeSession
from tests.support.speech_configs import STT, TTS_16K
from tests.support.stt_push import open_call, say_turn

pytestmark = [pytest.mark.fake_server(tts_speedup=20), pytest.mark.connect(barge_in=True)]


@pytest.fixture
def call(
    server: FakeServer, request: pytest.FixtureRequest
) -> Iterator[tuple[Session, FakeSession]]:
    """A session with barge-in and its server side."""
    with open_call(server, request) as pair:
        yield pair


class Caller:
    """A scripted caller on the server side.

    Each step waits for the agent's next ``speak``; a step made with
    :func:`turn` also waits for that speech to finish playing (a polite
    caller), one made with :func:`over` does not.
    """

    def __init__(
        self,
        session: Session,
        fake: FakeSession,
        steps: list[tuple[bool, Callable[[FakeSession], None]]],
    ) -> None:
        self.fake = fake
        self.steps = steps
        self.played = threading.Semaphore(0)
        session.on(TTSPlaybackCompleteEvent, lambda event: self.played.release())
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        for polite, step in self.steps:
            try:
                self.fake.wait_for_frame("speak", timeout=10)
            except TimeoutError:
                return
            if polite and not self.played.acquire(timeout=10):
                return
            step(self.fake)

    def join(self) -> None:
        self.thread.join(15)


def turn(*segments: str) -> tuple[bool, Callable[[FakeSession], None]]:
    """The caller waits for the agent to finish, then says ``segments``."""
    return True, lambda fake: say_turn(fake, *segments)


def over(step: Callable[[FakeSession], None]) -> tuple[bool, Callable[[FakeSession], None]]:
    """The caller does ``step`` while the agent speaks."""
    return False, step


def test_a_three_turn_conversation(call: tuple[Session, FakeSession]) -> None:
    """Greeting, three caller turns each answered, then respond ends it."""
    session, fake = call
    caller = Caller(
        session, fake, [turn("I need a table"), turn("for two people"), turn("at eight")]
    )
    heard: list[Turn] = []

    def respond(t: Turn) -> str | None:
        heard.append(t)
        return None if len(heard) == 3 else f"Noted: {t.text}."

    result = converse(session, respond, greeting="Hello, how can I help?", timeout=20)
    caller.join()
    assert isinstance(result, Conversation)
    assert result.ended_by == "respond"
    assert [(line.role, line.text) for line in result.lines] == [
        ("agent", "Hello, how can I help?"),
        ("user", "I need a table"),
        ("agent", "Noted: I need a table."),
        ("user", "for two people"),
        ("agent", "Noted: for two people."),
        ("user", "at eight"),
    ]
    assert not any(line.interrupted for line in result.lines)


def test_a_caller_interrupting_mid_reply(call: tuple[Session, FakeSession]) -> None:
    """The reply stops, its late audio is dropped, and the next turn is the interruption."""
    session, fake = call
    long_reply = " ".join(f"Here is detail number {n} of a long explanation." for n in range(30))

    def interrupt(fake: FakeSession) -> None:
        time.sleep(0.2)
        say_turn(fake, "sorry to interrupt")

    caller = Caller(session, fake, [turn("tell me everything"), over(interrupt)])
    seen: list[Turn] = []

    def respond(t: Turn) -> str | None:
        seen.append(t)
        return long_reply if len(seen) == 1 else None

    started = time.monotonic()
    result = converse(session, respond, greeting="Hi.", timeout=20)
    caller.join()
    assert time.monotonic() - started < 5  # the whole reply would take far longer
    assert result.ended_by == "respond"
    agent = [line for line in result.lines if line.role == "agent"]
    assert agent[-1].interrupted
    assert seen[-1].text == "sorry to interrupt"
    assert seen[-1].barged_in
    assert result.lines[-1] == Line(role="user", text="sorry to interrupt", interrupted=True)
    fake.wait_for_frame("clear", timeout=5)


def test_a_backchannel_does_not_interrupt_the_reply(call: tuple[Session, FakeSession]) -> None:
    """ "Mhm" during the reply is a turn of its own afterwards, not an interruption."""
    session, fake = call
    caller = Caller(
        session, fake, [turn("go on"), over(lambda fake: (time.sleep(0.1), say_turn(fake, "mhm")))]
    )
    replies: list[Turn] = []

    def respond(t: Turn) -> str | None:
        replies.append(t)
        return (
            "Well, this is a reply of a few sentences. It goes on. And on."
            if t.text == "go on"
            else None
        )

    result = converse(session, respond, greeting="Hi.", timeout=20)
    caller.join()
    assert not any(line.interrupted for line in result.lines if line.role == "agent")
    assert [t.text for t in replies] == ["go on", "mhm"]
    assert not any(f.type == "clear" for f in fake.received)


def test_a_streamed_answer_from_a_generator(call: tuple[Session, FakeSession]) -> None:
    """respond may return a generator: its sentences are spoken as they come."""
    session, fake = call
    caller = Caller(session, fake, [turn("what is the weather")])

    def respond(t: Turn) -> Iterator[str] | None:
        if t.text != "what is the weather":
            return None

        def tokens() -> Iterator[str]:
            for word in ["It", "is", "sunny.", "It", "will", "rain", "later."]:
                time.sleep(0.02)
                yield word + " "

        return tokens()

    result = converse(session, respond, greeting="Ask me.", max_turns=1, timeout=20)
    caller.join()
    assert result.ended_by == "max_turns"
    assert result.lines[-1] == Line(role="agent", text="It is sunny. It will rain later. ")
    assert [f.data["text"] for f in fake.received if f.type == "speak"][-2:] == [
        "It is sunny.",
        "It will rain later.",
    ]


def test_a_hang_up_mid_reply_ends_the_conversation(call: tuple[Session, FakeSession]) -> None:
    """The caller leaves while the agent speaks: ended_by is "hangup", nothing is raised."""
    session, fake = call

    def hang_up(fake: FakeSession) -> None:
        time.sleep(0.1)
        fake.participant_leaves()

    caller = Caller(session, fake, [turn("goodbye then"), over(hang_up)])
    long_reply = " ".join(f"Let me say one more thing, number {n}." for n in range(30))
    result = converse(session, lambda t: long_reply, greeting="Hi.", timeout=20)
    caller.join()
    assert result.ended_by == "hangup"
    assert result.lines[-1].role == "user"  # the cut-off reply has no line


def test_an_exception_from_respond_is_raised_and_the_session_stays_usable(
    call: tuple[Session, FakeSession],
) -> None:
    """respond raising ends the conversation with that very exception; the session goes on."""
    session, fake = call
    caller = Caller(session, fake, [turn("break please")])

    class Broken(Exception):
        pass

    def respond(t: Turn) -> str:
        raise Broken(t.text)

    with pytest.raises(Broken, match="break please"):
        converse(session, respond, greeting="Hi.", timeout=20)
    caller.join()
    assert session.ready
    assert len(session.say("Still working.")) > 0


def test_an_exception_from_a_streamed_answer_clears_its_speech(
    call: tuple[Session, FakeSession],
) -> None:
    """A generator failing mid-answer: raised from converse, and what it queued is cleared."""
    session, fake = call
    caller = Caller(session, fake, [turn("start streaming")])

    def respond(t: Turn) -> Iterator[str]:
        yield "A first sentence that is spoken. "
        raise RuntimeError("the model stopped")

    with pytest.raises(RuntimeError, match="the model stopped"):
        converse(session, respond, greeting="Hi.", timeout=20)
    caller.join()
    fake.wait_for_frame("clear", timeout=5)
    assert session.ready


def test_the_session_closing_ends_it_as_closed(call: tuple[Session, FakeSession]) -> None:
    """The server ends the session (not a hang-up): ended_by is "closed"."""
    session, fake = call
    caller = Caller(session, fake, [over(lambda fake: fake.close(1000))])
    result = converse(session, lambda t: "unused", greeting="Hi.", timeout=20)
    caller.join()
    assert result.ended_by == "closed"


def test_max_turns_and_timeout_end_it(call: tuple[Session, FakeSession]) -> None:
    """max_turns counts answered turns; timeout bounds a conversation where nobody speaks."""
    session, fake = call
    caller = Caller(session, fake, [turn("one"), turn("two")])
    result = converse(session, lambda t: f"Got {t.text}.", greeting="Hi.", max_turns=2, timeout=20)
    caller.join()
    assert result.ended_by == "max_turns"
    assert [line.text for line in result.lines if line.role == "user"] == ["one", "two"]
    started = time.monotonic()
    quiet = converse(session, lambda t: "unused", timeout=0.5)
    assert quiet == Conversation(lines=(), ended_by="timeout")
    assert time.monotonic() - started < 1.5


def test_arguments_are_checked_before_anything_happens(call: tuple[Session, FakeSession]) -> None:
    """Bad respond, greeting, max_turns or timeout are refused at the call."""
    session, fake = call
    for kwargs in ({"greeting": "  "}, {"max_turns": 0}, {"timeout": -1}):
        with pytest.raises(SaynaValidationError):
            converse(session, lambda t: None, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(SaynaValidationError):
        converse(session, "not callable")  # type: ignore[arg-type]
    assert not any(f.type == "speak" for f in fake.received)


@pytest.mark.fake_server(tts_speedup=20)
def test_the_conversation_goes_on_across_a_reconnect(server: FakeServer) -> None:
    """The connection drops between turns; the session reconnects and the loop carries on."""
    with (
        Sayna(server.url) as client,
        client.connect(
            stt_config=STT, tts_config=TTS_16K, reconnect=True, barge_in=True
        ) as session,
    ):
        first = server.wait_for_session()

        def second_connection(fake: FakeSession) -> None:
            fake.drop()
            deadline = time.monotonic() + 10
            while len(server.sessions) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            again = server.sessions[-1]
            again.wait_until_ready()
            say_turn(again, "still there")

        caller = Caller(session, first, [turn("before the drop"), (True, second_connection)])
        result = converse(
            session,
            lambda t: None if t.text == "still there" else f"Heard {t.text}.",
            greeting="Hi.",
            timeout=20,
        )
        caller.join()
    assert result.ended_by == "respond"
    assert [line.text for line in result.lines if line.role == "user"] == [
        "before the drop",
        "still there",
    ]


def test_turns_said_just_before_a_hang_up_still_reach_respond(
    call: tuple[Session, FakeSession],
) -> None:
    """Two turns and the hang-up arrive together: respond gets both, then it ends as "hangup"."""
    session, fake = call

    def burst(fake: FakeSession) -> None:
        say_turn(fake, "move my delivery to Friday", interims=False)
        say_turn(fake, "the order number is 4417", interims=False)
        fake.participant_leaves()

    caller = Caller(session, fake, [(True, burst)])
    heard: list[str] = []

    def respond(t: Turn) -> str:
        heard.append(t.text)
        return "Got it, thank you for waiting while I look that up in our system."

    result = converse(session, respond, greeting="Hi.", timeout=20)
    caller.join()
    assert heard == ["move my delivery to Friday", "the order number is 4417"]
    assert result.ended_by == "hangup"
