"""The conversation layer against the local server's scripted caller, end to end.

The tests beside this one (``test_converse``, ``test_speak_stream``,
``test_barge_in``) push ``stt_result`` frames by hand; here the other end is
``fake_session.caller``, which paces its words like speech, waits for our
audio before talking over it, feeds stand-in speech through the recogniser
and hangs up the way a SIP caller does. Everything crosses a real socket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sayna import (
    Event,
    Sayna,
    Session,
    SpeechInterruptedEvent,
    STTResultEvent,
    TTSAudioEvent,
    TTSPlaybackCompleteEvent,
    Turn,
    converse,
)
from sayna.testing import Caller, FakeServer, FakeSession, encode_speech
from tests.support.speech_configs import STT, TTS_16K

# The caller's words are quick; the agent's audio plays at real time where a
# test needs a reply long enough to be talked over.
WORD_MS = 20
ANSWER = "It is sunny right now. Later it will rain, so take an umbrella."
LONG_REPLY = " ".join(f"Here is detail number {n} of a long explanation." for n in range(20))


@pytest.fixture
def call(server: FakeServer) -> Iterator[tuple[Session, FakeSession]]:
    """A session with barge-in on ``server`` and its server side."""
    with (
        Sayna(server.url) as client,
        client.connect(stt_config=STT, tts_config=TTS_16K, barge_in=True) as session,
    ):
        session.turns()  # turns are kept from here on, as converse would
        yield session, server.wait_for_session()


def after_each_reply(session: Session, caller: Caller, *lines: str) -> None:
    """A polite caller: once the agent's audio has played out, say the next line."""
    pending = list(lines)
    lock = threading.Lock()

    def next_line(event: Event) -> None:
        with lock:
            if not pending:
                return
            line = pending.pop(0)
        caller.say(line, word_ms=WORD_MS)

    session.on(TTSPlaybackCompleteEvent, next_line)


def audio_seen(session: Session) -> list[TTSAudioEvent]:
    """Every TTS audio event the session's callbacks see, as it comes."""
    seen: list[TTSAudioEvent] = []
    session.on(TTSAudioEvent, seen.append)
    return seen


@pytest.mark.fake_server(tts_speedup=50)
def test_a_three_turn_conversation_with_a_scripted_caller(
    call: tuple[Session, FakeSession],
) -> None:
    """The caller answers the greeting and each reply; converse hears three turns in order."""
    session, fake = call
    after_each_reply(
        session, fake.caller, "I need a table.", "For two people, please.", "At eight. Thanks."
    )
    heard: list[Turn] = []

    def respond(turn: Turn) -> str | None:
        heard.append(turn)
        return None if len(heard) == 3 else f"Noted: {turn.text}"

    result = converse(session, respond, greeting="Hello, how can I help?", timeout=20)
    assert result.ended_by == "respond"
    assert [(line.role, line.text) for line in result.lines] == [
        ("agent", "Hello, how can I help?"),
        ("user", "I need a table."),
        ("agent", "Noted: I need a table."),
        ("user", "For two people, please."),
        ("agent", "Noted: For two people, please."),
        ("user", "At eight. Thanks."),
    ]
    # Two sentences of one turn are two finals, joined into one turn.
    assert [segment.transcript for segment in heard[2].segments] == ["At eight.", "Thanks."]
    assert not any(line.interrupted for line in result.lines)
    assert not any(frame.type == "clear" for frame in fake.received)


