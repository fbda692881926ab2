"""Consuming a session: iterators, callbacks, wait_for/next_event, errors, buffering."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sayna import (
    Sayna,
    SaynaCallbackError,
    SaynaTimeoutError,
    SaynaValidationError,
)
from sayna._events import (
    CallbackErrorEvent,
    CloseEvent,
    ErrorEvent,
    Event,
    EventsDiscardedEvent,
    MalformedEvent,
    ReadyEvent,
    STTResultEvent,
    TTSAudioEvent,
    TTSPlaybackCompleteEvent,
    UnknownEvent,
)
from sayna._realtime.session import Session
from sayna.testing import FakeServer, FakeSession, decode_speech, encode_speech
from tests.support.polling import wait_until
from tests.support.speech_configs import STT, TTS


def errors(count: int, start: int = 0) -> Iterator[dict[str, Any]]:
    return ({"type": "error", "message": str(n)} for n in range(start, start + count))


def numbers(events: list[Event]) -> list[int]:
    return [int(e.message) for e in events if isinstance(e, ErrorEvent)]


def test_an_iterator_sees_ready_then_the_whole_utterance(pair: tuple[Session, FakeSession]) -> None:
    """The first iterator starts at ready; speech comes back as audio then a completion."""
    session, _ = pair
    session.speak("good evening")
    audio = bytearray()
    with session.events(timeout=5) as events:
        assert isinstance(next(events), ReadyEvent)
        for event in events:
            if isinstance(event, TTSAudioEvent):
                audio += event.data
            elif isinstance(event, TTSPlaybackCompleteEvent):
                break
    assert decode_speech(bytes(audio), 24000) == "good evening"


def test_audio_in_gives_a_final_transcript(pair: tuple[Session, FakeSession]) -> None:
    """Audio sent with on_audio_input comes back as a final stt_result."""
    session, _ = pair
    session.on_audio_input(encode_speech("turn left"))
    final = session.wait_for(lambda e: isinstance(e, STTResultEvent) and e.is_final, timeout=10)
    assert isinstance(final, STTResultEvent)
    assert final.transcript == "turn left"


def test_ten_thousand_events_reach_two_iterators_and_a_callback_in_order(
    pair: tuple[Session, FakeSession],
) -> None:
    """10,000 server events arrive complete and in order at every consumer at once."""
    session, fake = pair
    total = 10_000
    seen_by_callback: list[Event] = []
    session.on(ErrorEvent, seen_by_callback.append)
    results: dict[str, list[Event]] = {}

    def consume(name: str, events: Iterator[Event]) -> None:
        out: list[Event] = []
        for event in events:
            out.append(event)
            if isinstance(event, ErrorEvent) and event.message == str(total - 1):
                break
        results[name] = out

    iterators = [session.events(timeout=30), session.events(timeout=30)]
    threads = [
        threading.Thread(target=consume, args=(f"it{i}", it)) for i, it in enumerate(iterators)
    ]
    for thread in threads:
        thread.start()
    fake.send_events(errors(total))
    for thread in threads:
        thread.join(60)
    for iterator in iterators:
        iterator.close()
    wait_until(lambda: len(seen_by_callback) >= total, timeout=30)
    assert numbers(results["it0"]) == list(range(total))
    assert numbers(results["it1"]) == list(range(total))
    assert numbers(seen_by_callback) == list(range(total))


def test_on_as_decorator_several_handlers_strings_and_catch_all(
    pair: tuple[Session, FakeSession],
) -> None:
    """on() works as a decorator, by class, by wire type and for every event, in order."""
    session, fake = pair
    calls: list[str] = []
    done = threading.Event()

    @session.on(ErrorEvent)
    def first(event: ErrorEvent) -> None:
        calls.append(f"first:{event.message}")

    session.on("error", lambda e: calls.append(f"by-type:{e.message}"))
    session.on_any(lambda e: calls.append(f"any:{e.type}"))
    session.on(None, lambda e: done.set() if isinstance(e, TTSPlaybackCompleteEvent) else None)
    fake.send_event({"type": "error", "message": "x"})
    fake.send_event({"type": "tts_playback_complete", "timestamp": 1})
    assert done.wait(5)
    assert calls == ["any:ready", "first:x", "by-type:x", "any:error", "any:tts_playback_complete"]
    assert first.__name__ == "first"


def test_off_removes_one_registration(pair: tuple[Session, FakeSession]) -> None:
    """off() removes the handler so later events no longer reach it."""
    session, fake = pair
    calls: list[str] = []
    seen = threading.Event()
    handler = calls.append
    session.on(ErrorEvent, handler)
    session.on(TTSPlaybackCompleteEvent, lambda e: seen.set())
    assert session.off(ErrorEvent, handler)
    assert not session.off(ErrorEvent, handler)
    fake.send_event({"type": "error", "message": "x"})
    fake.send_event({"type": "tts_playback_complete", "timestamp": 1})
    assert seen.wait(5)
    assert calls == []


def test_register_on_callbacks_replace_each_other_and_audio_gets_bytes(
    pair: tuple[Session, FakeSession],
) -> None:
    """register_on_* keeps one callback per kind; the TTS audio callback receives bytes."""
    session, _ = pair
    old: list[Any] = []
    chunks: list[bytes] = []
    ready: list[ReadyEvent] = []
    done = threading.Event()
    session.register_on_tts_audio(old.append)
    session.register_on_tts_audio(chunks.append)
    session.register_on_ready(ready.append)
    session.register_on_tts_playback_complete(lambda e: done.set())
    session.speak("abc")
    assert done.wait(10)
    assert old == []
    assert all(isinstance(chunk, bytes) for chunk in chunks)
    assert decode_speech(b"".join(chunks), 24000) == "abc"
    assert [type(e) for e in ready] == [ReadyEvent]
    session.register_on_tts_audio(None)
    session.register_on_ready(None)


def test_a_callbacks_only_speech_stream_keeps_little_audio_and_loses_none(
    client: Sayna, sayna_server: FakeServer
) -> None:
    """Callbacks get all the speech; the log keeps at most the audio bound for later iterators."""
    bound = 4_000
    with client.connect(STT, TTS, max_buffered_audio_bytes=bound) as session:
        fake = sayna_server.wait_for_session()
        chunks: list[bytes] = []
        done, after = threading.Event(), threading.Event()
        session.on(TTSAudioEvent, lambda event: chunks.append(event.data))
        session.on(TTSPlaybackCompleteEvent, lambda event: done.set())
        session.on(ErrorEvent, lambda event: after.set())
        session.speak("bounded memory")
        assert done.wait(20)
        speech = b"".join(chunks)
        assert len(speech) > 10 * bound
        assert decode_speech(speech, 24000) == "bounded memory"
        # The next append trims what the dispatcher has passed down to the bound.
        fake.send_event({"type": "error", "message": "after"})
        assert after.wait(10)
        assert session._core.log._audio <= bound


def test_every_register_on_name_of_the_official_sdk_exists(
    pair: tuple[Session, FakeSession],
) -> None:
    """All register_on_* methods of the official SDK are there and accept a callback."""
    session, _ = pair
    for name in (
        "register_on_ready",
        "register_on_stt_result",
        "register_on_tts_audio",
        "register_on_error",
        "register_on_message",
        "register_on_participant_connected",
        "register_on_participant_disconnected",
        "register_on_track_subscribed",
        "register_on_tts_playback_complete",
        "register_on_sip_transfer_error",
    ):
        getattr(session, name)(lambda event: None)
    with pytest.raises(SaynaValidationError):
        session.register_on_error("not callable")  # type: ignore[arg-type]
    with pytest.raises(SaynaValidationError):
        session.on(int, print)  # type: ignore[arg-type]


def test_malformed_and_unknown_frames_are_delivered_and_the_session_goes_on(
    pair: tuple[Session, FakeSession],
) -> None:
    """Garbage becomes a MalformedEvent, a new type an UnknownEvent; later events still come."""
    session, fake = pair
    fake.send_text("definitely not json")
    fake.send_event({"type": "stt_result", "transcript": "x"})
    fake.send_event({"type": "hologram", "depth": 3})
    fake.send_event({"type": "error", "message": "after"})
    garbage = session.wait_for(MalformedEvent, 5)
    broken = session.wait_for(MalformedEvent, 5)
    unknown = session.wait_for("hologram", 5)
    after = session.wait_for(ErrorEvent, 5)
    assert isinstance(garbage, MalformedEvent)
    assert garbage.raw == "definitely not json"
    assert isinstance(broken, MalformedEvent)
    assert broken.wire_type == "stt_result"
    assert "is_final" in broken.error
    assert isinstance(unknown, UnknownEvent)
    assert unknown.payload == {"type": "hologram", "depth": 3}
    assert isinstance(after, ErrorEvent)
    assert after.message == "after"
    assert session.ready


def test_callbacks_on_unknown_types_get_only_their_own_type(
    pair: tuple[Session, FakeSession],
) -> None:
    """Two unknown wire types share one class; a callback on each type string gets only its own."""
    session, fake = pair
    got: dict[str, list[Event]] = {"hologram": [], "smell": [], "any_unknown": []}
    session.on("hologram", got["hologram"].append)
    session.on("smell", got["smell"].append)
    session.on(UnknownEvent, got["any_unknown"].append)
    for n in range(3):
        fake.send_event({"type": "hologram", "n": n})
        fake.send_event({"type": "smell", "n": n})
    fake.send_event({"type": "error", "message": "end"})
    session.wait_for(ErrorEvent, 5)
    wait_until(lambda: len(got["any_unknown"]) == 6, timeout=10)
    assert [e.payload["n"] for e in got["hologram"]] == [0, 1, 2]  # type: ignore[attr-defined]
    assert [e.type for e in got["smell"]] == ["smell"] * 3
    assert [e.type for e in got["any_unknown"]] == ["hologram", "smell"] * 3


def test_callback_errors_are_logged_evented_and_raised_at_close(
    client: Sayna, sayna_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing callback is logged with traceback, evented, collected and raised by close()."""
    session = client.connect(STT, TTS)
    fake = sayna_server.wait_for_session()
    survivors: list[str] = []

    def broken(event: ErrorEvent) -> None:
        raise RuntimeError(f"cannot handle {event.message}")

    session.on(ErrorEvent, broken)
    session.on(ErrorEvent, lambda e: survivors.append(e.message))
    with caplog.at_level(logging.ERROR, logger="sayna"):
        fake.send_events(errors(2))
        first = session.wait_for(CallbackErrorEvent, 5)
        second = session.wait_for(CallbackErrorEvent, 5)
    assert isinstance(first, CallbackErrorEvent)
    assert isinstance(second, CallbackErrorEvent)
    assert str(first.error) == "cannot handle 0"
    assert first.event == ErrorEvent(message="0")
    assert first.callback is broken
    assert "Traceback" in caplog.text
    assert "cannot handle 1" in caplog.text
    assert survivors == ["0", "1"]
    assert [str(e) for e in session.callback_errors] == ["cannot handle 0", "cannot handle 1"]
    assert session.ready
    with pytest.raises(SaynaCallbackError) as info:
        session.close()
    assert [str(e) for e in info.value.errors] == ["cannot handle 0", "cannot handle 1"]
    assert isinstance(info.value.__cause__, RuntimeError)
    session.close()  # already raised once: idempotent and quiet


