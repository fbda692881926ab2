"""The local server's caller: scripted speech, backchannels, silence and a hang-up, end to end."""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterator

import pytest

from sayna import (
    CloseEvent,
    Event,
    LiveKitConfig,
    ParticipantDisconnectedEvent,
    Sayna,
    Session,
    STTConfig,
    STTResultEvent,
    TTSAudioEvent,
    VADEvent,
)
from sayna.testing import (
    Caller,
    CallerSpeech,
    FakeServer,
    FakeSession,
    encode_speech,
    speech_duration,
)
from tests.support.speech_configs import STT, TTS_16K


@pytest.fixture
def live(server: FakeServer) -> Iterator[tuple[Session, FakeSession]]:
    """A ready session on the ``server`` fixture and its server side."""
    with Sayna(server.url) as client, client.connect(stt_config=STT, tts_config=TTS_16K) as s:
        yield s, server.wait_for_session()


def collect(session: Session, until: Callable[[Event], bool], timeout: float = 5.0) -> list[Event]:
    """Every event up to and including the first that matches ``until``."""
    seen: list[Event] = []
    for event in session.events(timeout=timeout):
        seen.append(event)
        if until(event):
            return seen
    raise AssertionError(f"the session ended first: {seen!r}")


def turn_end(event: Event) -> bool:
    return isinstance(event, STTResultEvent) and event.is_speech_final


def results(events: list[Event]) -> list[tuple[str, bool, bool]]:
    return [
        (e.transcript, e.is_final, e.is_speech_final)
        for e in events
        if isinstance(e, STTResultEvent)
    ]


@pytest.mark.parametrize("channels", [1, 2])
def test_speech_grows_word_by_word_then_a_final_per_sentence_then_the_turn_ends(
    server: FakeServer, channels: int
) -> None:
    """Interims grow per word, each sentence gets a final, and is_speech_final closes the turn."""
    stt = STTConfig(provider="deepgram", model="nova-3", channels=channels)
    with Sayna(server.url) as client, client.connect(stt_config=stt, tts_config=TTS_16K) as s:
        fake = server.wait_for_session()
        assert fake.config is not None
        assert fake.config["stt_config"]["channels"] == channels
        speech = fake.caller.say("Hi there. Book a table", word_ms=10)
        got = results(collect(s, turn_end))
        assert speech.wait(2).done
    assert got == [
        ("Hi", False, False),
        ("Hi there.", False, False),
        ("Hi there.", True, False),
        ("Book", False, False),
        ("Book a", False, False),
        ("Book a table", False, False),
        ("Book a table", True, False),
        ("", True, True),
    ]


def test_words_arrive_at_the_pace_of_speech(live: tuple[Session, FakeSession]) -> None:
    """Each word takes word_ms: four words take about four times as long, not zero."""
    session, fake = live
    started = time.monotonic()
    fake.caller.say("one two three four", word_ms=100)
    arrivals: list[float] = []
    for event in session.events(timeout=5):
        if isinstance(event, STTResultEvent) and not event.is_final:
            arrivals.append(time.monotonic() - started)
        if turn_end(event):
            break
    assert len(arrivals) == 4
    assert arrivals[0] >= 0.09
    assert arrivals[-1] >= 0.39
    assert arrivals[-1] - arrivals[0] >= 0.29


def test_without_interims_only_finals_and_the_turn_end(live: tuple[Session, FakeSession]) -> None:
    """interim=False: the client sees the final and the end of the turn, nothing else."""
    session, fake = live
    fake.caller.say("Just the final.", interim=False, word_ms=5)
    assert results(collect(session, turn_end)) == [
        ("Just the final.", True, False),
        ("", True, True),
    ]


def test_vad_events_frame_the_speech_when_asked(live: tuple[Session, FakeSession]) -> None:
    """vad=True: speech_start before the first result, turn_end before is_speech_final."""
    session, fake = live
    fake.caller.say("hello", vad=True, word_ms=5)
    kinds = [
        e.event if isinstance(e, VADEvent) else (e.transcript, e.is_final, e.is_speech_final)
        for e in collect(session, turn_end)
        if isinstance(e, (VADEvent, STTResultEvent))
    ]
    assert kinds == [
        "speech_start",
        ("hello", False, False),
        ("hello", True, False),
        "turn_end",
        ("", True, True),
    ]


def test_steps_play_in_order_and_silence_holds_the_next_one(
    live: tuple[Session, FakeSession],
) -> None:
    """A backchannel, then 0.3 s of silence, then speech: in that order, with the pause."""
    session, fake = live
    caller = fake.caller
    mhm = caller.backchannel(word_ms=5)
    pause = caller.silence(0.3)
    words = caller.say("go on", word_ms=5)
    collect(session, turn_end)
    got = results(collect(session, turn_end))
    words.wait(3)
    assert mhm.kind == "backchannel"
    assert mhm.text == "mhm"
    assert pause.ended_at is not None
    assert pause.started_at is not None
    assert pause.ended_at - pause.started_at >= 0.29
    assert words.spoken_at is not None
    assert words.spoken_at >= pause.ended_at
    assert got[-2:] == [("go on", True, False), ("", True, True)]