@pytest.mark.fake_server(tts_speedup=5)
def test_a_caller_interrupting_mid_reply_stops_the_audio(
    call: tuple[Session, FakeSession],
) -> None:
    """Talking over a long reply: clear goes out, late audio is counted, the next turn is it."""
    session, fake = call
    caller = fake.caller
    caller.say("Tell me everything.", word_ms=WORD_MS)
    caller.say("Sorry, stop there.", word_ms=WORD_MS, during_reply=True)
    interruptions: list[SpeechInterruptedEvent] = []
    session.on(SpeechInterruptedEvent, interruptions.append)
    audio = audio_seen(session)
    # Like a real server with audio queued, this one acts on the clear late:
    # it stops reading for 0.3 s once the reply's audio flows, so audio sent
    # after the clear reaches the client and must be dropped and counted.
    resume = threading.Timer(0.3, fake.resume_reading)

    def hold_the_clear(event: TTSAudioEvent) -> None:
        if not resume.is_alive() and not resume.finished.is_set():
            fake.pause_reading()
            resume.start()

    session.on(TTSAudioEvent, hold_the_clear)
    heard: list[Turn] = []

    def respond(turn: Turn) -> str | None:
        heard.append(turn)
        return LONG_REPLY if len(heard) == 1 else None

    started = time.monotonic()
    result = converse(session, respond, timeout=20)
    elapsed = time.monotonic() - started
    resume.join()
    # The reply alone is about 12 s of audio at this server's pace.
    assert elapsed < 4, elapsed
    assert result.ended_by == "respond"
    assert [(line.role, line.interrupted) for line in result.lines] == [
        ("user", False),
        ("agent", True),
        ("user", True),
    ]
    assert [turn.text for turn in heard] == ["Tell me everything.", "Sorry, stop there."]
    assert heard[1].barged_in
    assert not heard[0].barged_in
    fake.wait_for_frame("clear", timeout=5)
    assert len(interruptions) == 1
    interruption = interruptions[0]
    assert interruption.heard  # the interim words that interrupted
    assert "Sorry".startswith(interruption.heard.split()[0].rstrip(","))
    assert interruption.cancelled_text
    # The audio stops: nothing arrives after the interruption, and every byte
    # that reached the socket was either seen or counted as discarded.
    time.sleep(0.2)
    seen_bytes = sum(len(event.data) for event in audio)
    assert interruption.discarded_bytes > 0
    assert seen_bytes + interruption.discarded_bytes == session.stats().audio_bytes_received
    assert 0 < seen_bytes < len(LONG_REPLY) * 16000 * 2 // 20  # well short of the whole reply


@pytest.mark.fake_server(tts_speedup=2)
def test_a_backchannel_during_a_reply_does_not_interrupt_it(
    call: tuple[Session, FakeSession],
) -> None:
    """ "Mhm" said over the reply lets it play to the end; it comes as a turn afterwards."""
    session, fake = call
    caller = fake.caller
    caller.say("Go on.", word_ms=WORD_MS)
    caller.backchannel("mhm", word_ms=WORD_MS, during_reply=True)
    interruptions: list[SpeechInterruptedEvent] = []
    session.on(SpeechInterruptedEvent, interruptions.append)
    heard: list[Turn] = []

    def respond(turn: Turn) -> str | None:
        heard.append(turn)
        return "A reply of a few sentences. It goes on. And on." if len(heard) == 1 else None

    result = converse(session, respond, timeout=20)
    assert result.ended_by == "respond"
    assert [turn.text for turn in heard] == ["Go on.", "mhm"]
    agent = [line for line in result.lines if line.role == "agent"]
    assert len(agent) == 1
    assert not agent[0].interrupted
    assert interruptions == []
    assert not any(frame.type == "clear" for frame in fake.received)
    # It was said while the reply played: the turn says the caller spoke over us.
    assert heard[1].barged_in


@pytest.mark.fake_server(tts_speedup=50)
def test_a_slow_generator_is_spoken_before_it_finishes(call: tuple[Session, FakeSession]) -> None:
    """An LLM-like generator with delays: its first sentence plays while it still produces."""
    session, fake = call
    fake.caller.say("What is the weather?", word_ms=WORD_MS)
    audio = audio_seen(session)
    first_audio: list[float] = []
    session.on(TTSAudioEvent, lambda event: first_audio.append(time.monotonic()))
    produced: dict[str, float] = {}

    def tokens() -> Iterator[str]:
        produced["first"] = time.monotonic()
        for word in ANSWER.split(" "):
            time.sleep(0.05)
            yield word + " "
        produced["last"] = time.monotonic()

    def respond(turn: Turn) -> Iterator[str]:
        return tokens()

    result = converse(session, respond, max_turns=1, timeout=20)
    assert result.ended_by == "max_turns"
    assert result.lines[-1].text == ANSWER + " "
    assert first_audio
    assert first_audio[0] < produced["last"] - 0.2, (first_audio[:1], produced)
    assert [f.data["text"] for f in fake.received if f.type == "speak"] == [
        "It is sunny right now.",
        "Later it will rain, so take an umbrella.",
    ]
    assert audio


@pytest.mark.fake_server(tts_speedup=1)
def test_a_hang_up_mid_reply_ends_the_conversation(call: tuple[Session, FakeSession]) -> None:
    """The caller leaves while the agent talks: ended_by is "hangup", promptly, no error."""
    session, fake = call
    caller = fake.caller
    caller.say("Goodbye then.", word_ms=WORD_MS)
    caller.silence(0.5)
    caller.hang_up()
    started = time.monotonic()
    result = converse(session, lambda turn: LONG_REPLY, timeout=20)
    assert time.monotonic() - started < 5
    assert result.ended_by == "hangup"
    assert [line.role for line in result.lines] == ["user"]  # the cut-off reply has no line


