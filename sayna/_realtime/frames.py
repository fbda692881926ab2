"""WebSocket framing after the handshake: server frames in, masked client frames out.

:mod:`sayna._realtime.opening` opens the connection (with websocket-client's upgrade
request) and websocket-client closes it; once it is open, the session reads
and writes frames on that socket itself.
websocket-client's frame reader costs two or three ``recv`` calls, an object and
several copies per frame, and its pure-Python mask is slow; both dominated the
session's time on event bursts, audio downloads and uploads.

:class:`FrameReader` reads into one reused buffer and copies each payload out of
it exactly once. It enforces what RFC 6455 asks a client to check: no reserved
bits (no extension is ever negotiated), known opcodes, unmasked server frames,
control frames unfragmented and at most 125 bytes, continuation frames only
inside a fragmented message, valid close payloads; and two limits of ours:
:data:`MAX_MESSAGE_SIZE` per message, :data:`MAX_FRAGMENTS` frames per
fragmented message. A violation raises
``websocket.WebSocketProtocolException``, which the session answers with a
Close 1002 and ends on, as it did when websocket-client parsed the frames.
"""

from __future__ import annotations

import collections
import importlib
import os
import struct
from collections.abc import Callable
from typing import cast

import websocket

__all__ = [
    "MAX_FRAGMENTS",
    "MAX_MESSAGE_SIZE",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "FrameReader",
    "build_frame",
    "mask",
]

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

# Reads start at READ_SIZE; each read that fills the buffer to the end (the
# socket held more) doubles it, up to MAX_READ_SIZE. A quiet session keeps a
# small buffer; a bulk audio download reads up to a megabyte per call, and
# hands the consumer a batch per read: fewer syscalls and, above all, fewer
# thread wake-ups (a TTS download took 0.6x the time with 1 MiB reads as with
# 64 KiB ones in the benchmark). The buffer is zero-filled, so all of it is
# resident: a 64 KiB start cost every idle session 64 kB of its ~87 kB RSS
# (the benchmark's "idle" scenario), hence the small start; a busy stream
# reaches 64 KiB after four full reads.
READ_SIZE = 4096
MAX_READ_SIZE = 1024 * 1024
# After this many reads in a row that fill at most an eighth of a grown
# buffer, the burst is over: the buffer halves, back towards its first size.
QUIET_READS = 8
# The server's own limit for one message (docs/protocol.rst §3.1). A frame or an
# assembled message announcing more is a broken or hostile peer; refusing it
# before reading keeps the reader from trying to allocate whatever it claims.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
# A fragmented message may have at most this many frames (the first included).
# The server never fragments its messages; 4096 fragments still carry a 64 MiB
# message in 16 KiB pieces. Without a bound, empty continuation frames (two
# bytes each on the wire) would pile up in the reader for as long as the
# server sends them.
MAX_FRAGMENTS = 4096

_ProtocolError = websocket.WebSocketProtocolException
_unpack_from = struct.unpack_from
_pack = struct.pack
_urandom = os.urandom
# Masking keys come from os.urandom 1024 at a time: one getrandom() call per
# frame was half of the cost of building an audio frame. deque.popleft is
# atomic, so threads building frames at once never share a key.
_KEYS_PER_DRAW = 1024
_keys: collections.deque[bytes] = collections.deque()


def _next_key() -> bytes:
    while True:
        try:
            return _keys.popleft()
        except IndexError:
            block = _urandom(4 * _KEYS_PER_DRAW)
            _keys.extend(block[i : i + 4] for i in range(0, len(block), 4))


if hasattr(os, "register_at_fork"):
    # A forked child draws its own keys, not the rest of its parent's.
    os.register_at_fork(after_in_child=_keys.clear)

# RFC 6455 §7.4: the codes a peer may send (1005, 1006 and 1015 are reserved
# for reporting, never for the wire), plus the ranges for libraries and apps.
_VALID_CLOSE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)
_CONTROL = frozenset({OP_CLOSE, OP_PING, OP_PONG})