@pytest.mark.fake_server(tts_speedup=1)
def test_during_reply_speaks_over_the_agent_while_its_audio_flows(
    live: tuple[Session, FakeSession],
) -> None:
    """during_reply waits for TTS audio, then talks while more of it is still arriving."""
    session, fake = live
    # 200 ms a word: the audio (40 ms frames at real time) has room to arrive
    # between the caller's words; at 20 ms a word a loaded machine could hand
    # the whole utterance over between two audio frames.
    interrupt = fake.caller.say("stop please", during_reply=True, word_ms=200)
    time.sleep(0.3)
    assert interrupt.spoken_at is None  # nothing said before the agent speaks
    # Ten seconds or so of speech, so that audio is still flowing however late
    # the caller starts; the test ends at the caller's turn.
    session.speak(" ".join(["This is a long answer that takes a few seconds to play out."] * 3))
    order = [
        "audio" if isinstance(e, TTSAudioEvent) else "caller"
        for e in collect(session, turn_end, timeout=10)
        if isinstance(e, (TTSAudioEvent, STTResultEvent))
    ]
    assert order[0] == "audio"
    first_word = order.index("caller")
    assert "audio" in order[first_word:], "the caller spoke only after the reply had ended"
    session.clear()


def test_during_reply_with_no_reply_never_speaks_and_is_dropped_at_close(
    server: FakeServer,
) -> None:
    """A caller waiting for a reply that never comes is dropped when the session ends."""
    with Sayna(server.url) as client, client.connect(stt_config=STT, tts_config=TTS_16K):
        fake = server.wait_for_session()
        waiting = fake.caller.say("anyone there", during_reply=True)
        with pytest.raises(TimeoutError):
            waiting.wait(0.2)
    fake.closed.wait(5)
    with pytest.raises(RuntimeError, match="ended"):
        waiting.wait(5)
    thread = fake.caller._thread  # the session's caller thread ends with the session
    assert thread is not None
    thread.join(5)
    assert not thread.is_alive()


def test_hang_up_disconnects_the_caller_and_the_server_closes(
    live: tuple[Session, FakeSession],
) -> None:
    """hang_up(): participant_disconnected for the caller, then the server's Close (1005)."""
    session, fake = live
    fake.caller.say("bye", word_ms=5)
    fake.caller.hang_up()
    events = collect(session, lambda e: isinstance(e, CloseEvent))
    left = [e for e in events if isinstance(e, ParticipantDisconnectedEvent)]
    assert [p.participant.identity for p in left] == ["caller"]
    assert results(events)[-1] == ("", True, True)
    close = events[-1]
    assert isinstance(close, CloseEvent)
    assert close.code == 1005


@pytest.mark.fake_server(tts_speedup=50)
def test_in_a_room_the_caller_is_the_sip_participant(server: FakeServer) -> None:
    """In a room the caller is the SIP participant (not others); hang_up() removes it."""
    server.add_participant("call-1", "observer", name="Supervisor")
    server.add_participant("call-1", "sip_+15550100", name="Phone", kind="SIP")
    livekit = LiveKitConfig(room_name="call-1")
    with (
        Sayna(server.url) as client,
        client.connect(stt_config=STT, tts_config=TTS_16K, livekit_config=livekit) as session,
    ):
        fake = server.wait_for_session()
        fake.caller.say("hello agent", word_ms=5)
        fake.caller.hang_up().wait(5)
        events = collect(session, lambda e: isinstance(e, CloseEvent))
    left = [e.participant.identity for e in events if isinstance(e, ParticipantDisconnectedEvent)]
    assert left == ["sip_+15550100"]
    assert ("hello agent", True, False) in results(events)
    room = server.state.rooms.get("call-1")
    assert room is None or "sip_+15550100" not in room.participants


@pytest.mark.fake_server(tts_speedup=50)
def test_a_caller_the_session_does_not_listen_to_is_not_heard(server: FakeServer) -> None:
    """listen_participants without the caller: its speech reaches no one, wait() says why."""
    livekit = LiveKitConfig(room_name="r", listen_participants=["someone-else"])
    with (
        Sayna(server.url) as client,
        client.connect(stt_config=STT, tts_config=TTS_16K, livekit_config=livekit),
    ):
        speech = server.wait_for_session().caller.say("can you hear me")
        with pytest.raises(RuntimeError, match="listen_participants"):
            speech.wait(5)