def test_callback_errors_are_not_raised_over_another_exception(
    client: Sayna, sayna_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Leaving the with block by an exception keeps that exception and only logs callback errors."""
    raised = threading.Event()

    def broken(event: Event) -> None:
        raised.set()
        raise ValueError("callback bug")

    def run() -> Session:
        with client.connect(STT, TTS) as session:
            session.on(ReadyEvent, broken)
            assert raised.wait(5)
            session.wait_for(CallbackErrorEvent, 5)
            raise KeyError(session)

    with pytest.raises(KeyError) as info:
        run()
    session = info.value.args[0]
    assert "not raised from close()" in caplog.text
    assert len(session.callback_errors) == 1


def test_an_exception_in_a_catch_all_handler_does_not_loop(
    pair: tuple[Session, FakeSession],
) -> None:
    """A catch-all handler that always raises produces one error per server event, no storm."""
    session, fake = pair
    calls: list[str] = []

    def always(event: Event) -> None:
        calls.append(event.type)
        raise RuntimeError("nope")

    session.on_any(always)
    fake.send_event({"type": "error", "message": "x"})
    session.wait_for(lambda e: isinstance(e, CallbackErrorEvent) and e.event.type == "error", 5)
    wait_until(lambda: len(calls) >= 4, timeout=5)
    time.sleep(0.05)  # time enough for a storm to show, were there one
    # The order of ready/error and of their error events depends on timing.
    assert sorted(calls) == ["callback_error", "callback_error", "error", "ready"]
    assert len(session.callback_errors) == 4
    with pytest.raises(SaynaCallbackError):
        session.close()


def test_close_from_inside_a_callback(client: Sayna, sayna_server: FakeServer) -> None:
    """A callback may close its own session; close returns and the session ends cleanly."""
    session = client.connect(STT, TTS)
    fake = sayna_server.wait_for_session()
    returned = threading.Event()
    seen: list[str] = []

    def stop(event: ErrorEvent) -> None:
        seen.append(event.message)
        if event.message == "stop":
            session.close()
            returned.set()

    session.on(ErrorEvent, stop)
    closes: list[CloseEvent] = []
    session.on(CloseEvent, closes.append)
    fake.send_event({"type": "error", "message": "stop"})
    assert returned.wait(5)
    assert not session.connected
    assert fake.closed.wait(5)
    session.close()
    assert closes
    assert closes[0].initiator == "client"
    assert seen == ["stop"]


def test_a_slow_iterator_gets_backpressure_not_loss(
    client: Sayna, sayna_server: FakeServer
) -> None:
    """With a small buffer and a slow iterator, the reader pauses and every event arrives."""
    total = 3000
    with client.connect(STT, TTS, max_buffered_events=50) as session:
        fake = sayna_server.wait_for_session()
        events = session.events(timeout=30)
        assert isinstance(next(events), ReadyEvent)
        fake.send_events(errors(total))
        wait_until(lambda: session._core.log.paused, timeout=10)
        received: list[Event] = []
        for event in events:
            received.append(event)
            assert len(session._core.log) <= 50
            if len(received) % 500 == 0:
                time.sleep(0.02)
            if isinstance(event, ErrorEvent) and event.message == str(total - 1):
                break
        events.close()
        assert numbers(received) == list(range(total))


def test_a_callbacks_only_session_keeps_memory_bounded_and_reports_overflow(
    client: Sayna, sayna_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Callbacks see every event; the buffer stays bounded; a late iterator gets a marker."""
    total = 5000
    with client.connect(STT, TTS, max_buffered_events=100) as session:
        fake = sayna_server.wait_for_session()
        got: list[Event] = []
        last = threading.Event()

        def collect(event: ErrorEvent) -> None:
            got.append(event)
            if event.message == str(total - 1):
                last.set()

        session.on(ErrorEvent, collect)
        fake.send_events(errors(total))
        assert last.wait(30)
        assert len(session._core.log) <= 100
        assert numbers(got) == list(range(total))
        with caplog.at_level(logging.WARNING, logger="sayna"):
            late = session.events(timeout=5)
            marker = next(late)
        assert isinstance(marker, EventsDiscardedEvent)
        kept = []
        while len(kept) < total and len(numbers(kept)) + marker.count < total + 1:
            kept.append(next(late))
            if numbers(kept[-1:]) == [total - 1]:
                break
        late.close()
        assert numbers(kept) == list(range(total - len(numbers(kept)), total))
        # ready plus the discarded error events
        assert marker.count + len(numbers(kept)) == total + 1
        assert "discarded" in caplog.text


def test_wait_for_forms_and_timeout(pair: tuple[Session, FakeSession]) -> None:
    """wait_for takes a class, a type string, a tuple or a predicate; it times out cleanly."""
    session, fake = pair
    fake.send_events(errors(3))
    fake.send_event({"type": "tts_playback_complete", "timestamp": 9})
    assert session.wait_for(ReadyEvent, 5) == session.ready_event
    assert session.wait_for("error", 5) == ErrorEvent(message="0")
    assert session.wait_for(lambda e: getattr(e, "message", "") == "2", 5) == ErrorEvent(
        message="2"
    )
    assert isinstance(session.wait_for((STTResultEvent, TTSPlaybackCompleteEvent), 5), Event)
    started = time.monotonic()
    with pytest.raises(SaynaTimeoutError):
        session.wait_for(ErrorEvent, 0.1)
    assert time.monotonic() - started < 2
    with pytest.raises(SaynaValidationError):
        session.wait_for(42, 1)  # type: ignore[arg-type]


def test_next_event_polls_in_order_and_returns_none_on_timeout(
    pair: tuple[Session, FakeSession],
) -> None:
    """next_event returns events one by one and None when nothing comes in time."""
    session, fake = pair
    assert isinstance(session.next_event(5), ReadyEvent)
    assert session.next_event(0.05) is None
    fake.send_events(errors(2))
    assert session.next_event(5) == ErrorEvent(message="0")
    assert session.next_event(5) == ErrorEvent(message="1")


def test_each_thread_has_its_own_wait_for_position(pair: tuple[Session, FakeSession]) -> None:
    """Concurrent wait_for calls in two threads both see the same event."""
    session, fake = pair
    found: dict[str, Event] = {}

    def wait(name: str) -> None:
        found[name] = session.wait_for(ErrorEvent, 5)

    threads = [threading.Thread(target=wait, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    fake.send_event({"type": "error", "message": "shared"})
    for thread in threads:
        thread.join(10)
    assert found == {"a": ErrorEvent(message="shared"), "b": ErrorEvent(message="shared")}


def test_iterating_the_session_itself(pair: tuple[Session, FakeSession]) -> None:
    """``for event in session`` is the same as ``session.events()``."""
    session, _ = pair
    for event in session:
        assert isinstance(event, ReadyEvent)
        break


def test_setup_events_replay_to_late_callbacks_and_consumed_events_are_released(
    pair: tuple[Session, FakeSession],
) -> None:
    """Before the first send, a new callback still gets ready; after it, consumed events go."""
    session, fake = pair
    first: list[Event] = []
    session.on(ReadyEvent, first.append)
    assert isinstance(session.next_event(5), ReadyEvent)
    wait_until(lambda: len(first) == 1, timeout=10)
    second: list[Event] = []
    session.on(ReadyEvent, second.append)  # ready was consumed twice already: still due
    # The first send ends the setup, but the log keeps ready until the
    # dispatcher has replayed it to the second callback (before its next event).
    session.clear()
    log = session._core.log
    fake.send_events(errors(2000))
    seen = [session.next_event(5) for _ in range(2000)]
    assert numbers(seen) == list(range(2000))  # type: ignore[arg-type]
    # Released once the dispatcher has passed them too (on the reader's next append).
    fake.send_events(errors(1, 2000))
    assert session.next_event(5) == ErrorEvent(message="2000")

    def released_after_one_more() -> bool:
        fake.send_events(errors(1, 9999))
        return len(log) <= 2

    wait_until(released_after_one_more, timeout=10)
    assert first == second == [session.ready_event]
