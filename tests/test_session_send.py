"""Session sends: every client message, call-site checks, thread safety, after close."""

from __future__ import annotations

import array
import threading
from typing import Any

import pytest

from sayna import (
    LiveKitConfig,
    Sayna,
    SaynaConnectionClosedError,
    SaynaNotConnectedError,
    SaynaValidationError,
    TurnDetectConfigUpdate,
    VADConfigUpdate,
)
from sayna._events import CloseEvent
from sayna._realtime.session import Session
from sayna.testing import FakeServer, FakeSession
from tests.support.polling import wait_until
from tests.support.speech_configs import STT, TTS

# The pair fixture's session joins a LiveKit room, so that the SIP and room calls are valid.
pytestmark = pytest.mark.connect(livekit_config=LiveKitConfig(room_name="room-s"))


def last_text(fake: FakeSession, type_: str) -> dict[str, Any]:
    frame = fake.wait_for_frame(type_)
    assert isinstance(frame.data, dict)
    return frame.data


def test_speak_sends_text_and_both_flags(pair: tuple[Session, FakeSession]) -> None:
    """speak() sends the text with flush and allow_interruption, always both."""
    session, fake = pair
    session.speak("Good morning", allow_interruption=False)
    assert last_text(fake, "speak") == {
        "type": "speak",
        "text": "Good morning",
        "flush": True,
        "allow_interruption": False,
    }


def test_tts_flush_sends_an_empty_speak(pair: tuple[Session, FakeSession]) -> None:
    """tts_flush() is the official SDK's empty speak."""
    session, fake = pair
    session.tts_flush()
    assert last_text(fake, "speak") == {
        "type": "speak",
        "text": "",
        "flush": True,
        "allow_interruption": True,
    }


def test_clear_loading_and_update_config_frames(pair: tuple[Session, FakeSession]) -> None:
    """clear, loading_start/stop and update_config go out as their documented frames."""
    session, fake = pair
    session.clear()
    session.loading_stop()
    session.update_config(vad=VADConfigUpdate(silence_duration_ms=300))
    session.update_config(turn_detect=TurnDetectConfigUpdate(threshold=0.5))
    assert last_text(fake, "clear") == {"type": "clear"}
    assert last_text(fake, "loading_stop") == {"type": "loading_stop"}
    assert last_text(fake, "update_config") == {
        "type": "update_config",
        "vad": {"silence_duration_ms": 300},
    }
    assert last_text(fake, "update_config") == {
        "type": "update_config",
        "turn_detect": {"threshold": 0.5},
    }


def test_loading_start_is_sent_in_a_livekit_audio_session(
    pair: tuple[Session, FakeSession],
) -> None:
    """loading_start() goes out when the session has audio and a room."""
    session, fake = pair
    session.loading_start()
    assert last_text(fake, "loading_start") == {"type": "loading_start"}


def test_send_message_frames(pair: tuple[Session, FakeSession]) -> None:
    """send_message() sends message, role, topic (default 'messages') and debug when given."""
    session, fake = pair
    session.send_message("hi", "assistant")
    session.send_message("x", "user", topic="chat", debug={"k": [1, None]})
    assert last_text(fake, "send_message") == {
        "type": "send_message",
        "message": "hi",
        "role": "assistant",
        "topic": "messages",
    }
    assert last_text(fake, "send_message")["debug"] == {"k": [1, None]}


def test_sip_transfer_sends_the_trimmed_number(pair: tuple[Session, FakeSession]) -> None:
    """sip_transfer() trims the number and leaves the tel: prefix to the server."""
    session, fake = pair
    session.sip_transfer("  +15551234567 ")
    assert last_text(fake, "sip_transfer") == {
        "type": "sip_transfer",
        "transfer_to": "+15551234567",
    }


@pytest.mark.parametrize(
    "audio",
    [b"\x01\x02" * 800, bytearray(b"\x03" * 10), memoryview(b"\x04" * 6), array.array("h", [1, 2])],
)
def test_audio_accepts_any_bytes_like(pair: tuple[Session, FakeSession], audio: Any) -> None:
    """on_audio_input() sends one binary frame with exactly the given bytes."""
    session, fake = pair
    session.on_audio_input(audio)
    assert fake.wait_for_frame("binary").data == bytes(memoryview(audio))