def test_a_server_wide_script_plays_for_every_session() -> None:
    """FakeServer(caller=...) plays the same caller in each new session, after ready."""

    def play(caller: Caller) -> None:
        caller.say("first", word_ms=5)
        caller.say("second", word_ms=5)

    with FakeServer(caller=play, tts_speedup=50) as server, Sayna(server.url) as client:
        for _ in range(2):
            with client.connect(stt_config=STT, tts_config=TTS_16K) as session:
                finals = [
                    t for t, final, end in results(collect(session, turn_end)) if final and not end
                ]
                finals += [
                    t for t, final, end in results(collect(session, turn_end)) if final and not end
                ]
                assert finals == ["first", "second"]


def test_script_queues_speech_silence_and_a_hang_up(live: tuple[Session, FakeSession]) -> None:
    """script("a", 0.1, None): speech, a pause, a hang-up, as handles in order."""
    session, fake = live
    steps = fake.caller.script("yes", 0.1, None)
    assert [s.kind for s in steps] == ["say", "silence", "hang_up"]
    events = collect(session, lambda e: isinstance(e, CloseEvent))
    assert ("yes", True, False) in results(events)
    assert any(isinstance(e, ParticipantDisconnectedEvent) for e in events)
    with pytest.raises(TypeError):
        fake.caller.script(b"bytes")  # type: ignore[arg-type]


def test_bad_steps_are_refused_at_the_call() -> None:
    """Blank text and negative durations raise ValueError before anything is queued."""
    caller = Caller(_NoSide())
    with pytest.raises(ValueError, match="blank"):
        caller.say("  ")
    with pytest.raises(ValueError, match="seconds"):
        caller.silence(-1)
    with pytest.raises(ValueError, match="word_ms"):
        caller.say("hi", word_ms=-5)
    assert repr(caller) == "<Caller 0 step(s) queued>"
    assert "pending" in repr(CallerSpeech("say", "hi"))


class _NoSide:
    """A caller side that must never be used (the calls above fail before it is)."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"{name} was used")


def _channels(mono: bytes, channels: int) -> bytes:
    """``mono`` on every channel of interleaved 16-bit audio."""
    if channels == 1:
        return mono
    samples = array("h", mono)
    out = array("h", bytes(len(mono) * channels))
    for channel in range(channels):
        out[channel::channels] = samples
    return out.tobytes()


@pytest.mark.parametrize("channels", [1, 2])
def test_streamed_speech_is_heard_word_by_word_before_the_audio_ends(
    server: FakeServer, channels: int
) -> None:
    """Audio the stand-in STT decodes gives interims while it is still being sent, in the
    session's channel layout, even when messages split a stereo frame."""
    stt = STTConfig(provider="deepgram", model="nova-3", channels=channels)
    pcm = _channels(encode_speech("alpha beta gamma delta", 16000), channels)
    chunk = 3201  # odd: frames and samples are split between messages
    heard_before_end: list[str] = []
    with Sayna(server.url) as client, client.connect(stt_config=stt, tts_config=TTS_16K) as s:
        for start in range(0, len(pcm) - chunk, chunk):
            s.on_audio_input(pcm[start : start + chunk])
            event = s.next_event(timeout=0.05)
            while event is not None:
                if isinstance(event, STTResultEvent):
                    heard_before_end.append(event.transcript)
                event = s.next_event(timeout=0)
        s.on_audio_input(pcm[start + chunk :])
        rest = results(collect(s, turn_end))
    assert heard_before_end[:3] == ["alpha", "alpha beta", "alpha beta gamma"]
    assert ("alpha beta gamma delta", True, False) in rest


@pytest.mark.parametrize("channels", [1, 2])
def test_speech_as_audio_is_reported_by_the_recogniser_as_it_arrives(
    server: FakeServer, channels: int
) -> None:
    """audio=True: stand-in speech in real time; interims come while it is still playing."""
    stt = STTConfig(provider="deepgram", model="nova-3", channels=channels)
    text = "one two three four"
    with Sayna(server.url) as client, client.connect(stt_config=stt, tts_config=TTS_16K) as s:
        fake = server.wait_for_session()
        started = time.monotonic()
        speech = fake.caller.say(text, audio=True, vad=True)
        arrivals: list[tuple[float, object]] = []
        for event in s.events(timeout=10):
            if isinstance(event, (STTResultEvent, VADEvent)):
                shown = (
                    event.event
                    if isinstance(event, VADEvent)
                    else (event.transcript, event.is_final, event.is_speech_final)
                )
                arrivals.append((time.monotonic() - started, shown))
            if turn_end(event):
                break
        speech.wait(5)
    duration = speech_duration(text)
    assert [shown for _, shown in arrivals] == [
        "speech_start",
        ("one", False, False),
        ("one two", False, False),
        ("one two three", False, False),
        "turn_end",
        ("one two three four", False, False),
        ("one two three four", True, False),
        ("", True, True),
    ]
    # The first word is heard well before the speech has been played out, the last at its end.
    assert arrivals[1][0] < duration * 0.6
    assert arrivals[-1][0] >= duration * 0.9
