"""The frame layer under the session: server-frame parser and masked client frames."""

from __future__ import annotations

import os
import socket
import ssl
import struct
import threading
import types
from collections.abc import Iterable
from itertools import pairwise

import pytest
import trustme
import websocket

import sayna._realtime.frames as frames_module
from sayna._realtime import frames as _frames
from sayna._realtime.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameReader,
    build_frame,
    mask,
)
from tests.support.wspeer import server_frame


class Chunks:
    """A fake ``recv_into`` that serves the given chunks one read at a time, then EOF."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = [bytes(c) for c in chunks if c]
        self.reads = 0

    def __call__(self, view: memoryview) -> int:
        self.reads += 1
        if not self.chunks:
            return 0
        chunk = self.chunks[0]
        n = min(len(view), len(chunk))
        view[:n] = chunk[:n]
        if n < len(chunk):
            self.chunks[0] = chunk[n:]
        else:
            self.chunks.pop(0)
        return n

    def recv_bytes(self, size: int) -> bytes:
        """The same source, as websocket-client's frame buffer reads it."""
        view = memoryview(bytearray(size))
        return bytes(view[: self(view)])


def drain(reader: FrameReader, *, batched: bool = True) -> list[tuple[int, bytes]]:
    """Everything the reader yields until the stream ends, as the session reads it
    (``take_messages``) or one message at a time (``next_message``)."""
    out: list[tuple[int, bytes]] = []
    while True:
        if batched:
            messages = reader.take_messages()
        else:
            message = reader.next_message()
            messages = [] if message is None else [message]
        if messages:
            out += messages
            continue
        try:
            reader.fill()
        except websocket.WebSocketConnectionClosedException:
            return out


def parse(stream: bytes, cuts: Iterable[int] = (), size: int = 65536) -> list[tuple[int, bytes]]:
    """Parse ``stream`` delivered in pieces split at ``cuts``, both ways; they must agree."""
    points = [0, *sorted(cuts), len(stream)]
    chunks = [stream[a:b] for a, b in pairwise(points)]
    one_by_one = drain(FrameReader(Chunks(chunks), size=size), batched=False)
    batched = drain(FrameReader(Chunks(chunks), size=size))
    assert batched == one_by_one
    return batched


MIXED = b"".join(
    [
        server_frame(OP_TEXT, b'{"type":"ready"}'),
        server_frame(OP_BINARY, bytes(range(256)) * 2),  # 16-bit length
        server_frame(OP_TEXT, b'{"type":"stt_', fin=False),
        server_frame(OP_PING, b"p1"),
        server_frame(OP_CONT, b"result", fin=False),
        server_frame(OP_PONG, b""),
        server_frame(OP_CONT, b'"}'),
        server_frame(OP_BINARY, b"\x01", fin=False),
        server_frame(OP_CONT, b"\x02\x03"),
        server_frame(OP_BINARY, b""),
        server_frame(OP_CLOSE, b"\x03\xe8bye"),
    ]
)
MIXED_MESSAGES = [
    (OP_TEXT, b'{"type":"ready"}'),
    (OP_BINARY, bytes(range(256)) * 2),
    (OP_PING, b"p1"),
    (OP_PONG, b""),
    (OP_TEXT, b'{"type":"stt_result"}'),
    (OP_BINARY, b"\x01\x02\x03"),
    (OP_BINARY, b""),
    (OP_CLOSE, b"\x03\xe8bye"),
]


def test_one_read_yields_every_message_in_order() -> None:
    """Frames arriving in one read come out complete and in order."""
    assert parse(MIXED) == MIXED_MESSAGES


@pytest.mark.parametrize("size", [65536, 7])
def test_a_split_at_every_byte_boundary_changes_nothing(size: int) -> None:
    """Wherever a read ends, even inside a header or length, the messages are the same."""
    for cut in range(1, len(MIXED)):
        assert parse(MIXED, [cut], size=size) == MIXED_MESSAGES, cut


