"""Reconnecting sessions against the local server's fault switches (issue 14, A-F)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from sayna import (
    CloseEvent,
    Event,
    LiveKitConfig,
    ReadyEvent,
    ReconnectedEvent,
    ReconnectingEvent,
    ReconnectPolicy,
    Sayna,
    SaynaConfigError,
    SaynaConnectionClosedError,
    SaynaNotConnectedError,
    SaynaValidationError,
    TTSAudioEvent,
)
from sayna._realtime.session import Session
from sayna.testing import FakeServer, FakeSession, encode_speech
from tests.support.lone_server import reconnecting_session
from tests.support.polling import wait_until
from tests.support.speech_configs import STT, TTS

FAST = ReconnectPolicy(max_attempts=3, initial_delay=0.05, max_delay=0.2)


pytestmark = pytest.mark.connect(reconnect=FAST)  # the pair fixture's session reconnects


def until(events: Iterator[Event], cls: type[Event]) -> list[Event]:
    """Events from ``events`` up to and including the first ``cls``."""
    seen: list[Event] = []
    for event in events:
        seen.append(event)
        if isinstance(event, cls):
            return seen
    raise AssertionError(f"no {cls.__name__} before the end: {seen}")


def drain(events: Iterator[Event], into: list[Event]) -> None:
    """Append every event to ``into`` until the iterator ends (or raises)."""
    for event in events:
        into.append(event)


def errors_of(events: list[Event]) -> list[str]:
    return [e.message for e in events if e.type == "error"]  # type: ignore[attr-defined]


def test_a_drop_mid_stream_resumes_one_stream_and_loses_or_repeats_nothing(
    sayna_server: FakeServer, pair: tuple[Session, FakeSession]
) -> None:
    """After a TCP drop, iterators and callbacks go on: reconnecting, reconnected, new events."""
    session, fake = pair
    stream_id = session.stream_id
    seen_by_callback: list[str] = []
    session.on(None, lambda event: seen_by_callback.append(event.type))
    with session.events(timeout=10) as events:
        assert isinstance(next(events), ReadyEvent)
        fake.send_events({"type": "error", "message": str(n)} for n in range(50))
        wait_until(lambda: seen_by_callback.count("error") == 50)
        fake.drop()
        around = until(events, ReconnectedEvent)
        second = sayna_server.wait_for_session()
        second.send_event({"type": "error", "message": "after"})
        after = [next(events)]
    assert errors_of(around) == [str(n) for n in range(50)]
    reconnecting = [e for e in around if isinstance(e, ReconnectingEvent)]
    assert reconnecting[0].attempt == 1
    assert "connection lost" in reconnecting[0].reason
    reconnected = around[-1]
    assert isinstance(reconnected, ReconnectedEvent)
    assert reconnected.stream_id == stream_id
    assert reconnected.lost_speech == ()
    assert errors_of(after) == ["after"]
    assert second.config is not None
    assert second.config["stream_id"] == stream_id
    assert session.ready
    assert session.stream_id == stream_id
    wait_until(lambda: seen_by_callback[-1] == "error")
    assert seen_by_callback.count("reconnected") == 1
    assert seen_by_callback.count("ready") == 1  # the new ready became the reconnected event
    assert session.stats().reconnects == 1


def test_a_drop_mid_utterance_reports_the_lost_speech(
    sayna_server: FakeServer, client: Sayna
) -> None:
    """A speak() whose completion had not arrived before the drop is listed in lost_speech."""
    sayna_server.tts_speedup = 1.0  # real time: the utterance takes seconds
    with client.connect(STT, TTS, reconnect=FAST) as session:
        fake = sayna_server.wait_for_session()
        with session.events(timeout=10) as events:
            session.speak("a long sentence that takes a while to say")
            until(events, TTSAudioEvent)
            fake.drop()
            around = until(events, ReconnectedEvent)
        reconnected = around[-1]
        assert isinstance(reconnected, ReconnectedEvent)
        assert reconnected.lost_speech == ("a long sentence that takes a while to say",)
        # The new connection speaks normally.
        sayna_server.tts_speedup = 0.0
        audio = session.say("again", timeout=10)
        assert len(audio.data) > 0


def test_a_drop_during_upload_drops_audio_and_never_raises_or_sends_late(
    sayna_server: FakeServer, client: Sayna
) -> None:
    """Audio sent while reconnecting is dropped and counted; the sender never sees an error."""
    policy = ReconnectPolicy(max_attempts=3, initial_delay=0.3, max_delay=0.3)
    frame = encode_speech("one two three")[:3200]
    sent = 0
    failures: list[BaseException] = []
    stop = threading.Event()
    with client.connect(STT, TTS, reconnect=policy) as session:
        fake = sayna_server.wait_for_session()

        def upload() -> None:
            nonlocal sent
            while not stop.is_set():
                try:
                    session.on_audio_input(frame)
                    sent += len(frame)
                except BaseException as exc:
                    failures.append(exc)
                    return
                time.sleep(0.005)

        uploader = threading.Thread(target=upload)
        with session.events(timeout=10) as events:
            uploader.start()
            wait_until(lambda: len(fake.received_audio) > 0)
            fake.drop()
            around = until(events, ReconnectedEvent)
            second = sayna_server.wait_for_session()
            wait_until(lambda: len(second.received_audio) > 0)
        stop.set()
        uploader.join(10)
        reconnected = around[-1]
        assert isinstance(reconnected, ReconnectedEvent)
        assert failures == []
        assert reconnected.dropped_audio_bytes > 0
        assert reconnected.dropped_audio_bytes % len(frame) == 0
        stats = session.stats()
        assert stats.audio_bytes_sent + reconnected.dropped_audio_bytes <= sent
        # Every byte the servers got was sent on time, once: nothing queued up and sent late.
        wait_until(lambda: len(fake.received_audio) + len(second.received_audio) >= 1)
        assert len(fake.received_audio) + len(second.received_audio) <= sent


def test_commands_wait_while_reconnecting_and_go_out_on_the_new_connection(
    sayna_server: FakeServer, client: Sayna
) -> None:
    """speak() called during the reconnect blocks, then reaches the new connection."""
    policy = ReconnectPolicy(max_attempts=3, initial_delay=0.4, max_delay=0.4)
    with client.connect(STT, TTS, reconnect=policy) as session:
        fake = sayna_server.wait_for_session()
        with session.events(timeout=10) as events:
            fake.drop()
            until(events, ReconnectingEvent)
            assert not session.ready
            started = time.monotonic()
            session.speak("said after the drop")
            waited = time.monotonic() - started
            until(events, ReconnectedEvent)
        second = sayna_server.wait_for_session()
        frame = second.wait_for_frame("speak", timeout=5)
        assert frame.data["text"] == "said after the drop"
        assert waited > 0.1  # it waited for the reconnect rather than failing at once
        assert all(f.type != "speak" for f in fake.received)


@pytest.mark.parametrize("code", [1001, 1011, 1012, 1013, 1014])
def test_server_close_codes_of_a_blip_reconnect(
    sayna_server: FakeServer, pair: tuple[Session, FakeSession], code: int
) -> None:
    """A server Close with a going-away / retry-later / error code reconnects."""
    session, fake = pair
    with session.events(timeout=10) as events:
        fake.close(code, "restarting")
        around = until(events, ReconnectedEvent)
    assert not any(isinstance(e, CloseEvent) for e in around)
    reconnecting = next(e for e in around if isinstance(e, ReconnectingEvent))
    assert f"code {code}, restarting" in reconnecting.reason
    sayna_server.wait_for_session()
    assert session.ready


@pytest.mark.parametrize("code", [1000, None])
def test_normal_server_closes_never_reconnect(
    sayna_server: FakeServer, pair: tuple[Session, FakeSession], code: int | None
) -> None:
    """A Close 1000 or a Close without code ends the session without a reconnect."""
    session, fake = pair
    with session.events(timeout=10) as events:
        fake.close(code)
        seen = list(events)
    assert not any(isinstance(e, (ReconnectingEvent, ReconnectedEvent)) for e in seen)
    assert isinstance(seen[-1], CloseEvent)
    assert seen[-1].error is None
    time.sleep(0.2)
    assert len(sayna_server.sessions) == 1


def test_our_close_never_reconnects(sayna_server: FakeServer, client: Sayna) -> None:
    """close() ends a reconnecting-enabled session once, without a new connection."""
    session = client.connect(STT, TTS, reconnect=FAST)
    session.close()
    time.sleep(0.2)
    assert len(sayna_server.sessions) == 1
    assert session.close_event is not None
    assert session.close_event.initiator == "client"


def test_an_unanswered_ping_reconnects(sayna_server: FakeServer) -> None:
    """A server that stops answering pings is given up on and reconnected to."""
    with (
        Sayna(sayna_server.url, ping_interval=0.1, ping_timeout=0.3) as client,
        client.connect(STT, TTS, reconnect=FAST) as session,
    ):
        fake = sayna_server.wait_for_session()
        with session.events(timeout=10) as events:
            fake.pause_reading()
            around = until(events, ReconnectedEvent)
        reconnecting = next(e for e in around if isinstance(e, ReconnectingEvent))
        assert "no answer to a ping" in reconnecting.reason
        assert session.ready


def test_refused_reconnects_end_the_session_within_the_policy(client: Sayna) -> None:
    """With the server gone, the attempts fail; the session ends with a closed error."""
    policy = ReconnectPolicy(max_attempts=3, initial_delay=0.05, max_delay=0.1)
    with reconnecting_session(policy) as (server, session):
        with session.events(timeout=15) as events:
            started = time.monotonic()
            server.stop()
            seen: list[Event] = []
            with pytest.raises(SaynaConnectionClosedError) as info:
                drain(events, seen)
            elapsed = time.monotonic() - started
        attempts = [e.attempt for e in seen if isinstance(e, ReconnectingEvent)]
        assert attempts == [1, 2, 3]
        assert isinstance(seen[-1], CloseEvent)
        assert seen[-1].error is not None
        assert "3 attempt(s) failed" in str(info.value)
        assert elapsed < 0.1 * 3 + 3 * 2 + 2  # delays + connect timeouts, generously
        with pytest.raises(SaynaConnectionClosedError):
            session.speak("too late")


def test_a_401_on_the_reconnect_ends_the_session_at_once() -> None:
    """When the server refuses the key on the new handshake, no further attempt is made."""
    with (
        FakeServer(api_keys={"secret-key": "tenant"}) as server,
        Sayna(server.url, api_key="secret-key") as client,
    ):
        session = client.connect(STT, TTS, reconnect=FAST)
        fake = server.wait_for_session()
        server.api_keys = {"another-key": "tenant"}
        with session.events(timeout=10) as events:
            fake.drop()
            seen: list[Event] = []
            with pytest.raises(SaynaConnectionClosedError) as info:
                drain(events, seen)
        assert [e.attempt for e in seen if isinstance(e, ReconnectingEvent)] == [1]
        assert "refused the credentials" in str(info.value)
        assert "secret-key" not in str(info.value)
        session.close()


def test_close_while_reconnecting_returns_promptly_and_ends_the_session(
    sayna_server: FakeServer, client: Sayna
) -> None:
    """close() between attempts ends the session as ours, without waiting for the backoff."""
    policy = ReconnectPolicy(max_attempts=5, initial_delay=5.0, max_delay=5.0)
    session = client.connect(STT, TTS, reconnect=policy)
    fake = sayna_server.wait_for_session()
    with session.events(timeout=10) as events:
        fake.drop()
        until(events, ReconnectingEvent)
        started = time.monotonic()
        session.close()
        assert time.monotonic() - started < 2.5
        rest = list(events)
    assert isinstance(rest[-1], CloseEvent)
    assert rest[-1].initiator == "client"
    with pytest.raises(SaynaNotConnectedError):
        session.speak("closed")


def test_reconnect_with_livekit_is_refused_at_connect(client: Sayna) -> None:
    """reconnect= with livekit_config raises SaynaValidationError naming the room deletion."""
    livekit = LiveKitConfig(room_name="room-1")
    with pytest.raises(SaynaValidationError) as info:
        client.connect(STT, TTS, livekit_config=livekit, reconnect=True)
    assert info.value.field == "reconnect"
    assert "deletes the LiveKit room" in str(info.value)


def test_reconnect_argument_and_policy_are_checked() -> None:
    """Only True/False/a policy is accepted; the policy refuses impossible numbers."""
    with pytest.raises(SaynaValidationError):
        ReconnectPolicy(max_attempts=0)
    with pytest.raises(SaynaValidationError):
        ReconnectPolicy(initial_delay=-1.0)
    with pytest.raises(SaynaValidationError):
        ReconnectPolicy(initial_delay=2.0, max_delay=1.0)
    policy = ReconnectPolicy()
    assert (policy.max_attempts, policy.initial_delay, policy.max_delay) == (5, 0.5, 10.0)
    delays = [policy.delay(n) for n in range(1, 10)]
    assert 0.25 <= delays[0] <= 0.5
    assert 1.0 <= delays[2] <= 2.0
    assert all(5.0 <= d <= 10.0 for d in delays[5:])


def test_reconnect_argument_type_is_checked(client: Sayna) -> None:
    """connect(reconnect="yes") is refused before connecting."""
    with pytest.raises(SaynaValidationError) as info:
        client.connect(STT, TTS, reconnect="yes")  # type: ignore[arg-type]
    assert info.value.field == "reconnect"


def test_a_command_waiting_for_the_reconnect_raises_when_the_policy_gives_up() -> None:
    """speak() blocked while reconnecting raises SaynaConnectionClosedError at the give-up."""
    policy = ReconnectPolicy(max_attempts=2, initial_delay=0.2, max_delay=0.2)
    with reconnecting_session(policy) as (server, session):
        with session.events(timeout=15) as events:
            server.stop()
            until(events, ReconnectingEvent)
            with pytest.raises(SaynaConnectionClosedError):
                session.speak("waits, then fails")
        assert session.close_event is not None
        assert session.close_event.error is not None


def test_a_refused_first_config_still_fails_connect(
    sayna_server: FakeServer, client: Sayna
) -> None:
    """Reconnecting starts only after the first ready: a bad config still raises at connect()."""
    sayna_server.fail_config("bad provider settings")
    with pytest.raises(SaynaConfigError):
        client.connect(STT, TTS, reconnect=True, timeout=5)
    time.sleep(0.2)
    assert len(sayna_server.sessions) == 1
