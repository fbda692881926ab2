"""HTTP/1.1 over one accepted socket, with h11; hands ``/ws`` upgrades to wsproto.

REST and the WebSocket share the port, like the real server: h11 parses every
request; an authorised, well-formed upgrade on ``/ws`` is answered ``101`` by
h11 and the bytes after the request go to a wsproto connection.
"""

from __future__ import annotations

import contextlib
import http
import logging
import socket
import urllib.parse
from collections.abc import Iterable
from typing import TYPE_CHECKING

import h11
from wsproto.connection import Connection, ConnectionType
from wsproto.utilities import generate_accept_token

from sayna.testing._records import RecordedRequest
from sayna.testing._rest import dispatch
from sayna.testing._rest_base import Reply, Upgrade

if TYPE_CHECKING:
    from sayna.testing._server import FakeServer

__all__ = ["accept_websocket", "next_request", "send_response", "serve_connection"]

log = logging.getLogger("sayna.testing")

_MAX_BODY = 64 * 1024 * 1024


def _record(event: h11.Request, body: bytes) -> RecordedRequest:
    target = event.target.decode("latin-1")
    path, _, query_string = target.partition("?")
    query: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(query_string, keep_blank_values=True):
        query.setdefault(name, value)
    headers: dict[str, str] = {}
    for raw_name, raw_value in event.headers:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return RecordedRequest(
        method=event.method.decode("latin-1"), path=path, query=query, headers=headers, body=body
    )


def send_response(
    conn: h11.Connection,
    sock: socket.socket,
    status: int,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    head_only: bool,
    reason: str | None = None,
) -> None:
    """Send one whole response with a Content-Length (``reason``: the status's phrase if None)."""
    encoded = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    encoded.append((b"content-length", str(len(body)).encode()))
    if reason is None:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    data = conn.send(
        h11.Response(status_code=status, headers=encoded, reason=reason.encode("latin-1"))
    )
    if body and not head_only:
        data += conn.send(h11.Data(data=body))
    data += conn.send(h11.EndOfMessage())
    sock.sendall(data)


def _send_reply(conn: h11.Connection, sock: socket.socket, reply: Reply, head_only: bool) -> None:
    send_response(conn, sock, reply.status, reply.headers, reply.body, head_only=head_only)


def next_request(conn: h11.Connection) -> bool:
    """Get ``conn`` ready for the client's next request; False when it must close instead."""
    if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
        return False
    try:
        conn.start_next_cycle()
    except h11.LocalProtocolError:
        return False
    return True


def accept_websocket(conn: h11.Connection, sock: socket.socket, key: str) -> bytes:
    """Answer an upgrade request ``101`` for ``Sec-WebSocket-Key`` ``key``.

    Returns the bytes that came after the request: the first WebSocket data.
    """
    response = h11.InformationalResponse(
        status_code=101,
        headers=[
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", generate_accept_token(key.encode("latin-1"))),
        ],
        reason=b"Switching Protocols",
    )
    sock.sendall(conn.send(response))
    trailing, _ = conn.trailing_data
    return bytes(trailing)


def serve_connection(server: FakeServer, sock: socket.socket) -> None:
    """Serve requests on ``sock`` until it closes; the caller closes the socket."""
    conn = h11.Connection(h11.SERVER)
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                with contextlib.suppress(h11.LocalProtocolError):
                    _send_reply(conn, sock, Reply(400), head_only=False)
            return
        if event is h11.NEED_DATA:
            data = sock.recv(65536)
            conn.receive_data(data)
            if not data and conn.their_state is h11.IDLE:
                return
            continue
        if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return
        if not isinstance(event, h11.Request):
            continue
        if conn.they_are_waiting_for_100_continue:
            sock.sendall(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        body = bytearray()
        while True:
            try:
                part = conn.next_event()
            except h11.RemoteProtocolError:
                return  # a malformed body: nothing sensible to answer
            if part is h11.NEED_DATA:
                data = sock.recv(65536)
                if not data:
                    return
                conn.receive_data(data)
            elif isinstance(part, h11.Data):
                body += part.data
                if len(body) > _MAX_BODY:
                    _send_reply(conn, sock, Reply(413), head_only=False)
                    return
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                return
        request = _record(event, bytes(body))
        server._record_request(request)
        result = dispatch(server._context, request)
        if isinstance(result, Upgrade):
            _upgrade(server, conn, sock, request, result)
            return
        _send_reply(conn, sock, result, head_only=request.method == "HEAD")
        if not next_request(conn):
            return


def _upgrade(
    server: FakeServer,
    conn: h11.Connection,
    sock: socket.socket,
    request: RecordedRequest,
    upgrade: Upgrade,
) -> None:
    trailing = accept_websocket(conn, sock, request.headers["sec-websocket-key"])
    ws = Connection(ConnectionType.SERVER)
    session = server._open_session(sock, ws, upgrade.tenant, request.headers)
    session.run(trailing)