def test_one_byte_reads_change_nothing() -> None:
    """A stream delivered one byte per read parses the same."""
    assert parse(MIXED, range(1, len(MIXED)), size=4) == MIXED_MESSAGES


def test_a_64_bit_length_frame_larger_than_the_buffer() -> None:
    """A frame with a 64-bit length, larger than the buffer, arrives whole, whatever the split."""
    payload = os.urandom(70_000)
    stream = server_frame(OP_BINARY, payload) + server_frame(OP_TEXT, b"{}")
    assert stream[1] & 0x7F == 127
    expected = [(OP_BINARY, payload), (OP_TEXT, b"{}")]
    for cut in [*range(1, 12), len(stream) - 5, len(stream) - 3]:
        assert parse(stream, [cut], size=1024) == expected, cut


def test_the_buffer_shrinks_back_after_a_large_frame() -> None:
    """After a frame that made it grow, the buffer returns to its normal size."""
    stream = server_frame(OP_BINARY, b"x" * 5000)
    reader = FrameReader(Chunks([stream, server_frame(OP_TEXT, b"{}")]), size=64)
    while reader.next_message() is None:
        reader.fill()
    assert reader.next_message() is None
    reader.fill()
    assert reader.next_message() == (OP_TEXT, b"{}")
    # Back to the normal size (which the first, full read doubled; reads into
    # the buffer grown for the large frame do not count).
    assert len(reader._buffer) == 128


def test_each_read_fills_the_whole_free_buffer() -> None:
    """Many small frames take one read per buffer-full, not one per frame."""
    frame = server_frame(OP_TEXT, b'{"type":"x"}')
    source = Chunks([frame * 1000])
    assert len(drain(FrameReader(source, size=65536))) == 1000
    assert source.reads == 2  # the data, then end of stream


def test_reads_grow_while_they_come_back_full_up_to_the_cap() -> None:
    """A busy stream earns bigger reads (doubling, capped); a trickle keeps the first size."""
    frame = server_frame(OP_BINARY, b"a" * 3200)
    busy = Chunks([frame * 2000])  # 6.4 MB waiting: every read fills the buffer
    reader = FrameReader(busy, size=65536)
    assert len(drain(reader)) == 2000
    assert len(reader._buffer) == _frames.MAX_READ_SIZE
    # 6.4 MB in reads of 64 KiB, 128 KiB, ... 1 MiB, then 1 MiB each (and end of stream).
    assert busy.reads < 15

    trickle = Chunks([frame] * 50)  # one frame per read, never a full buffer
    reader = FrameReader(trickle, size=65536)
    assert len(drain(reader)) == 50
    assert len(reader._buffer) == 65536


def test_a_new_reader_holds_a_small_buffer() -> None:
    """An idle session's reader starts at READ_SIZE (4 KiB), not at its bulk size."""
    reader = FrameReader(Chunks([]))
    assert len(reader._buffer) == _frames.READ_SIZE == 4096


def test_the_buffer_is_given_back_after_a_burst() -> None:
    """After a burst grew the buffer, a run of small reads halves it back to READ_SIZE."""
    frame = server_frame(OP_BINARY, b"a" * 3200)
    small = server_frame(OP_TEXT, b"{}")
    source = Chunks([frame * 200] + [small] * 200)
    reader = FrameReader(source)
    got = grown = 0
    while got < 200:
        got += len(drain_some(reader))
        grown = max(grown, len(reader._buffer))
    assert grown >= 65536
    while got < 400:
        got += len(drain_some(reader))
    assert len(reader._buffer) == _frames.READ_SIZE


def test_a_burst_then_silence_gives_the_buffer_back_before_waiting() -> None:
    """A read smaller than READ_SIZE ends a burst: the read that then waits uses a small buffer."""
    small = server_frame(OP_TEXT, b"{}")
    source = Chunks([small * 8000, small])  # 32 kB waiting, then a trickle
    reader = FrameReader(source)
    got = grown = 0
    while got < 8000:
        got += len(drain_some(reader))
        grown = max(grown, len(reader._buffer))
    assert grown > _frames.READ_SIZE
    assert len(drain_some(reader)) == 1  # the trickle; then the session goes quiet
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        reader.fill()  # would block in a session: it must not hold the grown buffer
    assert len(reader._buffer) == _frames.READ_SIZE


