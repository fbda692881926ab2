"""REST bodies are bounded in memory: JSON cap, audio cap, streamed recordings, gzip bombs."""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import os
import pathlib
import socket
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator

import pytest

import sayna
from sayna import Sayna, SaynaConnectionError, SaynaProtocolError, SaynaValidationError
from tests.support.rawserver import RawServer, read_request_head

MB = 1_000_000
BLOCK = bytes(range(256)) * 4096  # 1 MiB of non-repeating-looking audio stand-in
BIG = 100 * MB


@functools.cache
def _gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes gzip-compressed (about a thousandth of that on the wire)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as writer:
        for _ in range(size // MB):
            writer.write(bytes(MB))
    return out.getvalue()


def _big_body() -> Iterator[bytes]:
    sent = 0
    while sent < BIG:
        piece = BLOCK[: BIG - sent]
        sent += len(piece)
        yield piece


def _big_digest() -> str:
    digest = hashlib.sha256()
    for piece in _big_body():
        digest.update(piece)
    return digest.hexdigest()


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"HTTP/1.1 {status}\r\n{lines}\r\n".encode()


def _chunked(pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def _routes(conn: socket.socket, path: str) -> None:
    """The hostile answers, by request path."""
    if path == "/recording/big":
        conn.sendall(_head("200 OK", {"Content-Type": "audio/ogg", "Content-Length": str(BIG)}))
        for piece in _big_body():
            conn.sendall(piece)
    elif path == "/recording/big-chunked":
        conn.sendall(_head("200 OK", {"Content-Type": "audio/ogg", "Transfer-Encoding": "chunked"}))
        for piece in _chunked(_big_body()):
            conn.sendall(piece)
    elif path in ("/", "/recording/bomb"):
        bomb = _gzip_bomb(BIG)
        headers = {"Content-Encoding": "gzip", "Content-Length": str(len(bomb))}
        conn.sendall(_head("200 OK", {"Content-Type": "application/json", **headers}) + bomb)
    elif path == "/recording/cut":
        conn.sendall(_head("200 OK", {"Content-Length": str(10 * MB)}) + BLOCK)
        conn.close()
    elif path == "/voices":  # 9 MB of valid JSON, no length announced
        conn.sendall(_head("200 OK", {"Transfer-Encoding": "chunked"}))
        pieces = [b'{"deepgram": ['] + [b'{"id": "v"},' * 100_000] * 9 + [b'{"id": "v"}]}']
        for piece in _chunked(iter(pieces)):
            conn.sendall(piece)
    elif path == "/livekit/rooms":  # announced over the JSON cap: refused before reading
        conn.sendall(_head("200 OK", {"Content-Length": str(9 * 1024 * 1024)}))
    else:
        body = b'{"error":"no such route"}'
        conn.sendall(_head("404 Not Found", {"Content-Length": str(len(body))}) + body)


def _handler(conn: socket.socket) -> None:
    while True:
        head = read_request_head(conn)
        if not head:
            return
        _routes(conn, head.split(b" ", 2)[1].decode())


pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/clear_refs"), reason="measures peak RSS through Linux /proc"
)


@pytest.fixture(scope="module")
def raw_server() -> Iterator[RawServer]:
    with RawServer(_handler) as raw:
        yield raw


_PROBE = """
import json
from sayna import Sayna

def peak_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

client = Sayna({url!r}, max_retries=0)
try:
    client.get_livekit_room("warm-up")  # imports, pools, first answer
except Exception:
    pass
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak (VmHWM) restarts from the current RSS
before = peak_kib()
try:
    outcome = "returned " + repr({call})[:60]
except Exception as exc:
    outcome = type(exc).__name__ + ": " + str(exc)[:200]
print(json.dumps({{"grew_kib": peak_kib() - before, "outcome": outcome}}))
"""


def _probe(raw_server: RawServer, call: str) -> tuple[float, str]:
    """Run ``call`` (an expression using ``client``) in a fresh process: peak RSS growth in MB."""
    script = _PROBE.format(url=raw_server.url, call=call)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["grew_kib"] / 1024, report["outcome"]


# Bounded memory means a few chunks and buffers, far from the 100 MB at stake.
BOUND_MB = 25


def test_save_recording_streams_100_mb_in_bounded_memory(
    raw_server: RawServer, tmp_path: pathlib.Path
) -> None:
    """save_recording writes a 100 MB recording to a path with a few MB of peak memory."""
    target = tmp_path / "call.ogg"
    grew, outcome = _probe(raw_server, f"client.save_recording('big', {str(target)!r})")
    assert outcome == f"returned {BIG}"
    assert grew < BOUND_MB, f"peak RSS grew {grew:.1f} MB"
    assert target.stat().st_size == BIG
    assert hashlib.sha256(target.read_bytes()).hexdigest() == _big_digest()
    assert [p.name for p in tmp_path.iterdir()] == ["call.ogg"]


def test_get_recording_costs_the_body_once(raw_server: RawServer) -> None:
    """get_recording of 100 MB (chunked) grows memory by about 100 MB, not twice that."""
    grew, outcome = _probe(raw_server, "len(client.get_recording('big-chunked').data)")
    assert outcome == f"returned {BIG}"
    assert grew < 1.5 * BIG / 2**20, f"peak RSS grew {grew:.1f} MB"


@pytest.mark.parametrize("call", ["client.health()", "client.get_recording('bomb')"])
def test_gzip_bomb_never_inflates_in_memory(raw_server: RawServer, call: str) -> None:
    """A 100 kB gzip body inflating to 100 MB: JSON stops at 8 MiB; audio, never asked
    to be compressed, is refused without inflating."""
    assert len(_gzip_bomb(BIG)) < 200_000
    grew, outcome = _probe(raw_server, call)
    if "health" in call:
        assert outcome.startswith("SaynaProtocolError: GET /: the answer is larger than")
    else:
        assert outcome == (
            "SaynaProtocolError: GET /recording/bomb: the answer is gzip-encoded;"
            " we asked for 'identity'"
        )
    assert grew < BOUND_MB, f"peak RSS grew {grew:.1f} MB"


def test_audio_cap_applies_to_inflated_bytes(
    raw_server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the audio cap (lowered here to 8 MiB), get_recording raises SaynaProtocolError."""
    monkeypatch.setattr("sayna._client.MAX_AUDIO_BYTES", 8 * 1024 * 1024)
    with Sayna(raw_server.url, max_retries=0) as client:
        for stream in ("big", "big-chunked"):
            with pytest.raises(SaynaProtocolError, match="limit") as info:
                client.get_recording(stream)
            assert info.value.endpoint == f"/recording/{stream}"


def test_json_answer_over_the_cap(raw_server: RawServer) -> None:
    """A 9 MB JSON answer is refused past 8 MiB, announced or not."""
    with Sayna(raw_server.url, max_retries=0) as client:
        with pytest.raises(SaynaProtocolError, match="larger than the 8388608-byte limit"):
            client.get_voices()
        with pytest.raises(SaynaProtocolError, match="announces 9437184 bytes"):
            client.get_livekit_rooms()
        # The connection was dropped, not reused with unread bytes in it.
        with pytest.raises(sayna.NotFoundError):
            client.get_livekit_room("after")


def test_save_recording_to_a_file_object(raw_server: RawServer) -> None:
    """save_recording writes to a binary file object and returns the byte count."""

    class Counting(io.RawIOBase):
        def __init__(self) -> None:
            self.digest = hashlib.sha256()
            self.largest = 0

        def writable(self) -> bool:
            return True

        def write(self, data: bytes) -> int:  # type: ignore[override]
            self.digest.update(data)
            self.largest = max(self.largest, len(data))
            return len(data)

    sink = Counting()
    with Sayna(raw_server.url, max_retries=0) as client:
        assert client.save_recording("big-chunked", sink) == BIG
    assert sink.digest.hexdigest() == _big_digest()
    assert sink.largest <= 64 * 1024


def test_save_recording_cut_short_leaves_no_file(
    raw_server: RawServer, tmp_path: pathlib.Path
) -> None:
    """A download cut short raises SaynaConnectionError and leaves neither file nor temp file."""
    with (
        Sayna(raw_server.url, max_retries=0) as client,
        pytest.raises(SaynaConnectionError, match="cut short"),
    ):
        client.save_recording("cut", tmp_path / "call.ogg")
    assert list(tmp_path.iterdir()) == []


def test_save_recording_refuses_a_text_file(tmp_path: pathlib.Path) -> None:
    """A text-mode file or an object without write() is a SaynaValidationError before sending."""
    with RawServer(_handler) as raw, Sayna(raw.url, max_retries=0) as client:
        with open(tmp_path / "x", "w") as text:
            for bad in (text, 42, None):
                with pytest.raises(SaynaValidationError) as info:
                    client.save_recording("big", bad)  # type: ignore[arg-type]
                assert info.value.field == "destination"
        assert raw.accepted == 0


def _raw_deflate(data: bytes) -> bytes:
    # zlib.compress() takes wbits only from 3.11; a compressobj has taken it since 3.3.
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


ENCODED = {
    "gzip": gzip.compress(b'{"status":"OK"}'),
    "deflate": zlib.compress(b'{"status":"OK"}'),
    "raw-deflate": _raw_deflate(b'{"status":"OK"}'),
}


def _one_answer(headers: dict[str, str], body: bytes) -> Callable[[socket.socket], None]:
    def handler(conn: socket.socket) -> None:
        if read_request_head(conn):
            conn.sendall(_head("200 OK", {**headers, "Content-Length": str(len(body))}) + body)

    return handler


@pytest.mark.parametrize("kind", ENCODED)
def test_compressed_answers_decode(kind: str) -> None:
    """gzip, zlib deflate and raw deflate answers decode to the same model."""
    encoding = "deflate" if "deflate" in kind else kind
    handler = _one_answer({"Content-Encoding": encoding}, ENCODED[kind])
    with RawServer(handler) as raw, Sayna(raw.url, max_retries=0) as client:
        assert client.health().status == "OK"


@pytest.mark.parametrize(
    ("headers", "body", "match"),
    [
        ({"Content-Encoding": "gzip"}, b"\x1f\x8b\x08\x00garbage" * 10, "corrupt"),
        ({"Content-Encoding": "br"}, b"\x0b\x02\x80", "br-encoded; we asked for 'gzip, deflate'"),
    ],
)
def test_bad_encodings_are_protocol_errors(
    headers: dict[str, str], body: bytes, match: str
) -> None:
    """A corrupt gzip body or an encoding we never asked for is a SaynaProtocolError."""
    with (
        RawServer(_one_answer(headers, body)) as raw,
        Sayna(raw.url, max_retries=0) as client,
        pytest.raises(SaynaProtocolError, match=match),
    ):
        client.health()


def test_only_decodable_encodings_are_requested() -> None:
    """The client sends Accept-Encoding: gzip, deflate (never br or zstd)."""
    heads: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        head = read_request_head(conn)
        heads.append(head)
        body = b'{"status":"OK"}'
        conn.sendall(_head("200 OK", {"Content-Length": str(len(body))}) + body)

    with RawServer(handler) as raw, Sayna(raw.url) as client:
        client.health()
    assert b"\r\naccept-encoding: gzip, deflate\r\n" in heads[0].lower()


def test_memory_probe_can_see_growth(raw_server: RawServer) -> None:
    """The probe itself reports a 100 MB allocation, so the bounds above mean something."""
    grew, outcome = _probe(raw_server, 'len(b"x" * 100_000_000)')
    assert outcome == "returned 100000000"
    assert grew > 90