def test_send_audio_is_an_alias(pair: tuple[Session, FakeSession]) -> None:
    """send_audio() is the deprecated name of on_audio_input()."""
    session, fake = pair
    session.send_audio(b"\x00\x01")
    assert fake.wait_for_frame("binary").data == b"\x00\x01"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.speak(""), "text"),
        (lambda s: s.speak("   \n"), "text"),
        (lambda s: s.speak(5), "text"),
        (lambda s: s.speak("a", flush="no"), "flush"),
        (lambda s: s.speak("a", allow_interruption=None), "allow_interruption"),
        (lambda s: s.tts_flush(allow_interruption=1), "allow_interruption"),
        (lambda s: s.send_message("", "user"), "message"),
        (lambda s: s.send_message("m", " "), "role"),
        (lambda s: s.send_message("m", "user", topic=""), "topic"),
        (lambda s: s.send_message("m", "user", debug={1, 2}), "debug"),
        (lambda s: s.send_message("m", "user", debug=float("nan")), "debug"),
        (lambda s: s.sip_transfer("555-1234"), "transfer_to"),
        (lambda s: s.sip_transfer("+"), "transfer_to"),
        (lambda s: s.sip_transfer(""), "transfer_to"),
        (lambda s: s.update_config(), "vad"),
        (lambda s: s.update_config(vad={"silence_duration_ms": 1}), "vad"),
        (lambda s: s.update_config(turn_detect=0.5), "turn_detect"),
        (lambda s: s.on_audio_input(b""), "audio_data"),
        (lambda s: s.on_audio_input("pcm"), "audio_data"),
        (lambda s: s.on_audio_input(12), "audio_data"),
    ],
)
def test_bad_input_is_refused_before_sending(
    pair: tuple[Session, FakeSession], call: Any, field: str
) -> None:
    """Invalid arguments raise SaynaValidationError naming the field; nothing is sent."""
    session, fake = pair
    before = len(fake.received)
    with pytest.raises(SaynaValidationError) as info:
        call(session)
    assert info.value.field == field
    session.clear()  # a marker: the next frame the server sees must be this one
    fake.wait_for_frame("clear")
    assert len(fake.received) == before + 1


def test_audio_and_speech_are_refused_without_audio(client: Sayna) -> None:
    """A session opened without_audio refuses audio, speak, tts_flush and loading_start."""
    with client.connect(without_audio=True) as session:
        for call in (
            lambda: session.on_audio_input(b"\x00\x00"),
            lambda: session.speak("hello"),
            session.tts_flush,
            session.loading_start,
        ):
            with pytest.raises(SaynaValidationError, match="without_audio"):
                call()


def test_loading_start_needs_a_room(client: Sayna) -> None:
    """loading_start() without a LiveKit room can only fail, so it is refused."""
    with client.connect(STT, TTS) as session, pytest.raises(SaynaValidationError):
        session.loading_start()


def test_eight_threads_sending_at_once_never_interleave_frames(
    pair: tuple[Session, FakeSession],
) -> None:
    """Frames from 8 concurrent threads all arrive intact, each thread's in its own order."""
    session, fake = pair
    per_thread = 150
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            barrier.wait()
            for n in range(per_thread):
                if n % 3 == 0:
                    session.on_audio_input(bytes([worker]) * (1000 + n))
                else:
                    session.send_message(f"{worker}:{n}", "user", debug={"pad": "x" * n})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    session.clear()
    fake.wait_for_frame("clear", timeout=30)
    texts: dict[int, list[int]] = {w: [] for w in range(8)}
    audio: dict[int, list[int]] = {w: [] for w in range(8)}
    for frame in fake.received:
        if frame.kind == "binary":
            assert isinstance(frame.data, bytes)
            worker = frame.data[0]
            assert frame.data == bytes([worker]) * len(frame.data)
            audio[worker].append(len(frame.data) - 1000)
        elif frame.type == "send_message":
            assert isinstance(frame.data, dict)
            worker_s, n_s = frame.data["message"].split(":")
            assert frame.data["debug"] == {"pad": "x" * int(n_s)}
            texts[int(worker_s)].append(int(n_s))
    for worker in range(8):
        expected = list(range(per_thread))
        assert audio[worker] == [n for n in expected if n % 3 == 0]
        assert texts[worker] == [n for n in expected if n % 3 != 0]


def test_sending_after_close_raises_not_connected(client: Sayna) -> None:
    """Every send after close() raises SaynaNotConnectedError."""
    session = client.connect(STT, TTS)
    session.close()
    for call in (
        lambda: session.speak("late"),
        session.clear,
        lambda: session.on_audio_input(b"\x00\x00"),
        lambda: session.send_message("m", "user"),
    ):
        with pytest.raises(SaynaNotConnectedError):
            call()


def test_sending_after_an_abrupt_drop_raises_connection_closed(
    pair: tuple[Session, FakeSession],
) -> None:
    """After the connection is lost, a send raises SaynaConnectionClosedError."""
    session, fake = pair
    fake.drop()
    close = session.wait_for(CloseEvent, timeout=5)
    assert isinstance(close, CloseEvent)
    with pytest.raises(SaynaConnectionClosedError) as info:
        session.speak("anyone?")
    assert info.value.code is None
    assert "connection" in str(info.value)


def test_a_send_failing_mid_session_is_reported_as_connection_closed(
    sayna_server: FakeServer, client: Sayna
) -> None:
    """A write on a connection the peer dropped raises SaynaConnectionClosedError, not OSError."""
    session = client.connect(STT, TTS, max_buffered_events=5)
    fake = sayna_server.wait_for_session()
    # Hold the reader back (an iterator that does not consume), so that the
    # failing write, not the reader, is the first to notice the loss.
    iterator = session.events()
    fake.send_events({"type": "error", "message": str(n)} for n in range(20))
    wait_until(lambda: session._core.log.paused, timeout=5)
    fake.drop()
    assert fake.closed.wait(5)

    def flood() -> None:
        for _ in range(200):  # the first writes may still land in the kernel buffer
            session.on_audio_input(b"\x00" * 65536)

    with pytest.raises(SaynaConnectionClosedError, match="sending failed"):
        flood()
    iterator.close()
    close = session.wait_for(CloseEvent, timeout=5)
    assert isinstance(close, CloseEvent)
    assert close.initiator == "network"
    session.close()  # a lost connection is reported by events and sends, not by close()