def drain_some(reader: FrameReader) -> list[tuple[int, bytes]]:
    """One read and every message it completed."""
    reader.fill()
    out = []
    while (message := reader.next_message()) is not None:
        out.append(message)
    return out


def test_end_of_stream_raises_connection_closed() -> None:
    """A peer that goes away mid-frame ends the reader with websocket-client's exception."""
    reader = FrameReader(Chunks([server_frame(OP_TEXT, b"abc")[:3]]))
    reader.fill()
    assert reader.next_message() is None
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        reader.fill()


VIOLATIONS = {
    "reserved bit": server_frame(OP_TEXT, b"{}", rsv1=True),
    "unknown data opcode": server_frame(0x3, b"x"),
    "unknown control opcode": server_frame(0xB, b""),
    "oversized ping": server_frame(OP_PING, b"x" * 126),
    "oversized close": server_frame(OP_CLOSE, b"\x03\xe8" + b"x" * 124),
    "fragmented ping": server_frame(OP_PING, b"", fin=False),
    "masked frame": bytes(websocket.ABNF.create_frame(b"{}", OP_TEXT).format()),
    "continuation outside a message": server_frame(OP_CONT, b"x"),
    "new message inside a fragmented one": server_frame(OP_TEXT, b"a", fin=False)
    + server_frame(OP_TEXT, b"b"),
    "one-byte close": server_frame(OP_CLOSE, b"\x03"),
    "reserved close code 1005": server_frame(OP_CLOSE, b"\x03\xed"),
    "close code below 1000": server_frame(OP_CLOSE, b"\x00\x01"),
    "64-bit length with the top bit set": b"\x82\xff\x80" + bytes(7),
}


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_protocol_violations_raise(name: str) -> None:
    """Each violation of RFC 6455 raises websocket-client's protocol exception."""
    with pytest.raises(websocket.WebSocketProtocolException):
        parse(VIOLATIONS[name])


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_a_violation_behind_good_frames_comes_after_them(name: str) -> None:
    """Messages read before a violation are handed out; the error comes on the next call."""
    good = [(OP_TEXT, b'{"type":"ready"}'), (OP_BINARY, b"\x00" * 300)]
    stream = b"".join(server_frame(op, data) for op, data in good) + VIOLATIONS[name]
    reader = FrameReader(Chunks([stream]))
    reader.fill()
    assert reader.take_messages() == good
    for _ in range(2):  # the reader stays broken
        with pytest.raises(websocket.WebSocketProtocolException):
            reader.take_messages()


def test_valid_close_payloads_pass() -> None:
    """Close frames without a payload, or with a registered or private code, are accepted."""
    for payload in (b"", b"\x03\xe8", b"\x03\xf3reason", b"\x0f\xa0", b"\x13\x87"):
        assert parse(server_frame(OP_CLOSE, payload)) == [(OP_CLOSE, payload)]


@pytest.fixture(params=["compiled", "pure-python"])
def mask_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the compiled mask (a stand-in without websockets) and with the fallback."""
    if request.param == "pure-python":
        monkeypatch.setattr(_frames, "_compiled_mask", None)
    elif _frames._compiled_mask is None:
        monkeypatch.setattr(
            _frames, "_compiled_mask", lambda data, key: websocket.ABNF.mask(key, bytes(data))
        )
    return str(request.param)


@pytest.mark.usefixtures("mask_path")
@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 125, 126, 127, 3200, 65535, 65536, 70001])
def test_client_frames_match_websocket_client(length: int) -> None:
    """With the same key, our masked frame is byte for byte websocket-client's."""
    payload = os.urandom(length)
    key = os.urandom(4)
    reference = websocket.ABNF.create_frame(payload, OP_BINARY)
    reference.get_mask_key = lambda _n: key
    assert bytes(build_frame(OP_BINARY, payload, key)) == bytes(reference.format())
    assert bytes(mask(key, payload)) == websocket.ABNF.mask(key, payload)
    assert bytes(mask(key, mask(key, payload))) == payload


