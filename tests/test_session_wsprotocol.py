"""The no-I/O protocol part: close frames and records, ping timing, byte by byte."""

from __future__ import annotations

import struct

import pytest
import websocket

from sayna._errors import SaynaConnectionClosedError
from sayna._realtime.protocol import (
    PingClock,
    PingStep,
    client_close,
    close_frame,
    describe_close,
    lost_close,
    parse_close,
    server_close,
    unanswered_close,
)


def unmask(frame: bytes | bytearray) -> tuple[int, bytes]:
    """The opcode and unmasked payload of one short masked client frame."""
    first, second = frame[0], frame[1]
    assert first & 0x80, "not final"
    assert second & 0x80, "client frames are masked"
    length = second & 0x7F
    assert length < 126
    key, body = frame[2:6], frame[6 : 6 + length]
    assert len(frame) == 6 + length
    return first & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(body))


def test_close_frame_bytes_carry_the_code_and_reason() -> None:
    """A Close frame is opcode 8 with a big-endian code then the reason; None sends no code."""
    assert unmask(close_frame(1000, b"bye")) == (0x8, b"\x03\xe8bye")
    assert unmask(close_frame(None)) == (0x8, b"")


def test_parse_close_reads_code_and_reason_or_none() -> None:
    """A payload under two bytes has no code; a bad UTF-8 reason is replaced, not raised."""
    assert parse_close(b"") == (None, "")
    assert parse_close(b"\x03") == (None, "")
    assert parse_close(struct.pack("!H", 1011) + b"oops") == (1011, "oops")
    assert parse_close(b"\x03\xe8\xff") == (1000, "\ufffd")


def test_a_normal_server_close_has_no_error_and_is_echoed() -> None:
    """1000 and a Close without a code (reported as 1005) end normally, echoing the code."""
    close, answer = server_close(b"\x03\xe8done")
    assert (close.code, close.reason, close.initiator, close.error) == (
        1000,
        "done",
        "server",
        None,
    )
    assert unmask(answer) == (0x8, b"\x03\xe8")
    close, answer = server_close(b"")
    assert (close.code, close.error) == (1005, None)
    assert unmask(answer) == (0x8, b"")


def test_an_error_close_code_becomes_a_connection_closed_error() -> None:
    """A Close with 1011 carries a SaynaConnectionClosedError with code and reason."""
    close, _ = server_close(struct.pack("!H", 1011) + b"internal")
    assert isinstance(close.error, SaynaConnectionClosedError)
    assert (close.error.code, close.error.reason) == (1011, "internal")
    assert "1011" in str(close.error)
    assert describe_close(close) == "code 1011, internal"


def test_lost_and_unanswered_records_are_network_errors() -> None:
    """A reset, a protocol violation and a silent peer each end with their reason."""
    reset = lost_close(ConnectionResetError("peer reset"))
    assert reset.initiator == "network"
    assert reset.reason == "connection lost: ConnectionResetError: peer reset"
    assert isinstance(reset.error, SaynaConnectionClosedError)
    violation = lost_close(websocket.WebSocketProtocolException("rsv bits"))
    assert violation.reason == "protocol error: rsv bits"
    silent = unanswered_close(2.5)
    assert silent.reason == "no answer to a ping within 2.5 s"
    assert client_close().code == 1000
    assert client_close().error is None
    assert describe_close(client_close()) == "code 1000"


def test_ping_clock_pings_after_silence_and_gives_up_after_the_timeout() -> None:
    """Interval 10, timeout 3: wait until 10 s of silence, ping, give up 3 s after."""
    clock = PingClock(10.0, 3.0)
    assert clock.step(now=5.0, last_inbound=0.0) == (PingStep.WAIT, 10.0)
    assert clock.step(now=10.0, last_inbound=0.0) == (PingStep.PING, 13.0)
    assert clock.sent(True, now=10.0) == 13.0
    assert clock.step(now=11.0, last_inbound=0.0) == (PingStep.WAIT, 13.0)
    assert clock.step(now=13.0, last_inbound=0.0)[0] is PingStep.GIVE_UP


def test_ping_clock_counts_any_bytes_received_as_the_answer() -> None:
    """Data read after the ping answers it: the next ping is due a full interval later."""
    clock = PingClock(10.0, 3.0)
    assert clock.step(now=10.0, last_inbound=0.0)[0] is PingStep.PING
    clock.sent(True, now=10.0)
    assert clock.step(now=12.0, last_inbound=11.0) == (PingStep.WAIT, 21.0)


def test_ping_clock_retries_an_unwritten_ping_and_keeps_the_deadline() -> None:
    """A ping that could not be written is retried soon; the give-up time does not move."""
    clock = PingClock(10.0, 3.0)
    clock.step(now=10.0, last_inbound=0.0)
    assert clock.sent(False, now=10.0) == 10.05
    assert clock.step(now=10.05, last_inbound=0.0) == (PingStep.PING, 13.0)
    assert clock.step(now=13.0, last_inbound=0.0)[0] is PingStep.GIVE_UP


def test_ping_clock_measures_a_pong_read_before_the_write_is_reported() -> None:
    """The reader may take the pong before the keep-alive thread reports its write."""
    clock = PingClock(10.0, 3.0)
    clock.step(now=10.0, last_inbound=0.0)
    clock.writing(10.0)
    clock.answered(10.002)  # on the reader thread, first
    clock.sent(True, now=10.003)
    assert clock.rtt == pytest.approx(0.002)


def test_ping_clock_pairs_no_pong_with_a_ping_that_was_not_written() -> None:
    """A ping that could not be written has no round trip; a stray pong measures nothing."""
    clock = PingClock(10.0, 3.0)
    clock.step(now=10.0, last_inbound=0.0)
    clock.writing(10.0)
    clock.sent(False, now=10.0)
    clock.answered(10.5)
    assert clock.rtt is None


def test_ping_clock_forgets_a_ping_when_paused_and_never_pings_without_interval() -> None:
    """After pause() a new silence period starts; interval None never pings."""
    clock = PingClock(10.0, 3.0)
    clock.step(now=10.0, last_inbound=0.0)
    clock.pause()
    assert clock.step(now=12.0, last_inbound=5.0) == (PingStep.WAIT, 15.0)
    never = PingClock(None, 3.0)
    assert never.step(now=1000.0, last_inbound=0.0) == (PingStep.WAIT, 1001.0)
