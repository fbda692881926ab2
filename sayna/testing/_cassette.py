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
``Content-Type``), credential query parameters (``SECRET_QUERY``) are dropped,
and the values of credential keys anywhere in JSON (``SECRET_KEYS``) are
replaced with ``"<redacted>"``; names match in any case, ``-`` or ``_``
alike. The file is created readable by its owner only (0600).

A cassette is input like any other: :func:`read_cassette` refuses with
:class:`CassetteError` a file over ``MAX_CASSETTE_BYTES`` once decompressed
or a line over ``MAX_CASSETTE_LINE``,
JSON nested deeper than ``MAX_CASSETTE_DEPTH``, ``NaN``/``Infinity``, and a
``t`` that is not a finite number of seconds in ``[0, MAX_CASSETTE_SECONDS]``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import json
import os
import pathlib
import threading
import typing
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any

from sayna._wirejson import loads, nested_too_deep

__all__ = [
    "FORMAT",
    "MAX_CASSETTE_BYTES",
    "MAX_CASSETTE_DEPTH",
    "MAX_CASSETTE_LINE",
    "MAX_CASSETTE_SECONDS",
    "REDACTED",
    "SECRET_KEYS",
    "SECRET_QUERY",
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

#: JSON keys whose values are credentials wherever they appear: provider
#: ``auth`` objects (docs/protocol.rst §4.3.3), SIP trunk passwords (§2.13), and
#: the usual spellings of keys, tokens and secrets. Compared after
#: :func:`_normal` (lower case, ``-`` as ``_``): ``apiKey``, ``API-KEY``,
#: ``Client_Secret`` all match. docs/cassettes.rst lists them: keep both in step.
SECRET_KEYS = frozenset(
    {
        "access_token",
        "api_key",
        "api_secret",
        "apikey",
        "auth",
        "auth_password",
        "auth_token",
        "authorization",
        "bearer",
        "client_secret",
        "credentials",
        "id_token",
        "passwd",
        "password",
        "private_key",
        "refresh_token",
        "secret",
        "secret_key",
        "session_token",
        "token_secret",
        "x_api_key",
    }
)
#: Query parameters dropped from recorded targets (same matching).
SECRET_QUERY = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "client_secret",
        "key",
        "password",
        "secret",
        "token",
    }
)
#: Largest cassette read, in characters once decompressed: a minute of a
#: 16 kHz session is about 2.6 MB, so this is some 25 minutes of audio.
MAX_CASSETTE_BYTES = 64 * 1024 * 1024
#: Largest line (one event: a frame, or a REST exchange with its audio).
MAX_CASSETTE_LINE = 16 * 1024 * 1024
#: Deepest JSON nesting in a cassette line (Sayna's messages nest under ten).
MAX_CASSETTE_DEPTH = 64
#: Latest ``t`` accepted: a week, far beyond any recording.
MAX_CASSETTE_SECONDS = 7 * 24 * 3600.0
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


def _normal(name: str) -> str:
    return name.lower().replace("-", "_")