@pytest.mark.usefixtures("mask_path")
def test_client_frames_draw_a_fresh_key_and_unmask_with_websocket_client() -> None:
    """Each frame carries its own random key; websocket-client's parser recovers the payload."""
    payload = b'{"type":"speak","text":"hi"}'
    frames = [bytes(build_frame(OP_TEXT, payload)) for _ in range(4)]
    assert len({f[2:6] for f in frames}) > 1
    for frame in frames:
        assert frame[:2] == bytes([0x81, 0x80 | len(payload)])
        buffer = websocket._abnf.frame_buffer(Chunks([frame]).recv_bytes, True)
        parsed = buffer.recv_frame()
        assert (parsed.opcode, parsed.data) == (OP_TEXT, payload)


class NumberedKeys:
    """An ``os.urandom`` stand-in whose 4-byte words are 0, 1, 2...: a key
    handed out twice shows up as a repeat, which random keys could produce by
    chance."""

    def __init__(self) -> None:
        self.next = 0
        self.draws: list[int] = []

    def __call__(self, size: int) -> bytes:
        self.draws.append(size)
        words = range(self.next, self.next + size // 4)
        self.next += size // 4
        return b"".join(n.to_bytes(4, "big") for n in words)


def test_masking_keys_are_drawn_in_blocks_and_each_used_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One os.urandom call serves 1024 frames; each frame gets the next key."""
    source = NumberedKeys()
    monkeypatch.setattr(_frames, "_urandom", source)
    monkeypatch.setattr(_frames, "_keys", type(_frames._keys)())
    keys = [bytes(build_frame(OP_BINARY, b"x" * 200)[4:8]) for _ in range(3 * 1024)]
    assert source.draws == [4096] * 3
    assert [int.from_bytes(key, "big") for key in keys] == list(range(3 * 1024))


def test_concurrent_frame_builders_never_share_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads building frames at once each take distinct keys from the shared pool."""
    monkeypatch.setattr(_frames, "_urandom", NumberedKeys())
    monkeypatch.setattr(_frames, "_keys", type(_frames._keys)())
    keys: list[list[bytes]] = [[] for _ in range(4)]

    def build(out: list[bytes]) -> None:
        for _ in range(5000):
            out.append(_frames._next_key())

    threads = [threading.Thread(target=build, args=(out,)) for out in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    everything = [key for out in keys for key in out]
    assert len(everything) == 20_000
    assert len(set(everything)) == len(everything)


def test_compiled_mask_is_used_only_when_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled mask is websockets.speedups.apply_mask when it imports, else None."""

    def apply_mask(data: bytes, key: bytes) -> bytes:
        return websocket.ABNF.mask(key, data)

    def missing(name: str) -> object:
        raise ImportError(name)

    monkeypatch.setattr(_frames.importlib, "import_module", missing)
    assert _frames._load_compiled_mask() is None
    fake = types.SimpleNamespace(apply_mask=apply_mask)
    monkeypatch.setattr(_frames.importlib, "import_module", lambda name: fake)
    assert _frames._load_compiled_mask() is apply_mask
    monkeypatch.setattr(_frames, "_compiled_mask", apply_mask)
    frame = _frames.build_frame(OP_BINARY, b"abcdef", b"\x01\x02\x03\x04")
    assert bytes(frame) == b"\x82\x86\x01\x02\x03\x04" + websocket.ABNF.mask(
        b"\x01\x02\x03\x04", b"abcdef"
    )


@pytest.fixture
def tls_pair() -> Iterable[tuple[ssl.SSLSocket, ssl.SSLSocket]]:
    """A connected TLS client/server socket pair, verified against a test CA."""
    authority = trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    authority.configure_trust(client_ctx)
    a, b = socket.socketpair()
    result: list[ssl.SSLSocket] = []
    thread = threading.Thread(target=lambda: result.append(server_ctx.wrap_socket(b, True)))
    thread.start()
    client = client_ctx.wrap_socket(a, server_hostname="localhost")
    thread.join(5)
    yield client, result[0]
    client.close()
    result[0].close()


def test_a_tls_socket_feeds_the_parser(tls_pair: tuple[ssl.SSLSocket, ssl.SSLSocket]) -> None:
    """Over TLS, frames spanning several records and records holding several frames parse whole."""
    client, server = tls_pair
    big = os.urandom(100_000)  # several 16 KiB TLS records
    small = [server_frame(OP_TEXT, b'{"n":%d}' % i) for i in range(500)]
    stream = server_frame(OP_BINARY, big) + b"".join(small) + server_frame(OP_CLOSE, b"")
    sender = threading.Thread(target=server.sendall, args=(stream,))
    sender.start()
    reader = FrameReader(client.recv_into, size=4096)
    messages: list[tuple[int, bytes]] = []
    while not messages or messages[-1][0] != OP_CLOSE:
        message = reader.next_message()
        if message is None:
            reader.fill()
        else:
            messages.append(message)
    sender.join(5)
    assert messages[0] == (OP_BINARY, big)
    assert [m[1] for m in messages[1:-1]] == [b'{"n":%d}' % i for i in range(500)]
    assert messages[-1] == (OP_CLOSE, b"")


def test_a_frame_announcing_more_than_the_message_limit_is_refused() -> None:
    """A header claiming a terabyte is a protocol error at once, with nothing allocated."""
    reader = FrameReader(Chunks([b"\x82\x7f" + struct.pack("!Q", 1 << 40)]))
    reader.fill()
    with pytest.raises(websocket.WebSocketProtocolException, match="message limit"):
        reader.next_message()
    assert len(reader._buffer) == _frames.READ_SIZE


def test_fragments_adding_up_past_the_limit_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limit applies to the assembled message, not only to each fragment."""
    monkeypatch.setattr(frames_module, "MAX_MESSAGE_SIZE", 10)
    ok = server_frame(OP_BINARY, b"12345", fin=False) + server_frame(OP_CONT, b"12345")
    assert parse(ok) == [(OP_BINARY, b"1234512345")]
    with pytest.raises(websocket.WebSocketProtocolException, match="message limit"):
        parse(server_frame(OP_BINARY, b"123456", fin=False) + server_frame(OP_CONT, b"12345"))


def test_a_large_frame_grows_the_buffer_only_as_its_bytes_arrive() -> None:
    """A header announcing 64 MiB keeps the buffer at its size; it doubles as data fills it."""
    announced = frames_module.MAX_MESSAGE_SIZE - 10
    header = b"\x82\x7f" + struct.pack("!Q", announced)
    source = Chunks([header, b"x" * 1000, b"y" * 200_000])
    reader = FrameReader(source, size=4096)
    reader.fill()
    assert reader.next_message() is None
    reader.fill()
    assert reader.next_message() is None
    assert len(reader._buffer) == 4096
    sizes = []
    while source.chunks:
        reader.fill()
        sizes.append(len(reader._buffer))
    assert reader.next_message() is None
    # Never more than twice what arrived, whatever the header claimed.
    assert max(sizes) <= 2 * (len(header) + 1000 + 200_000)
    assert sizes == sorted(sizes)


def test_the_fragment_count_is_bounded() -> None:
    """A message of MAX_FRAGMENTS frames arrives; one more continuation frame is refused."""
    limit = frames_module.MAX_FRAGMENTS
    first = server_frame(OP_BINARY, b"a", fin=False)
    empty = server_frame(OP_CONT, b"", fin=False)
    last = server_frame(OP_CONT, b"z")
    assert parse(first + empty * (limit - 2) + last) == [(OP_BINARY, b"az")]
    with pytest.raises(websocket.WebSocketProtocolException, match=f"more than {limit} frames"):
        parse(first + empty * (limit - 1) + last)
