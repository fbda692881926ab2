"""The HTTP part of opening a WebSocket, read by us: bounded in time, size and syscalls.

websocket-client builds the upgrade request and checks the answer's
``Sec-WebSocket-Accept``; this module sends the request and reads what comes
back. websocket-client's own reader takes the answer one byte per ``recv``
(about 200 system calls per connect), applies its timeout to each byte rather
than to the whole answer, and keeps header lines and error bodies of any size.
Here every read asks for up to 64 KiB and waits only for what is left of one
deadline; the header block is capped at :data:`MAX_HEAD_BYTES`, an error body
at :data:`MAX_ERROR_BODY_BYTES`; and bytes that arrive after the header block
(frames the server sent at once) are returned to be parsed as frames.

The same reader serves the answer of an HTTP proxy to ``CONNECT``.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from sayna._errors import SaynaConnectionError, SaynaProtocolError, SaynaTimeoutError

__all__ = [
    "MAX_ERROR_BODY_BYTES",
    "MAX_HEAD_BYTES",
    "Answer",
    "read_answer",
    "read_error_body",
    "redact",
]

#: The status line and every header of an answer, together.
MAX_HEAD_BYTES = 64 * 1024
#: What is read of the body of a refusal (401, 403, 5xx...); the rest is left unread.
MAX_ERROR_BODY_BYTES = 4096
#: What of a longer body is shown (and parsed) in the exception.
ERROR_EXCERPT_CHARS = 1024

_READ_SIZE = 65536
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?: ([^\r\n]*))?")
_HEADER_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*?)[ \t]*")
_DIGITS = re.compile(r"[0-9]{1,18}")
_SECRET_HEADER = re.compile(r"(?im)^((?:proxy-)?authorization:[ \t]*)([^\r\n]*)")


class Answer:
    """A parsed answer head: ``status``, ``reason``, ``headers`` (lower-case names)."""

    __slots__ = ("headers", "leftover", "reason", "status")

    def __init__(self, status: int, reason: str, headers: dict[str, str], leftover: bytes) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        #: Bytes received after the blank line that ends the head.
        self.leftover = leftover


def remaining(deadline: float, what: str, url: str, timeout: float) -> float:
    """Seconds left before ``deadline``; :class:`SaynaTimeoutError` when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise SaynaTimeoutError(f"connecting to {url} timed out after {timeout:g} s ({what})")
    return left


def _recv(sock: socket.socket, deadline: float, what: str, url: str, timeout: float) -> bytes:
    sock.settimeout(remaining(deadline, what, url, timeout))
    try:
        return sock.recv(_READ_SIZE)
    except TimeoutError as exc:
        raise SaynaTimeoutError(
            f"connecting to {url} timed out after {timeout:g} s ({what})"
        ) from exc


def read_answer(
    sock: socket.socket, *, deadline: float, url: str, timeout: float, who: str = "server"
) -> Answer:
    """Read and parse one answer head; the bytes after it stay in ``leftover``."""
    what = f"waiting for the {who}'s answer"
    data = bytearray()
    searched = 0
    while True:
        end = data.find(b"\r\n\r\n", max(0, searched - 3))
        if end >= 0:
            break
        if len(data) > MAX_HEAD_BYTES:
            raise SaynaProtocolError(
                f"the {who}'s answer headers exceed {MAX_HEAD_BYTES // 1024} KiB",
                method="GET",
                endpoint=_path(url),
                body=bytes(data[:256]).decode("latin-1"),
            )
        searched = len(data)
        chunk = _recv(sock, deadline, what, url, timeout)
        if not chunk:
            raise SaynaConnectionError(
                f"the {who} closed the connection before answering"
                f" ({len(data)} bytes of an answer head received)"
            )
        data += chunk
    if end > MAX_HEAD_BYTES:
        raise SaynaProtocolError(
            f"the {who}'s answer headers exceed {MAX_HEAD_BYTES // 1024} KiB",
            method="GET",
            endpoint=_path(url),
            body=bytes(data[:256]).decode("latin-1"),
        )
    head = bytes(data[:end])
    leftover = bytes(data[end + 4 :])
    lines = head.split(b"\r\n")
    status_match = _STATUS_LINE.fullmatch(lines[0])
    if status_match is None:
        raise SaynaProtocolError(
            f"the {who} did not answer with an HTTP status line",
            method="GET",
            endpoint=_path(url),
            body=lines[0][:256].decode("latin-1"),
        )
    headers: dict[str, str] = {}
    for line in lines[1:]:
        match = _HEADER_LINE.fullmatch(line)
        if match is None:
            raise SaynaProtocolError(
                f"the {who} sent a malformed header line",
                method="GET",
                endpoint=_path(url),
                body=line[:256].decode("latin-1"),
            )
        name = match.group(1).decode("ascii").lower()
        value = match.group(2).decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return Answer(
        int(status_match.group(1)),
        (status_match.group(2) or b"").decode("latin-1"),
        headers,
        leftover,
    )