def redact(value: Any) -> Any:
    """A copy of a JSON value with every credential value replaced by ``"<redacted>"``."""
    if isinstance(value, dict):
        return {
            key: REDACTED if _normal(key) in SECRET_KEYS and item is not None else redact(item)
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
        if _normal(name) not in SECRET_QUERY
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
    if nested_too_deep(text, MAX_CASSETTE_DEPTH):
        # Too deep to walk for credentials: nothing of it is written.
        return {"text": REDACTED}
    try:
        value = loads(text)
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


def read_cassette(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_CASSETTE_BYTES
) -> list[dict[str, Any]]:
    """The events of a cassette, header checked and bounded; :class:`CassetteError` otherwise."""
    where = pathlib.Path(path)
    if not where.is_file():
        raise CassetteError(f"no cassette at {str(where)!r}")
    name = repr(str(where))
    header: Any = None
    events: list[dict[str, Any]] = []
    left = max_bytes
    number = 0
    try:
        with _open(where, "r", gz=where.suffix == ".gz") as stream:
            while True:
                # Never more than what is left of the budget: neither one huge
                # line nor a small .gz inflating to gigabytes is held whole.
                line = stream.readline(min(left, MAX_CASSETTE_LINE) + 1)
                if not line:
                    break
                number += 1
                left -= len(line)
                if left < 0:
                    raise CassetteError(
                        f"cassette {name} is larger than {max_bytes} characters (line {number})"
                    )
                if len(line) > MAX_CASSETTE_LINE:
                    raise CassetteError(
                        f"cassette {name}, line {number}: longer than"
                        f" {MAX_CASSETTE_LINE} characters"
                    )
                if not line.strip():
                    continue
                if header is None:
                    header = _parse_line(line, name, number, header=True)
                    _check_header(header, name)
                    continue
                event = _parse_line(line, name, number, header=False)
                problem = _problem(event)
                if problem is not None:
                    raise CassetteError(f"cassette {name}, line {number}: {problem}")
                events.append(event)
    except (OSError, UnicodeDecodeError, EOFError, zlib.error) as exc:
        raise CassetteError(f"cannot read cassette {name}: {exc}") from None
    if header is None:
        raise CassetteError(f"{name} is not a Sayna cassette (no {FORMAT!r} header)")
    return events


def _parse_line(line: str, name: str, number: int, *, header: bool) -> Any:
    """One line's JSON, refused when it is not JSON or nests too deep."""
    if nested_too_deep(line, MAX_CASSETTE_DEPTH):
        raise CassetteError(
            f"cassette {name}, line {number}: JSON nested deeper than {MAX_CASSETTE_DEPTH} levels"
        )
    try:
        value = loads(line)
    except ValueError:
        if header:
            raise CassetteError(f"{name} is not a Sayna cassette (no {FORMAT!r} header)") from None
        raise CassetteError(f"cassette {name}, line {number}: not JSON") from None
    return value


def _check_header(header: Any, name: str) -> None:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CassetteError(f"{name} is not a Sayna cassette (no {FORMAT!r} header)")
    if header.get("version") != VERSION:
        raise CassetteError(
            f"cassette {name} has version {header.get('version')!r};"
            f" this sayna reads version {VERSION}"
        )


_BODY_KEYS = ("json", "text", "b64")


def _problem(event: Any) -> str | None:
    """What makes one cassette event unusable, or None."""
    if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
        return "not an object with a 'kind'"
    kind = event["kind"]
    stamp = event.get("t", 0)
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
        return "'t' is not a number"
    # A NaN would stall a paced replay and 1e300 overflow its clock.
    if not 0 <= stamp <= MAX_CASSETTE_SECONDS:
        return f"'t' is not a number of seconds between 0 and {MAX_CASSETTE_SECONDS:g}"
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
        if code is None or (type(code) is int and 1000 <= code <= 4999):
            return None
        return "'code' is not a close code (an integer from 1000 to 4999)"
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

    A reader therefore never sees a half-written cassette, and
    :meth:`abandon` drops a recording that did not end cleanly. The file is
    readable by its owner only (0600). Thread-safe.
    """

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float]) -> None:
        self.path = pathlib.Path(path)
        self._partial = self.path.with_name(self.path.name + ".partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 before anything is written (fchmod too: a leftover
        # .partial keeps its old mode through O_CREAT); os.replace keeps it.
        fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
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

    def abandon(self) -> None:
        """Drop the recording: ``path`` (an older cassette, or none) stays as it was."""
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
            with contextlib.suppress(FileNotFoundError):
                self._partial.unlink()


def iter_sessions(events: Iterable[Mapping[str, Any]]) -> Iterator[int]:
    """The WebSocket session numbers of a cassette, in the order they opened."""
    for event in events:
        if event["kind"] == "ws_open":
            yield int(event["session"])
