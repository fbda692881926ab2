"""The handshake reader on arbitrary answers: a parsed answer or a SaynaError, nothing else."""

from __future__ import annotations

import itertools
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from sayna import SaynaError
from sayna._realtime.handshake import ERROR_EXCERPT_CHARS, Answer, read_answer, read_error_body


class Feed:
    """A stand-in socket serving the given pieces, then end of stream."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = list(pieces)

    def settimeout(self, value: float | None) -> None:
        pass

    def recv(self, size: int) -> bytes:
        if not self.pieces:
            return b""
        piece = self.pieces.pop(0)
        if len(piece) > size:
            self.pieces.insert(0, piece[size:])
        return piece[:size]


header_names = st.sampled_from(
    ["Content-Length", "Transfer-Encoding", "Upgrade", "Connection", "X-A", "Set-Cookie"]
)
header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=30),
    st.sampled_from(["0", "12", "chunked", "-1", "99999999999999999999", "²", "1" * 5000]),
)
heads = st.builds(
    lambda status, headers, body: (
        f"HTTP/1.1 {status} X\r\n".encode()
        + b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in headers)
        + b"\r\n"
        + body
    ),
    st.integers(min_value=100, max_value=599),
    st.lists(st.tuples(header_names, header_values), max_size=6),
    st.binary(max_size=200),
)


def read(data: bytes, cuts: list[int]) -> Answer | SaynaError:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    pieces = [data[a:b] for a, b in itertools.pairwise(points)]
    sock = Feed(pieces)
    deadline = time.monotonic() + 5
    try:
        answer = read_answer(sock, deadline=deadline, url="ws://h/ws", timeout=5)  # type: ignore[arg-type]
    except SaynaError as exc:
        return exc
    body = read_error_body(sock, answer, deadline=deadline)  # type: ignore[arg-type]
    assert len(body) <= ERROR_EXCERPT_CHARS + 100
    return answer


@settings(max_examples=400)
@given(heads, st.lists(st.integers(min_value=0, max_value=10_000), max_size=4))
def test_any_http_like_answer_parses_or_raises_a_sayna_error(data: bytes, cuts: list[int]) -> None:
    """Answers with any status, header values and body, split anywhere, never raise otherwise."""
    read(data, cuts)


@settings(max_examples=300)
@given(st.binary(max_size=400), st.lists(st.integers(min_value=0, max_value=500), max_size=4))
def test_any_bytes_parse_or_raise_a_sayna_error(data: bytes, cuts: list[int]) -> None:
    """Arbitrary bytes (with or without a blank line) give an answer or a SaynaError."""
    read(data + b"\r\n\r\n", cuts)
    read(data, cuts)
