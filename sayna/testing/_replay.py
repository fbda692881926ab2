"""Cassette replay: the second behaviour of a fake server, beside the stand-in providers.

REST requests get the recorded answers, matched by method, target and body.
Each WebSocket session replays the next recorded one: the recorded server
frames go out in order, each once the client has sent what preceded it in the
recording (text frames by count, audio by bytes, so re-chunked audio is fine);
fast by default, or with the recorded gaps (``pace="recorded"``). What the
client sends is compared with what was recorded; every difference becomes a
:class:`CassetteMismatch`.
"""

from __future__ import annotations

import base64
import collections
import difflib
import json
import os
import pathlib
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from sayna.testing._cassette import decode_body, encode_body, read_cassette, safe_target
from sayna.testing._outbox import BINARY, TEXT
from sayna.testing._records import ReceivedFrame
from sayna.testing._rest_base import Reply, json_reply

if TYPE_CHECKING:
    from sayna.testing._records import RecordedRequest
    from sayna.testing._ws import SessionLink

__all__ = ["PACES", "CassetteMismatch", "Replay"]

PACES = ("fast", "recorded")
_EXCERPT = 16  # bytes of audio shown around a difference


def _pretty(value: Any) -> str:
    if value is None:
        return "(nothing)"
    if isinstance(value, bytes):
        return (
            f"<{len(value)} bytes: {value[:_EXCERPT].hex(' ')}{' ...' if len(value) > 16 else ''}>"
        )
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)