@pytest.mark.fake_server(tts_speedup=50)
def test_silence_is_answered_promptly(call: tuple[Session, FakeSession]) -> None:
    """A silent caller and silent audio: transcribe and finish return in about a second."""
    session, fake = call
    quiet = fake.caller.silence(3)
    started = time.monotonic()
    assert session.transcribe(bytes(16000)) == ""  # half a second of silence
    assert time.monotonic() - started < 3
    assert not quiet.done  # it really was while the caller kept quiet
    session.stream_audio(bytes(16000), realtime=False)
    started = time.monotonic()
    session.finish()
    assert time.monotonic() - started < 2.5
    assert not session.ready


@pytest.mark.fake_server(tts_speedup=50)
def test_the_last_sentence_of_a_streamed_file_is_not_lost(
    call: tuple[Session, FakeSession],
) -> None:
    """A file ending mid-sentence, then finish(): its last words are a turn, not dropped."""
    session, _ = call
    pcm = encode_speech("Book a table. For two people tonight")
    cut = len(pcm) * 4 // 5 & ~1  # the audio ends inside the second sentence
    session.stream_audio(pcm[:cut], realtime=False)
    session.finish()
    # The recogniser finalises what it heard whole when the audio stops.
    assert [turn.text for turn in session.turns(timeout=1)] == ["Book a table. For two people"]


@pytest.mark.fake_server(tts_speedup=50)
def test_finish_while_the_caller_speaks_keeps_the_turn(call: tuple[Session, FakeSession]) -> None:
    """The caller's speech through the recogniser, finish() mid-way: the whole turn arrives."""
    session, fake = call
    speech = fake.caller.say("Move my order to Friday please", audio=True)
    for event in session.events(timeout=5):
        if isinstance(event, STTResultEvent) and event.transcript:
            break  # the first interim: the caller is mid-sentence
    assert not speech.done
    session.finish()
    assert [turn.text for turn in session.turns(timeout=1)] == ["Move my order to Friday please"]


@pytest.mark.fake_server(tts_speedup=5)
def test_no_sentence_of_a_reply_goes_out_after_the_caller_interrupts(
    call: tuple[Session, FakeSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sentences cut from one piece stop at the barge-in, even when sending them is slow."""
    session, fake = call
    speak = Session.speak

    def slow_speak(self: Session, text: str, *args: Any, **kwargs: Any) -> None:
        speak(self, text, *args, **kwargs)
        time.sleep(0.15)  # a loaded machine: the caller's words arrive between two sentences

    monkeypatch.setattr(Session, "speak", slow_speak)
    fake.caller.say("Stop.", word_ms=0, during_reply=True)
    reply = session.speak_stream(["One sentence here. Another one here. And a third one."])
    assert reply.interrupted
    assert reply.spoken == ()
    sent = [frame.type for frame in fake.received if frame.type in ("speak", "clear")]
    assert sent == ["speak", "clear"], sent


@pytest.mark.fake_server(tts_speedup=50)
def test_respond_raising_ends_it_and_the_session_stays_usable(
    call: tuple[Session, FakeSession],
) -> None:
    """The caller speaks, respond raises: converse raises that error, the session still speaks."""
    session, fake = call
    fake.caller.say("Break, please.", word_ms=WORD_MS)

    class Broken(Exception):
        pass

    def respond(turn: Turn) -> str:
        raise Broken(turn.text)

    with pytest.raises(Broken, match=r"Break, please\."):
        converse(session, respond, timeout=20)
    assert session.ready
    assert len(session.say("Still here.")) > 0


def test_a_conversation_goes_on_across_a_reconnect() -> None:
    """The connection drops after the first answer; the next session's caller goes on talking."""
    lines = ["Before the drop.", "Still there?"]

    def play(caller: Caller) -> None:
        caller.say(lines.pop(0), word_ms=WORD_MS)

    with (
        FakeServer(tts_speedup=50, caller=play) as server,
        Sayna(server.url) as client,
        client.connect(
            stt_config=STT, tts_config=TTS_16K, barge_in=True, reconnect=True
        ) as session,
    ):
        first = server.wait_for_session()
        session.on(TTSPlaybackCompleteEvent, lambda event: first.drop())
        result = converse(
            session,
            lambda turn: None if turn.text == "Still there?" else f"Heard: {turn.text}",
            timeout=20,
        )
        assert len(server.sessions) == 2
    assert result.ended_by == "respond"
    assert [(line.role, line.text) for line in result.lines] == [
        ("user", "Before the drop."),
        ("agent", "Heard: Before the drop."),
        ("user", "Still there?"),
    ]
