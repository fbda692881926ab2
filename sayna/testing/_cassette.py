"""The cassette format: one recorded Sayna session, as JSON lines.

A cassette is UTF-8 JSON, one object per line (gzip-compressed when the file
name ends in ``.gz``). The first line is the header; every other line is one
event, in the order the proxy saw them, with ``t`` = seconds since recording
started (millisecond precision)::

    {"format":"sayna-cassette","version":1}
    {"t":0.004,"kind":"http","method":"POST","target":"/speak","request":{"json":{...}},
     "status":200,"headers":[["content-type","audio/pcm"]],"response":{"b64":"..."}}
    {"t":0.010,"kind":"ws_open","session":1,"target":"/ws"}
    {"t":0.011,"kind":"ws","session":1,"from":"client","json":{"type":"config",...}}
    {"t":0.020,"kind":"ws","session":1,"from":"server","audio":"<base64>"}
    {"t":0.900,"kind":"ws_close","session":1,"from":"client","code":1000,"reason":""}

A body or text frame is ``{"json": value}`` when its text is JSON that
re-serializes compactly to the very same bytes (so replay is byte-identical),
``{"text": ...}`` for other UTF-8 text and ``{"b64": ...}`` for binary bodies;
binary WebSocket frames are ``"audio"`` (base64). A refused upgrade is an
``http`` event with ``"upgrade": true``.

Secrets never reach the file: request headers are not kept (but the
``Content-Type``), the ``api_key`` and ``token`` query parameters are dropped,
and the values of credential keys anywhere in JSON (``auth``, ``api_key``,
``credentials``, ``password``...) are replaced with ``"<redacted>"``.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import os
import pathlib
import threading
import typing
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any

__all__ = [
    "FORMAT",
    "REDACTED",
    "VERSION",
    "CassetteError",
    "CassetteWriter",
    "decode_body",
    "encode_body",
    "read_cassette",
    "redact",
    "safe_target",
]

FORMAT = "sayna-cassette"
VERSION = 1
REDACTED = "<redacted>"

# JSON keys whose values are credentials wherever they appear: provider ``auth``
# objects (docs/protocol.rst §4.3.3), SIP trunk passwords (§2.13), stray keys.
_SECRET_KEYS = frozenset(
    {
        "auth",
        "api_key",
        "apikey",
        "authorization",
        "credentials",
        "password",
        "auth_password",
        "secret",
        "token_secret",
    }
)
_SECRET_QUERY = frozenset({"api_key", "token"})
# Response headers that describe one transfer, not the answer.
_DROPPED = frozenset(
    {
        "connection",
        "content-length",
        "date",
        "keep-alive",
        "server",
        "set-cookie",
        "transfer-encoding",
        "upgrade",
    }
)


class CassetteError(ValueError):
    """A cassette file is missing, unreadable or not in a format this version reads."""


def redact(value: Any) -> Any:
    """A copy of a JSON value with every credential value replaced by ``"<redacted>"``."""
    if isinstance(value, dict):
        return {
            key: REDACTED if key.lower() in _SECRET_KEYS and value is not None else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def safe_target(target: str) -> str:
    """A request target without the query parameters that carry API keys."""
    path, sep, query = target.partition("?")
    if not sep:
        return path
    kept = [
        (name, value)
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True)
        if name.lower() not in _SECRET_QUERY
    ]
    return path + ("?" + urllib.parse.urlencode(kept) if kept else "")


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encode_body(data: bytes, *, exact: bool) -> dict[str, Any]:
    """The cassette form of a body or text frame (``{}`` when empty), credentials redacted.

    JSON is kept as a value (readable diffs). With ``exact`` (what the server
    sent, replayed byte for byte) only JSON that re-serializes to the same bytes
    is kept as a value, other text verbatim; client JSON is compared by value.
    """
    if not data:
        return {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(data).decode("ascii")}
    try:
        value = json.loads(text)
    except ValueError:
        return {"text": text}
    cleaned = redact(value)
    if not exact or cleaned != value or _compact(value) == text:
        return {"json": cleaned}
    return {"text": text}


def decode_body(body: Mapping[str, Any]) -> bytes:
    """The bytes of a cassette body (:func:`encode_body`'s inverse)."""
    if "json" in body:
        return _compact(body["json"]).encode("utf-8")
    if "text" in body:
        return str(body["text"]).encode("utf-8")
    if "b64" in body:
        return base64.b64decode(body["b64"])
    return b""


def response_headers(headers: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The response headers worth replaying (lower-case names)."""
    return [[name.lower(), value] for name, value in headers if name.lower() not in _DROPPED]


def _open(path: pathlib.Path, mode: str, *, gz: bool) -> IO[str]:
    if gz:
        return typing.cast(IO[str], gzip.open(path, mode + "t", encoding="utf-8"))
    return open(path, mode, encoding="utf-8")


def read_cassette(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The events of a cassette, header checked; :class:`CassetteError` otherwise."""
    where = pathlib.Path(path)
    if not where.is_file():
        raise CassetteError(f"no cassette at {str(where)!r}")
    try:
        with _open(where, "r", gz=where.suffix == ".gz") as stream:
            lines = [line for line in stream if line.strip()]
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise CassetteError(f"cannot read cassette {str(where)!r}: {exc}") from None
    try:
        header = json.loads(lines[0]) if lines else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CassetteError(f"{str(where)!r} is not a Sayna cassette (no {FORMAT!r} header)")
    if header.get("version") != VERSION:
        raise CassetteError(
            f"cassette {str(where)!r} has version {header.get('version')!r};"
            f" this sayna reads version {VERSION}"
        )
    events: list[dict[str, Any]] = []
    for number, line in enumerate(lines[1:], 2):
        try:
            event = json.loads(line)
        except ValueError:
            raise CassetteError(f"cassette {str(where)!r}, line {number}: not JSON") from None
        problem = _problem(event)
        if problem is not None:
            raise CassetteError(f"cassette {str(where)!r}, line {number}: {problem}")
        events.append(event)
    return events


_BODY_KEYS = ("json", "text", "b64")


def _problem(event: Any) -> str | None:
    """What makes one cassette event unusable, or None."""
    if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
        return "not an object with a 'kind'"
    kind = event["kind"]
    if not isinstance(event.get("t", 0), (int, float)):
        return "'t' is not a number"
    if kind == "http":
        if not isinstance(event.get("method"), str) or not isinstance(event.get("target"), str):
            return "an http event needs 'method' and 'target'"
        if not isinstance(event.get("status"), int) or not 100 <= event["status"] <= 599:
            return "an http event needs a 'status' between 100 and 599"
        headers = event.get("headers", [])
        if not isinstance(headers, list) or not all(
            isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h)
            for h in headers
        ):
            return "'headers' must be a list of [name, value] strings"
        for side in ("request", "response"):
            problem = _body_problem(event.get(side) or {})
            if problem is not None:
                return f"{side}: {problem}"
        return None
    if kind not in ("ws_open", "ws", "ws_close"):
        return f"unknown kind {kind!r}"
    if not isinstance(event.get("session"), int):
        return f"a {kind} event needs an integer 'session'"
    if kind == "ws_open":
        return None
    if event.get("from") not in ("client", "server"):
        return f"a {kind} event needs 'from': 'client' or 'server'"
    if kind == "ws_close":
        code = event.get("code")
        return None if code is None or isinstance(code, int) else "'code' is not an integer"
    if "audio" in event:
        return _body_problem({"b64": event["audio"]})
    if not any(key in event for key in _BODY_KEYS):
        return "a ws event needs 'json', 'text' or 'audio'"
    return _body_problem(event)


def _body_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "a body must be an object"
    if "text" in body and not isinstance(body["text"], str):
        return "'text' is not a string"
    if "b64" in body:
        try:
            base64.b64decode(body["b64"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            return "'b64'/'audio' is not base64"
    return None


class CassetteWriter:
    """Appends events to ``<path>.partial``; :meth:`close` moves it to ``path``.

    A reader therefore never sees a half-written cassette. Thread-safe.
    """

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float]) -> None:
        self.path = pathlib.Path(path)
        self._partial = self.path.with_name(self.path.name + ".partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._stream: IO[str] | None = _open(self._partial, "w", gz=self.path.suffix == ".gz")
        self._write_line({"format": FORMAT, "version": VERSION})
        self.events = 0

    def write(self, event: Mapping[str, Any]) -> None:
        """Append one event, stamped now (under the lock, so stamps never go backwards)."""
        with self._lock:
            if self._stream is not None:
                self._write_line({"t": round(self._clock() - self._started, 3), **event})
                self.events += 1

    def _write_line(self, value: Mapping[str, Any]) -> None:
        assert self._stream is not None
        self._stream.write(_compact(value) + "\n")

    def close(self) -> None:
        """Finish the file and move it into place; idempotent."""
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
            os.replace(self._partial, self.path)


def iter_sessions(events: Iterable[Mapping[str, Any]]) -> Iterator[int]:
    """The WebSocket session numbers of a cassette, in the order they opened."""
    for event in events:
        if event["kind"] == "ws_open":
            yield int(event["session"])
