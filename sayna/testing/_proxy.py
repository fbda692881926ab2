"""RecordingProxy: a loopback proxy that records a Sayna session into a cassette.

Any client (ours, the official SDKs, a browser) talks to the proxy as to the
server; each connection gets a thread. REST requests are forwarded with
:mod:`http.client`; a ``/ws`` upgrade opens the upstream WebSocket first
(websocket-client), so a refused handshake reaches the client unchanged, then
two threads pump frames: the connection thread client -> upstream, a second one
upstream -> client. Every exchange is written to the cassette before it is
passed on, so the file holds each cause before its effects.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http
import http.client
import logging
import os
import pathlib
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import h11
import websocket
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage
from wsproto.events import Event as WsEvent
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

from sayna.testing._cassette import (
    CassetteWriter,
    encode_body,
    response_headers,
    safe_target,
)
from sayna.testing._http import accept_websocket, next_request, send_response
from sayna.testing._tasks import Tasks

__all__ = ["RecordingProxy"]

log = logging.getLogger("sayna.testing")

_MAX_BODY = 64 * 1024 * 1024
# Request headers that belong to one hop, never forwarded.
_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length", "te"}
)
_FORWARDED_TO_WS = ("authorization", "user-agent")


def _split_upstream(url: str) -> tuple[str, str, str]:
    """``(rest scheme, netloc, base path)`` of the upstream, from an http(s) or ws(s) URL."""
    parts = urllib.parse.urlsplit(url.strip())
    scheme = {"http": "http", "https": "https", "ws": "http", "wss": "https"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"upstream_url must be an http(s):// or ws(s):// URL, got {url!r}")
    path = parts.path.rstrip("/")
    if parts.scheme in ("ws", "wss") and path.endswith("/ws"):
        path = path[:-3]
    # Only host and port: Sayna reads no credentials from a URL's user part.
    return scheme, parts.netloc.rpartition("@")[2], path


def _cut(upstream: websocket.WebSocket, *, close: bool = False) -> None:
    """Shut the upstream socket down (waking its reader), and close it when asked."""
    sock = upstream.sock
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    if close:
        sock.close()


def _close_payload(data: bytes) -> tuple[int | None, str]:
    if len(data) < 2:
        return None, ""
    return int.from_bytes(data[:2], "big"), data[2:].decode("utf-8", "replace")


class RecordingProxy:
    """Forwards REST and ``/ws`` between any client and ``upstream_url``; records a cassette.

    Give clients :attr:`url` instead of the server's URL. Secrets stay out of
    the cassette at ``path`` (see :doc:`/cassettes`); the API key still reaches
    the upstream. Use it as a context manager, or call :meth:`start` and
    :meth:`stop`; the cassette is complete once :meth:`stop` returned. A
    recording that did not end cleanly (an exception leaving the ``with``
    block) never becomes a cassette.
    """

    def __init__(
        self, upstream_url: str, path: str | os.PathLike[str], *, timeout: float = 60.0
    ) -> None:
        self._scheme, self._netloc, self._base = _split_upstream(upstream_url)
        self.path = pathlib.Path(path)
        self._timeout = timeout
        self._listener: socket.socket | None = None
        self._writer: CassetteWriter | None = None
        self._lock = threading.Lock()
        self._tasks = Tasks("recording proxy")
        self._sockets: set[socket.socket] = set()
        self._upstreams: set[websocket.WebSocket] = set()
        self._stopping = threading.Event()
        self._sessions = 0
        self._state = "new"

    def __repr__(self) -> str:
        where = self.url if self._listener is not None else "not started"
        return f"<RecordingProxy {where} -> {self._scheme}://{self._netloc} ({self._state})>"

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> RecordingProxy:
        """Bind ``127.0.0.1`` on a free port, open the cassette and accept; returns self."""
        if self._state != "new":
            raise RuntimeError(f"cannot start a {self._state} RecordingProxy")
        self._writer = CassetteWriter(self.path, clock=time.monotonic)
        try:
            self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        except BaseException:
            self._writer.abandon()
            raise
        self._state = "running"
        self._tasks.spawn(self._accept_loop, "sayna-proxy-accept")
        return self

    def stop(self, timeout: float = 5.0, *, keep: bool = True) -> None:
        """Close every connection, join every thread, then write the cassette; idempotent.

        With ``keep=False`` (a recording that did not end cleanly) the
        recording is dropped and the file at ``path`` is left as it was.
        """
        if self._state != "running":
            self._state = "stopped"
            return
        self._state = "stopped"
        try:
            self._shut_down(timeout)
        except BaseException:
            # Interrupted while closing: what was recorded is not a cassette.
            keep = False
            raise
        finally:
            assert self._writer is not None
            if keep:
                self._writer.close()
            else:
                self._writer.abandon()

    def _shut_down(self, timeout: float) -> None:
        self._stopping.set()
        assert self._listener is not None
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            sockets, upstreams = list(self._sockets), list(self._upstreams)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for upstream in upstreams:
            _cut(upstream)
        self._tasks.join(time.monotonic() + timeout)

    def __enter__(self) -> RecordingProxy:
        return self.start() if self._state == "new" else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # An exception (Ctrl-C included) ended the block: a half recording
        # must never become a cassette that a later run replays.
        self.stop(keep=exc_type is None)

    @property
    def url(self) -> str:
        """The base URL clients use, e.g. ``http://127.0.0.1:40123``."""
        if self._listener is None:
            raise RuntimeError("the RecordingProxy is not started")
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    @property
    def ws_url(self) -> str:
        """The WebSocket URL, e.g. ``ws://127.0.0.1:40123/ws``."""
        return "ws" + self.url[4:] + "/ws"

    # --- plumbing ------------------------------------------------------------------------

    def _record(self, event: dict[str, Any]) -> None:
        assert self._writer is not None
        self._writer.write(event)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        count = 0
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            count += 1
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets.add(sock)
            self._tasks.spawn(functools.partial(self._serve, sock), f"sayna-proxy-conn-{count}")

    def _serve(self, sock: socket.socket) -> None:
        try:
            self._serve_http(sock)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _serve_http(self, sock: socket.socket) -> None:
        conn = h11.Connection(h11.SERVER)
        while not self._stopping.is_set():
            received = _receive_request(conn, sock)
            if received is None:
                return
            request, body = received
            target = request.target.decode("latin-1")
            headers = [
                (n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in request.headers
            ]
            method = request.method.decode("latin-1")
            if not _origin_form(target):
                # Pasted after the upstream's netloc, "@host:port/ws" would
                # name another server, and the client's Authorization header
                # would go there. Only paths (origin-form) are proxied.
                text = b"RecordingProxy: the request target must be a path starting with /"
                _send_response(conn, sock, 400, "Bad Request", [], text, False)
                return
            if method == "GET" and _is_upgrade(headers):
                self._websocket(conn, sock, target, headers)
                return
            status, reason, answer_headers, answer = self._forward(method, target, headers, body)
            _send_response(conn, sock, status, reason, answer_headers, answer, method == "HEAD")
            if not next_request(conn):
                return

    # --- REST ----------------------------------------------------------------------------

    def _upstream_http(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._netloc, timeout=self._timeout)
        return http.client.HTTPConnection(self._netloc, timeout=self._timeout)

    def _forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        upstream = self._upstream_http()
        forwarded: dict[str, str] = {}
        for name, value in headers:
            if name not in _HOP:
                forwarded[name] = f"{forwarded[name]}, {value}" if name in forwarded else value
        try:
            upstream.request(method, self._base + target, body=body or None, headers=forwarded)
            response = upstream.getresponse()
            answer = response.read(_MAX_BODY + 1)
            if len(answer) > _MAX_BODY:
                raise http.client.HTTPException("answer larger than 64 MiB")
            status, reason, answer_headers = response.status, response.reason, response.getheaders()
        except (OSError, http.client.HTTPException) as exc:
            # Not recorded: an unreachable upstream is the recording's problem, not the session's.
            text = f"RecordingProxy: upstream unreachable ({type(exc).__name__})"
            return 502, "Bad Gateway", [("content-type", "text/plain")], text.encode()
        finally:
            upstream.close()
        self._record(
            {
                "kind": "http",
                "method": method,
                "target": safe_target(target),
                "request": encode_body(body, exact=False),
                "status": status,
                "headers": response_headers(answer_headers),
                "response": encode_body(answer, exact=True),
            }
        )
        return status, reason, answer_headers, answer

    # --- WebSocket -----------------------------------------------------------------------

    def _websocket(
        self, conn: h11.Connection, sock: socket.socket, target: str, headers: list[tuple[str, str]]
    ) -> None:
        ws_scheme = "wss" if self._scheme == "https" else "ws"
        upstream_url = f"{ws_scheme}://{self._netloc}{self._base}{target}"
        # Belt and braces: the URL websocket-client will parse names our upstream.
        if urllib.parse.urlsplit(upstream_url).netloc != self._netloc:
            text = b"RecordingProxy: the request target must be a path starting with /"
            _send_response(conn, sock, 400, "Bad Request", [], text, False)
            return
        forwarded = [f"{n}: {v}" for n, v in headers if n in _FORWARDED_TO_WS]
        try:
            upstream = websocket.create_connection(
                upstream_url,
                header=forwarded,
                timeout=self._timeout,
                suppress_origin=True,
                enable_multithread=True,
            )
        except websocket.WebSocketBadStatusException as exc:
            answer = exc.resp_body or b""
            answer_headers = list((exc.resp_headers or {}).items())
            self._record(
                {
                    "kind": "http",
                    "upgrade": True,
                    "method": "GET",
                    "target": safe_target(target),
                    "request": {},
                    "status": exc.status_code,
                    "headers": response_headers(answer_headers),
                    "response": encode_body(answer, exact=True),
                }
            )
            reason = exc.status_message or http.HTTPStatus(exc.status_code).phrase
            _send_response(conn, sock, exc.status_code, reason, answer_headers, answer, False)
            return
        except (OSError, websocket.WebSocketException) as exc:
            text = f"RecordingProxy: upstream WebSocket failed ({type(exc).__name__})".encode()
            _send_response(conn, sock, 502, "Bad Gateway", [], text, False)
            return
        upstream.settimeout(None)  # sessions may idle; stop() aborts the socket instead
        with self._lock:
            self._upstreams.add(upstream)
            self._sessions += 1
            number = self._sessions
        try:
            key = dict(headers)["sec-websocket-key"]
            self._record({"kind": "ws_open", "session": number, "target": safe_target(target)})
            trailing = accept_websocket(conn, sock, key)
            _Pump(self, number, sock, upstream).run(trailing)
        finally:
            with self._lock:
                self._upstreams.discard(upstream)
            _cut(upstream, close=True)


class _Pump:
    """One proxied WebSocket session: client frames up on this thread, upstream frames down."""

    def __init__(
        self, proxy: RecordingProxy, number: int, sock: socket.socket, upstream: websocket.WebSocket
    ) -> None:
        self._proxy = proxy
        self._number = number
        self._sock = sock
        self._upstream = upstream
        self._ws = Connection(ConnectionType.SERVER)
        self._ws_lock = threading.Lock()
        self._down_done = threading.Event()
        self._parts: list[Any] = []

    def _frame(self, origin: str, data: str | bytes) -> None:
        event: dict[str, Any] = {"kind": "ws", "session": self._number, "from": origin}
        if isinstance(data, bytes):
            event["audio"] = base64.b64encode(data).decode("ascii")
        else:
            event.update(
                encode_body(data.encode("utf-8"), exact=origin == "server") or {"text": ""}
            )
        self._proxy._record(event)

    def _close(self, origin: str, code: int | None, reason: str) -> None:
        self._proxy._record(
            {
                "kind": "ws_close",
                "session": self._number,
                "from": origin,
                "code": code,
                "reason": reason,
            }
        )

    def _to_client(self, event: WsEvent) -> None:
        with self._ws_lock:
            try:
                data = self._ws.send(event)
            except LocalProtocolError:
                return
        with contextlib.suppress(OSError):
            self._sock.sendall(data)

    def run(self, trailing: bytes) -> None:
        down = threading.Thread(
            target=self._pump_down, name=f"sayna-proxy-ws-{self._number}-down", daemon=True
        )
        down.start()
        try:
            self._pump_up(trailing)
        finally:
            if not self._down_done.wait(2.0):
                _cut(self._upstream)
            down.join(5.0)

    def _pump_up(self, trailing: bytes) -> None:
        data = trailing
        while True:
            if data:
                with self._ws_lock:
                    self._ws.receive_data(data)
                    events = list(self._ws.events())
                for event in events:
                    if self._handle_client(event):
                        return
            try:
                data = self._sock.recv(65536)
            except OSError:
                return
            if not data:
                with self._ws_lock:
                    self._ws.receive_data(None)
                _cut(self._upstream)
                return

    def _handle_client(self, event: WsEvent) -> bool:
        """Forward one client event; True when the client closed."""
        if isinstance(event, Message):
            self._parts.append(event.data)
            if not event.message_finished:
                return False
            parts, self._parts = self._parts, []
            try:
                if isinstance(event, TextMessage):
                    text = "".join(parts)
                    self._frame("client", text)
                    self._upstream.send(text)
                elif isinstance(event, BytesMessage):
                    audio = b"".join(parts)
                    self._frame("client", audio)
                    self._upstream.send_binary(audio)
            except (OSError, websocket.WebSocketException):
                return True
        elif isinstance(event, Ping):
            self._to_client(event.response())
        elif isinstance(event, CloseConnection):
            code = None if event.code == CloseReason.NO_STATUS_RCVD else int(event.code)
            self._close("client", code, event.reason or "")
            with contextlib.suppress(OSError, websocket.WebSocketException):
                self._upstream.send_close(code or 1000, (event.reason or "").encode("utf-8"))
            # The upstream's Close reply goes back to the client from the other thread.
            if not self._down_done.wait(2.0):
                self._to_client(event.response())
            return True
        return False

    def _pump_down(self) -> None:
        try:
            while True:
                try:
                    opcode, data = self._upstream.recv_data(control_frame=False)
                except (OSError, websocket.WebSocketException):
                    self._sock_shutdown()
                    return
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    text = bytes(data).decode("utf-8", "replace")
                    self._frame("server", text)
                    self._to_client(Message(data=text))
                elif opcode == websocket.ABNF.OPCODE_BINARY:
                    audio = bytes(data)
                    self._frame("server", audio)
                    self._to_client(Message(data=audio))
                elif opcode == websocket.ABNF.OPCODE_CLOSE:
                    code, reason = _close_payload(bytes(data))
                    self._close("server", code, reason)
                    self._to_client(
                        CloseConnection(
                            code=code or CloseReason.NO_STATUS_RCVD, reason=reason or None
                        )
                    )
                    if self._ws.state is not ConnectionState.CLOSED:
                        # We started the closing handshake: let the client answer briefly.
                        time.sleep(0.05)
                    self._sock_shutdown()
                    return
        finally:
            self._down_done.set()

    def _sock_shutdown(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)


def _origin_form(target: str) -> bool:
    """Whether ``target`` is a plain path (with an optional query), as clients send."""
    return target.startswith("/")


def _is_upgrade(headers: Iterable[tuple[str, str]]) -> bool:
    values = dict(headers)
    connection = [t.strip().lower() for t in values.get("connection", "").split(",")]
    return "upgrade" in connection and values.get("upgrade", "").strip().lower() == "websocket"


def _receive_request(conn: h11.Connection, sock: socket.socket) -> tuple[h11.Request, bytes] | None:
    """The next request and its body, or None when the client went away or misbehaved."""
    request: h11.Request | None = None
    body = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            return None
        if event is h11.NEED_DATA:
            if conn.they_are_waiting_for_100_continue:
                sock.sendall(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
            data = sock.recv(65536)
            conn.receive_data(data)
            if not data and request is None and conn.their_state is h11.IDLE:
                return None
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > _MAX_BODY:
                return None
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, bytes(body)
        else:
            return None


def _send_response(
    conn: h11.Connection,
    sock: socket.socket,
    status: int,
    reason: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    head_only: bool,
) -> None:
    kept = [(name, value) for name, value in headers if name.lower() not in _HOP]
    send_response(conn, sock, status, kept, body, head_only=head_only, reason=reason)
