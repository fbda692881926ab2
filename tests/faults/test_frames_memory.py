"""Memory a hostile server can force on the frame reader: announced lengths, endless fragments."""

from __future__ import annotations

import threading
import time
import tracemalloc

from sayna import Sayna
from sayna._events import CloseEvent
from sayna._realtime.frames import MAX_FRAGMENTS, MAX_MESSAGE_SIZE
from tests.support.polling import wait_until
from tests.support.rawserver import RawServer
from tests.support.wspeer import Peer, server_frame, session_handler


def test_a_header_announcing_64_mib_allocates_only_what_arrives(traced: None) -> None:
    """A frame header claiming 64 MiB, then a trickle of 100 kB: the reader holds kilobytes."""
    header = b"\x82\x7f" + (MAX_MESSAGE_SIZE - 16).to_bytes(8, "big")
    sent = threading.Event()
    release = threading.Event()

    def script(peer: Peer) -> None:
        peer.send(header)
        for _ in range(100):
            peer.send(b"\0" * 1000)
            time.sleep(0.002)
        sent.set()
        release.wait(10)

    with RawServer(session_handler(script)) as server, Sayna(server.url) as client:
        session = client.connect(without_audio=True, timeout=10)
        tracemalloc.reset_peak()
        assert sent.wait(10)
        time.sleep(0.2)  # let the reader take in the last bytes
        _, peak = tracemalloc.get_traced_memory()
        release.set()
        session.close(timeout=2)
    # Before the reader grew its buffer as data came, this was the 64 MiB the header claimed.
    assert peak < 4 * 1024 * 1024, peak


def test_endless_empty_continuation_frames_end_the_session(traced: None) -> None:
    """A fragmented message of endless empty frames is refused after MAX_FRAGMENTS frames."""

    def script(peer: Peer) -> None:
        peer.send(server_frame(0x2, b"a", fin=False))
        empty = server_frame(0x0, b"", fin=False) * 1000
        try:
            for _ in range(1000):  # a million frames, unless the client hangs up first
                peer.send(empty)
        except OSError:
            return

    with RawServer(session_handler(script)) as server, Sayna(server.url) as client:
        session = client.connect(without_audio=True, timeout=10)
        tracemalloc.reset_peak()
        close = session.wait_for(CloseEvent, timeout=30)
        _, peak = tracemalloc.get_traced_memory()
    assert isinstance(close, CloseEvent)
    assert close.initiator == "network"
    assert close.error is not None
    assert f"more than {MAX_FRAGMENTS} frames" in str(close.error)
    wait_until(lambda: not session.connected, timeout=10)
    assert peak < 4 * 1024 * 1024, peak