class FrameReader:
    """Parses the server's frames out of large reads into one reused buffer.

    ``fill`` does one socket read (``size`` bytes at first, more once reads
    come back full); ``take_messages`` returns every complete message or
    control frame already in the buffer as ``(opcode, payload)`` pairs, and
    ``next_message`` the next one, or ``None`` when it needs more bytes.
    Fragmented messages come out assembled, with the opcode of their first
    frame; control frames interleaved between the fragments come out as they
    arrive. Not thread-safe: the reader thread owns it.
    """

    __slots__ = (
        "_base_size",
        "_buffer",
        "_end",
        "_error",
        "_fragments",
        "_message_op",
        "_message_size",
        "_quiet_reads",
        "_recv_into",
        "_size",
        "_start",
        "_view",
    )

    def __init__(self, recv_into: Callable[[memoryview], int], size: int = READ_SIZE) -> None:
        self._recv_into = recv_into
        self._size = self._base_size = size
        self._quiet_reads = 0  # small reads in a row into a grown buffer
        self._buffer = bytearray(size)
        self._view = memoryview(self._buffer)
        self._start = 0  # first byte not parsed yet
        self._end = 0  # one past the last byte received
        self._message_op = 0  # opcode of the fragmented message being assembled
        self._fragments: list[bytes] = []
        self._message_size = 0  # bytes of the fragmented message so far
        self._error: _ProtocolError | None = None  # found after messages still to hand out

    def fill(self) -> int:
        """Read once from the socket (blocking); raise when the peer has gone."""
        buffer, start, end = self._buffer, self._start, self._end
        held = end - start
        if start:
            # Move the partial frame (at most one frame's worth) to the front so
            # that every read can fill the rest of the buffer. A copy of the
            # slice first: the two ranges may overlap.
            if held:
                buffer[:held] = buffer[start:end]
            start, end = self._start, self._end = 0, held
        # Grown for a busier stream, or to hold all of a frame larger than the
        # buffer (so that its payload is still sliced out in one copy); but
        # only as the frame's bytes arrive, doubling while they fill the
        # buffer, never to the size its length field claims: a 10-byte header
        # announcing 64 MiB costs nothing until 64 MiB have come.
        needed = self._bytes_needed()
        wanted = max(min(needed, 2 * end), self._size)
        if wanted > len(buffer):
            self._view.release()
            grown = bytearray(wanted)
            grown[:end] = buffer[:end]
            self._buffer = buffer = grown
            self._view = memoryview(buffer)
        elif not held and len(buffer) > self._size:
            # Back to the normal size once a large frame has been handed out.
            self._view.release()
            self._buffer = buffer = bytearray(self._size)
            self._view = memoryview(buffer)
        free = len(buffer) - end
        got = self._recv_into(self._view[end:])
        if not got:
            raise websocket.WebSocketConnectionClosedException(
                "Connection to remote host was lost."
            )
        # Reads into a buffer grown for one large frame say nothing about the
        # stream's pace: only full reads of the normal buffer double it.
        size = self._size
        if got == free and size < MAX_READ_SIZE and needed <= size:
            self._size = min(size * 2, MAX_READ_SIZE)
            self._quiet_reads = 0
        elif size > self._base_size and got < free and got < self._base_size:
            # The socket is drained by a read smaller than the first size: the
            # burst is over, and the session may now stay quiet for hours. The
            # next read with nothing held (the one about to block) goes back
            # to the small buffer at once, instead of after QUIET_READS reads
            # that an idle session never makes: 100 events pushed after
            # ready left each of 1000 sessions holding 16 KiB (issue 26).
            self._size = self._base_size
            self._quiet_reads = 0
        elif size > self._base_size and got * 8 <= size:
            # Given back after a burst: the next read with nothing held
            # reallocates the buffer at the smaller size.
            self._quiet_reads += 1
            if self._quiet_reads >= QUIET_READS:
                self._size = max(size // 2, self._base_size)
                self._quiet_reads = 0
        else:
            self._quiet_reads = 0
        self._end = end + got
        return got

    def _bytes_needed(self) -> int:
        # How many bytes, counted from the first unparsed one, the next frame needs.
        buffer, start, held = self._buffer, self._start, self._end - self._start
        if held < 2:
            return 2
        length = buffer[start + 1] & 0x7F
        if length == 126:
            return 4 if held < 4 else 4 + _unpack_from("!H", buffer, start + 2)[0]
        if length == 127:
            return 10 if held < 10 else 10 + _unpack_from("!Q", buffer, start + 2)[0]
        return 2 + length

    def take_messages(self) -> list[tuple[int, bytes]]:
        """Every complete message and control frame now in the buffer, in order.

        An empty list means: read more. A protocol violation found behind good
        messages is raised by the next call, so the messages before it are
        handled first.
        """
        error = self._error
        if error is not None:
            raise error
        messages: list[tuple[int, bytes]] = []
        append = messages.append
        buffer, view, end = self._buffer, self._view, self._end
        start = self._start
        while end - start >= 2:
            first = buffer[start]
            length = buffer[start + 1]
            # Nearly every frame is a final, unmasked text or binary frame
            # under 64 KiB: parsed here, without a call per frame. Anything
            # else goes through next_message and all of its checks.
            if (first == 0x81 or first == 0x82) and length < 127 and not self._message_op:
                header = 2
                if length == 126:
                    if end - start < 4:
                        break
                    length = buffer[start + 2] << 8 | buffer[start + 3]
                    header = 4
                stop = start + header + length
                if stop > end:
                    break
                append((first & 0x0F, bytes(view[start + header : stop])))
                start = stop
                continue
            self._start = start
            try:
                message = self.next_message()
            except _ProtocolError as exc:
                if not messages:
                    raise
                self._error = exc
                return messages
            start = self._start
            if message is None:
                break
            append(message)
        self._start = start
        return messages

    def next_message(self) -> tuple[int, bytes] | None:
        """The next complete message or control frame, or ``None`` to read more."""
        buffer = self._buffer
        end = self._end
        while True:
            start = self._start
            held = end - start
            if held < 2:
                return None
            first = buffer[start]
            second = buffer[start + 1]
            if first & 0x70:
                raise _ProtocolError("reserved bits set in a frame (no extension was negotiated)")
            if second & 0x80:
                raise _ProtocolError("the server sent a masked frame")
            length = second & 0x7F
            header = 2
            if length == 126:
                if held < 4:
                    return None
                length = _unpack_from("!H", buffer, start + 2)[0]
                header = 4
            elif length == 127:
                if held < 10:
                    return None
                length = _unpack_from("!Q", buffer, start + 2)[0]
                if length >> 63:
                    raise _ProtocolError("frame length with the most significant bit set")
                header = 10
            if length > MAX_MESSAGE_SIZE - self._message_size:
                raise _ProtocolError(
                    f"a {length}-byte frame would exceed the {MAX_MESSAGE_SIZE}-byte message limit"
                )
            stop = start + header + length
            if stop > end:
                return None
            opcode = first & 0x0F
            # Checked before the payload is consumed: an oversized control
            # frame must not be skipped over.
            if opcode in _CONTROL and (length > 125 or not first & 0x80):
                raise _ProtocolError(
                    f"invalid control frame (opcode {opcode:#x}, {length} bytes,"
                    f" {'final' if first & 0x80 else 'fragmented'})"
                )
            self._start = stop
            # The only copy of the payload: out of the buffer into its bytes.
            payload = bytes(self._view[start + header : stop])
            if opcode in (OP_TEXT, OP_BINARY):
                if self._message_op:
                    raise _ProtocolError("a new message began inside a fragmented message")
                if first & 0x80:
                    return opcode, payload
                self._message_op = opcode
                self._fragments = [payload]
                self._message_size = length
            elif opcode == OP_CONT:
                if not self._message_op:
                    raise _ProtocolError("a continuation frame outside a fragmented message")
                if len(self._fragments) >= MAX_FRAGMENTS:
                    raise _ProtocolError(
                        f"a fragmented message of more than {MAX_FRAGMENTS} frames"
                    )
                self._fragments.append(payload)
                self._message_size += length
                if first & 0x80:
                    opcode, self._message_op, self._message_size = self._message_op, 0, 0
                    fragments, self._fragments = self._fragments, []
                    return opcode, b"".join(fragments)
            elif opcode in _CONTROL:
                if opcode == OP_CLOSE:
                    _check_close_payload(payload)
                return opcode, payload
            else:
                raise _ProtocolError(f"unknown opcode {opcode:#x}")


def _check_close_payload(payload: bytes) -> None:
    if not payload:
        return
    if len(payload) == 1:
        raise _ProtocolError("a close frame with a one-byte payload")
    code = _unpack_from("!H", payload)[0]
    if code not in _VALID_CLOSE_CODES and not 3000 <= code < 5000:
        raise _ProtocolError(f"invalid close code {code}")


# _XOR[k] maps every byte b to b ^ k: with bytes.translate, masking becomes four
# C-speed passes (one per key byte, over every fourth byte) instead of a Python
# loop or a big-integer XOR (measured: 6.3 against 8.7 µs per 3,200 bytes).
_XOR = [bytes(b ^ k for b in range(256)) for k in range(256)]

_Mask = Callable[[bytes | bytearray | memoryview, bytes], bytes]


def _load_compiled_mask() -> _Mask | None:
    """``websockets.speedups.apply_mask``, from the optional ``sayna[speedups]`` extra.

    It masks a 3200-byte frame in about 0.2 µs where the translate passes take
    about 4 µs. ``None`` where ``websockets`` is not installed (or was built
    without its C extension): the pure-Python mask does the same work.
    """
    try:
        module = importlib.import_module("websockets.speedups")
    except ImportError:
        return None
    apply_mask = getattr(module, "apply_mask", None)
    return cast(_Mask, apply_mask) if callable(apply_mask) else None


#: The compiled mask, or ``None`` for the pure-Python one (tests swap it).
_compiled_mask: _Mask | None = _load_compiled_mask()


def mask(key: bytes, data: bytes | bytearray | memoryview) -> bytes | bytearray:
    """``data`` XOR-ed with the repeated 4-byte ``key`` (RFC 6455 §5.3)."""
    compiled = _compiled_mask
    if compiled is not None:
        return compiled(data, key)
    out = bytearray(data)
    _mask_in_place(out, 0, key)
    return out


def _mask_in_place(out: bytearray, offset: int, key: bytes) -> None:
    for i in range(4):
        lane = slice(offset + i, None, 4)
        out[lane] = out[lane].translate(_XOR[key[i]])


def build_frame(
    opcode: int, payload: bytes | bytearray | memoryview, key: bytes | None = None
) -> bytes | bytearray:
    """One final, masked client frame; ``key`` is drawn at random unless given (tests)."""
    length = len(payload)
    if length < 126:
        header = _pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = _pack("!BBH", 0x80 | opcode, 0xFE, length)
    else:
        header = _pack("!BBQ", 0x80 | opcode, 0xFF, length)
    if key is None:
        # RFC 6455 §5.3 asks for an unpredictable key per frame.
        key = _next_key()
    compiled = _compiled_mask
    if compiled is not None:
        return header + key + compiled(payload, key)
    out = bytearray(header)
    out += key
    offset = len(out)
    out += payload
    if length:
        _mask_in_place(out, offset, key)
    return out