@attrs.frozen(kw_only=True)
class CassetteMismatch:
    """One way the client differed from the recording.

    ``where`` says which exchange (``"POST /speak"``, ``"session 1, client
    frame 3"``...), ``expected`` is what the cassette holds, ``actual`` what the
    client sent (None: nothing). ``str()`` and ``repr()`` give a unified diff.
    """

    where: str
    expected: Any
    actual: Any

    def diff(self) -> str:
        """A unified diff, recorded -> received."""
        lines = difflib.unified_diff(
            _pretty(self.expected).splitlines(),
            _pretty(self.actual).splitlines(),
            "recorded",
            "received",
            lineterm="",
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return f"{self.where}:\n{self.diff()}"

    def __repr__(self) -> str:
        return f"CassetteMismatch({self})"


@attrs.frozen(kw_only=True)
class _Exchange:
    method: str
    target: str
    request: Mapping[str, Any]
    reply: Reply


def _reply(event: Mapping[str, Any]) -> Reply:
    headers = tuple((str(name), str(value)) for name, value in event.get("headers", ()))
    return Reply(int(event["status"]), decode_body(event.get("response") or {}), headers)


class Replay:
    """A loaded cassette, shared by one server's REST handling and its sessions."""

    def __init__(self, path: str | os.PathLike[str], pace: str) -> None:
        if pace not in PACES:
            raise ValueError(f"pace must be one of {PACES}, got {pace!r}")
        self.path = pathlib.Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no cassette at {str(self.path)!r}")
        self.pace = pace
        events = read_cassette(self.path)
        self._lock = threading.Lock()
        self._mismatches: list[CassetteMismatch] = []
        self._rest: list[_Exchange] = []
        self._used: set[int] = set()
        # Upgrade attempts in order: a refused one (its Reply) or an opened session's events.
        self._attempts: collections.deque[Reply | list[dict[str, Any]]] = collections.deque()
        sessions: dict[int, list[dict[str, Any]]] = {}
        for event in events:
            kind = event["kind"]
            if kind == "http" and event.get("upgrade"):
                self._attempts.append(_reply(event))
            elif kind == "http":
                self._rest.append(
                    _Exchange(
                        method=event["method"],
                        target=event["target"],
                        request=event.get("request") or {},
                        reply=_reply(event),
                    )
                )
            elif kind == "ws_open":
                frames: list[dict[str, Any]] = []
                sessions[int(event["session"])] = frames
                self._attempts.append(frames)
            elif kind in ("ws", "ws_close"):
                sessions.setdefault(int(event["session"]), []).append(event)

    def __repr__(self) -> str:
        return f"<Replay {str(self.path)!r} pace={self.pace}>"

    @property
    def mismatches(self) -> list[CassetteMismatch]:
        with self._lock:
            return list(self._mismatches)

    def mismatch(self, where: str, expected: Any, actual: Any) -> None:
        with self._lock:
            self._mismatches.append(CassetteMismatch(where=where, expected=expected, actual=actual))

    # --- REST ----------------------------------------------------------------------------

    def answer(self, request: RecordedRequest, *, upgrade: bool) -> Reply | None:
        """The recorded answer; None lets a WebSocket upgrade through to a replayed session."""
        query = f"?{urllib.parse.urlencode(request.query)}" if request.query else ""
        target = safe_target(request.path + query)
        if upgrade:
            with self._lock:
                attempt = self._attempts[0] if self._attempts else None
                if isinstance(attempt, Reply):
                    self._attempts.popleft()
                    return attempt
            return None
        body = encode_body(request.body, exact=False)
        where = f"{request.method} {target}"
        with self._lock:
            same_route = [
                index
                for index, exchange in enumerate(self._rest)
                if exchange.method == request.method and exchange.target == target
            ]
            matching = [i for i in same_route if dict(self._rest[i].request) == body]
            # Each recorded exchange answers once, in order; the last one answers repeats.
            fresh = [i for i in matching if i not in self._used]
            if matching:
                chosen = fresh[0] if fresh else matching[-1]
                self._used.add(chosen)
                return self._rest[chosen].reply
            nearest = next((i for i in same_route if i not in self._used), None)
            if nearest is None and same_route:
                nearest = same_route[-1]
        if nearest is not None:
            exchange = self._rest[nearest]
            self.mismatch(where, _body_value(exchange.request), _body_value(body))
            return exchange.reply
        self.mismatch(f"{where} (not in the recording)", None, _body_value(body))
        return json_reply(
            500, {"error": f"cassette {self.path.name} has no recorded answer for {where}"}
        )

    # --- WebSocket -----------------------------------------------------------------------

    def session_handler(self, link: SessionLink) -> _Replayer:
        with self._lock:
            script = self._attempts.popleft() if self._attempts else None
        if isinstance(script, Reply):  # an upgrade the recording refused: cannot happen here
            script = None
        return _Replayer(self, link, script)


def _body_value(body: Mapping[str, Any]) -> Any:
    if "json" in body:
        return body["json"]
    if "text" in body:
        return body["text"]
    if "b64" in body:
        return base64.b64decode(body["b64"])
    return None


class _Replayer:
    """Replays one recorded WebSocket session to one client (a session's FrameHandler)."""

    def __init__(
        self, replay: Replay, link: SessionLink, script: list[dict[str, Any]] | None
    ) -> None:
        self._replay = replay
        self._link = link
        self._session = session = link.session
        self._script = script
        self._expected_texts = [
            e
            for e in script or ()
            if e["kind"] == "ws" and e["from"] == "client" and "audio" not in e
        ]
        self._expected_audio = b"".join(
            base64.b64decode(e["audio"])
            for e in script or ()
            if e["kind"] == "ws" and e["from"] == "client" and "audio" in e
        )
        self._cond = threading.Condition()
        self._texts = 0
        self._audio = 0
        self._audio_reported = False
        self._stopped = False
        self._started = False
        self._thread: threading.Thread | None = None
        self._where = f"session {session.index}"

    # --- frames from the client ------------------------------------------------------

    def on_text(self, text: str) -> None:
        data = self._link.record_text(text)
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "config" and self._session.config is None:
            self._session.config = data
        with self._cond:
            index = self._texts
            self._texts += 1
            self._cond.notify_all()
        actual = _body_value(encode_body(text.encode("utf-8"), exact=False))
        where = f"{self._where}, client text frame {index + 1}"
        if index < len(self._expected_texts):
            expected = _body_value(self._expected_texts[index])
            if expected != actual:
                self._replay.mismatch(where, expected, actual)
        else:
            self._replay.mismatch(f"{where} (not in the recording)", None, actual)
        if not self._started:
            self._start()

    def on_binary(self, data: bytes) -> None:
        self._link.record(ReceivedFrame(kind="binary", data=data))
        with self._cond:
            offset = self._audio
            self._audio += len(data)
            self._cond.notify_all()
        expected = self._expected_audio[offset : offset + len(data)]
        if expected != data and not self._audio_reported:
            self._audio_reported = True
            if len(expected) < len(data) and data.startswith(expected):
                at = offset + len(expected)
                what = f"{self._where}, client audio: more than the {at} recorded bytes"
                self._replay.mismatch(what, None, data[len(expected) :])
            else:
                pairs = zip(expected, data, strict=False)
                first = next(i for i, (a, b) in enumerate(pairs) if a != b)
                at = offset + first
                self._replay.mismatch(
                    f"{self._where}, client audio: differs from byte {at}",
                    self._expected_audio[at : at + _EXCERPT],
                    data[first : first + _EXCERPT],
                )
        if not self._started:
            self._start()

    # --- the recorded server side ----------------------------------------------------

    def _start(self) -> None:
        self._started = True
        if self._script is None:
            self._replay.mismatch(f"{self._where}: the cassette has no such session", None, "")
            self._session.close(1011, "no recorded session left in the cassette")
            return
        self._thread = self._link.thread(self._play, "replay")
        self._thread.start()

    def _play(self) -> None:
        assert self._script is not None
        paced = self._replay.pace == "recorded"
        texts = audio = 0
        anchor_real = time.monotonic()
        anchor_recorded: float | None = None
        for event in self._script:
            recorded_at = float(event.get("t", 0.0))
            if event["from"] == "client":
                if event["kind"] == "ws_close":
                    return  # the client closed here; the transport answers its Close
                if "audio" in event:
                    audio += len(base64.b64decode(event["audio"]))
                else:
                    texts += 1
                if not self._wait_for_client(texts, audio):
                    return
                anchor_real, anchor_recorded = time.monotonic(), recorded_at
                continue
            if paced and anchor_recorded is not None:
                due = anchor_real + (recorded_at - anchor_recorded)
                if self._pause_until(due):
                    return
                anchor_real, anchor_recorded = due, recorded_at
            if not self._send(event):
                return

    def _wait_for_client(self, texts: int, audio: int) -> bool:
        with self._cond:
            while not self._stopped and (self._texts < texts or self._audio < audio):
                self._cond.wait()
            return not self._stopped

    def _pause_until(self, due: float) -> bool:
        """Sleep until ``due``; True when the session ended meanwhile."""
        with self._cond:
            while not self._stopped:
                remaining = due - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _send(self, event: Mapping[str, Any]) -> bool:
        session, link = self._session, self._link
        if event["kind"] == "ws_close":
            if session.client_close_code is None and not link.finished:
                session.close(event.get("code"), event.get("reason") or "")
            return False
        if "audio" in event:
            return link.put(BINARY, base64.b64decode(event["audio"]))
        data = decode_body(event).decode("utf-8")
        value = event.get("json")
        if isinstance(value, dict) and value.get("type") == "ready":
            stream_id = value.get("stream_id")
            session.stream_id = stream_id if isinstance(stream_id, str) else None
            sent = link.put(TEXT, data)
            link.mark_ready()
            return sent
        return link.put(TEXT, data)

    # --- FrameHandler --------------------------------------------------------------------

    def deadline(self) -> float | None:
        return None

    def on_timer(self) -> None:
        return None

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def wake(self) -> None:
        self.stop()

    def join(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def leave_room(self) -> None:
        """The session is over: report what the client never sent."""
        if self._script is None:
            return
        for index in range(self._texts, len(self._expected_texts)):
            self._replay.mismatch(
                f"{self._where}, client text frame {index + 1} (never sent)",
                _body_value(self._expected_texts[index]),
                None,
            )
        if self._audio < len(self._expected_audio) and not self._audio_reported:
            self._replay.mismatch(
                f"{self._where}, client audio: {self._audio} of"
                f" {len(self._expected_audio)} recorded bytes sent",
                self._expected_audio[self._audio : self._audio + _EXCERPT],
                None,
            )