def read_error_body(sock: socket.socket, answer: Answer, *, deadline: float) -> str:
    """The refusal's body as text; past ``ERROR_EXCERPT_CHARS``, an excerpt that says so.

    At most ``MAX_ERROR_BODY_BYTES`` are read (enough to tell the size of most
    bodies); the rest is never read.

    Reading stops at the announced length, the cap, the end of the stream or
    the deadline, whichever comes first: the status is already known, so a
    body that stalls or never ends still yields an error, on time.
    """
    body = bytearray(answer.leftover)
    declared = _content_length(answer.headers)
    chunked = "chunked" in answer.headers.get("transfer-encoding", "").lower()
    wanted = MAX_ERROR_BODY_BYTES if declared is None else min(declared, MAX_ERROR_BODY_BYTES)
    complete = declared is not None and len(body) >= declared
    while len(body) < wanted and not complete:
        if chunked and body.endswith(b"0\r\n\r\n"):
            complete = True
            break
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(_READ_SIZE)
        except OSError:  # a timeout or a reset: what arrived is all there is
            break
        if not chunk:
            complete = True
            break
        body += chunk
    if declared is not None and len(body) >= declared:
        del body[declared:]
        complete = True
    if chunked:
        body = bytearray(_dechunk(bytes(body)))
    text = bytes(body).decode("utf-8", "replace")
    if complete and len(text) <= ERROR_EXCERPT_CHARS:
        return text
    if complete:
        size = f"{len(body)} bytes"
    elif declared is not None:
        size = f"{declared} bytes"
    else:
        size = f"more than {len(body)} bytes"
    return f"{text[:ERROR_EXCERPT_CHARS]}... [truncated: a body of {size}]"


def _content_length(headers: Mapping[str, str]) -> int | None:
    # ASCII digits only (str.isdigit also accepts "²"), and few enough of them
    # for int() and for any size a body could have.
    value = headers.get("content-length", "").strip()
    if not _DIGITS.fullmatch(value):
        return None
    return int(value)


def _dechunk(data: bytes) -> bytes:
    # Best effort over what was read: a truncated or malformed chunk ends it.
    out = bytearray()
    position = 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            break
        try:
            size = int(data[position:line_end].split(b";", 1)[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        start = line_end + 2
        out += data[start : start + size]
        position = start + size + 2
        if position > len(data):
            break
    return bytes(out)


def _path(url: str) -> str:
    # The endpoint for exceptions: the path only, never the query string.
    return urlsplit(url).path or "/"


def redact(head: str) -> str:
    """A request head with the credentials of (Proxy-)Authorization replaced by ``***``."""

    def hide(match: re.Match[str]) -> str:
        # Keep the scheme ("Bearer", "Basic"), never what follows it.
        parts = match.group(2).split(None, 1)
        shown = f"{parts[0]} ***" if len(parts) == 2 else "***"
        return match.group(1) + shown

    return _SECRET_HEADER.sub(hide, head)
