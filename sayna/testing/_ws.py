"""One WebSocket session of the fake server: the connection, its frames and its threads.

Threads per session: the connection thread reads client frames and hands them,
one at a time, to the session's behaviour (like the server, it does not read
the next frame before the current one is handled); a writer thread drains the
session's single outgoing FIFO. Every server frame, text or binary, goes through
the FIFO, so frames leave in the order they were queued. What the frames *mean*
is the behaviour's business: the server hands each session a factory for its
:class:`FrameHandler` (the stand-in providers, or a recorded cassette), the way
httpx's ``MockTransport(handler)`` is handed its handler, so this module never
names a behaviour. The factory gets a :class:`SessionLink`, the one door from a
behaviour into the session's queue, records and threads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

from sayna.testing._outbox import BINARY, CLOSE, CLOSE_REPLY, PAUSE, PONG, TEXT, TEXTS, Outbox
from sayna.testing._records import PublishedData, ReceivedFrame

if TYPE_CHECKING:
    from sayna.testing._caller import Caller
    from sayna.testing._context import ServerContext
    from sayna.testing._state import Participant

__all__ = ["FakeSession", "FrameHandler", "RoomHandler", "SessionLink"]

log = logging.getLogger("sayna.testing")


def _close_code(code: int | None) -> int:
    # wsproto omits the status code only for the NO_STATUS_RCVD enum member itself.
    if code is None or code == CloseReason.NO_STATUS_RCVD:
        return CloseReason.NO_STATUS_RCVD
    return code


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class FrameHandler(Protocol):
    """What a session's behaviour does with client frames (called on the connection thread)."""

    def on_text(self, text: str) -> None: ...

    def on_binary(self, data: bytes) -> None: ...

    def deadline(self) -> float | None:
        """When :meth:`on_timer` wants to run next (monotonic seconds), if ever."""

    def on_timer(self) -> None: ...

    def stop(self) -> None:
        """The session is ending: stop producing frames."""

    def wake(self) -> None:
        """The session was aborted: wake any thread of the behaviour that waits."""

    def join(self, timeout: float) -> None:
        """Wait for the behaviour's threads to end."""

    def leave_room(self) -> None:
        """The connection is closed: undo what the session did to the shared state."""


@runtime_checkable
class RoomHandler(FrameHandler, Protocol):
    """A behaviour that also simulates the session's LiveKit room and speech script.

    Sessions whose handler is one offer the room methods of :class:`FakeSession`;
    a handler without them (a replayed cassette) makes those methods raise.
    """

    @property
    def livekit_room(self) -> str | None: ...

    @property
    def published_audio(self) -> bytes: ...

    def script_transcripts(self, transcripts: Iterable[str]) -> None: ...

    def participant_leaves(self, identity: str, name: str) -> None: ...

    def deliver_data(
        self, payload: bytes | str | Mapping[str, Any], *, identity: str | None, topic: str | None
    ) -> None: ...

    def inject_room_audio(self, pcm: bytes, *, identity: str) -> None: ...

    @property
    def caller(self) -> Caller: ...

    def room_event(self, what: str, participant: Participant) -> None:
        """A participant joined or left the room this session is in."""


class SessionLink:
    """What a behaviour may do to its session beyond the public :class:`FakeSession` face.

    The behaviour's factory is called with one; ``session`` is the public face
    (config, stream id, scripting). The rest queues frames in the session's
    FIFO, records client frames, marks ``ready`` and runs the behaviour's threads.
    """

    __slots__ = ("session",)

    def __init__(self, session: FakeSession) -> None:
        self.session = session

    def __repr__(self) -> str:
        return f"<SessionLink {self.session!r}>"

    def send(self, event: Mapping[str, Any]) -> None:
        """Queue a JSON text frame."""
        self.session._send(event)

    def put(self, op: int, arg: Any) -> bool:
        """Queue one outbox operation (see :mod:`sayna.testing._outbox`); False once closed."""
        return self.session._outbox.put(op, arg)

    def record(self, frame: ReceivedFrame) -> None:
        """Keep a client frame for inspection (when the server records)."""
        self.session._record(frame)

    def record_text(self, text: str) -> Any:
        """Record a text frame as its JSON (the text itself when not JSON); returns that."""
        return self.session._record_text(text)

    def mark_ready(self) -> None:
        """The ``ready`` frame is queued: :meth:`FakeSession.wait_until_ready` returns."""
        self.session._ready.set()

    @property
    def finished(self) -> bool:
        """The connection has ended (Close exchanged, or the client gone)."""
        return self.session._finished

    @property
    def aborted(self) -> bool:
        """The session was dropped or the server is stopping."""
        return self.session._abort.is_set()

    def wait_aborted(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; True when the session was aborted meanwhile."""
        return self.session._abort.wait(timeout)

    def thread(self, target: Callable[[], None], role: str) -> threading.Thread:
        """A daemon thread (not started) of this session: a crash in it aborts the session."""
        return self.session._thread(target, role)


def _readable(sock: socket.socket, timeout: float | None) -> bool:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000) + 1)))
    readable, _, _ = select.select([sock], [], [], timeout)
    return bool(readable)


class FakeSession:
    """One WebSocket session on a :class:`FakeServer`, inspectable and scriptable.

    Attributes mirror what the server knows: the ``config`` the client sent, the
    ``stream_id``, whether ``ready`` was sent, every frame ``received``. Methods
    push frames to the client (in FIFO order with the server's own frames) and
    simulate what happens in the LiveKit room.
    """

    def __init__(
        self,
        context: ServerContext,
        sock: socket.socket,
        ws: Connection,
        *,
        index: int,
        tenant: str | None,
        request_headers: Mapping[str, str],
        handler: Callable[[SessionLink], FrameHandler],
    ) -> None:
        self._context = context
        self._sock = sock
        self._ws = ws
        self._ws_lock = threading.Lock()
        self.index = index
        self.tenant = tenant
        #: Headers of the upgrade request (lower-case names).
        self.request_headers = dict(request_headers)
        self.config: dict[str, Any] | None = None
        self.stream_id: str | None = None
        self.received: list[ReceivedFrame] = []
        self.closed = threading.Event()
        #: Close code the client sent (None: no Close frame, or one without a code).
        self.client_close_code: int | None = None
        #: LiveKit data packets published by ``send_message``.
        self.published_data: list[PublishedData] = []
        self.loading = False

        # Scripting, copied from the server's behaviour at connect time.
        behaviour = context.behaviour
        self.fail_config_message: str | None = behaviour.fail_config
        self.ready_delay: float = behaviour.ready_delay
        self.withhold_ready: bool = behaviour.withhold_ready

        self._frames_cond = threading.Condition()
        self._taken: set[int] = set()
        self._ready = threading.Event()
        self._outbox = Outbox(1024)
        self._abort = threading.Event()
        self._reading = threading.Event()
        self._reading.set()
        self._finished = False
        self._graceful = False
        self._message_parts: list[Any] = []
        self._writer = self._thread(self._write_loop, "writer")
        self._handler = handler(SessionLink(self))
        self._room = self._handler if isinstance(self._handler, RoomHandler) else None

    def __repr__(self) -> str:
        state = "closed" if self.closed.is_set() else ("ready" if self.ready else "open")
        return f"<FakeSession #{self.index} {state} stream_id={self.stream_id!r}>"

    # --- public inspection ----------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether a ``ready`` frame was queued for the client."""
        return self._ready.is_set()

    @property
    def livekit_room(self) -> str | None:
        """The LiveKit room this session joined, if any."""
        return self._room.livekit_room if self._room is not None else None

    @property
    def published_audio(self) -> bytes:
        """TTS audio this LiveKit session published into the room (not sent on the socket)."""
        return self._room.published_audio if self._room is not None else b""

    @property
    def received_audio(self) -> bytes:
        """All binary frames the client sent, concatenated."""
        with self._frames_cond:
            return b"".join(f.data for f in self.received if f.kind == "binary")

    def wait_until_ready(self, timeout: float = 5.0) -> None:
        """Block until ``ready`` was sent; TimeoutError otherwise."""
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self!r} sent no ready within {timeout} s")

    def wait_for_frame(
        self, type_or_predicate: str | Callable[[ReceivedFrame], bool], timeout: float = 5.0
    ) -> ReceivedFrame:
        """The first received frame that matches and was not returned by an earlier call.

        A string matches the JSON ``type``; ``"binary"`` matches binary frames.
        Raises TimeoutError when no such frame arrives within ``timeout``.
        """
        match: Callable[[ReceivedFrame], bool]
        if isinstance(type_or_predicate, str):
            wanted = type_or_predicate

            def match(frame: ReceivedFrame) -> bool:
                return frame.type == wanted or (wanted == "binary" and frame.kind == "binary")

        else:
            match = type_or_predicate
        deadline = time.monotonic() + timeout
        with self._frames_cond:
            start = 0
            while True:
                for index in range(start, len(self.received)):
                    if index not in self._taken and match(self.received[index]):
                        self._taken.add(index)
                        return self.received[index]
                start = len(self.received)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching frame from the client within {timeout} s")
                self._frames_cond.wait(remaining)

    # --- pushing frames ---------------------------------------------------------------

    def send_event(self, event: Mapping[str, Any]) -> None:
        """Queue a JSON text frame for the client (discarded once the session closed)."""
        self._outbox.put(TEXT, _dumps(event))

    def send_text(self, text: str) -> None:
        """Queue a raw text frame (need not be JSON)."""
        self._outbox.put(TEXT, text)

    def send_binary(self, data: bytes) -> None:
        """Queue a binary frame."""
        self._outbox.put(BINARY, bytes(data))

    def send_events(self, events: Iterable[Mapping[str, Any]], *, batch: int = 256) -> None:
        """Queue many JSON frames quickly (encoded here, written in batches)."""
        encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        pending: list[str] = []
        for event in events:
            pending.append(encode(event))
            if len(pending) >= batch:
                if not self._outbox.put(TEXTS, pending, len(pending)):
                    return
                pending = []
        if pending:
            self._outbox.put(TEXTS, pending, len(pending))

    def close(self, code: int | None = None, reason: str = "") -> None:
        """Queue a Close frame (after everything already queued); None = no status code."""
        self._outbox.put(CLOSE, (code, reason))

    def drop(self) -> None:
        """Drop the TCP connection now, without a Close frame."""
        self._abort_now()

    def pause_reading(self) -> None:
        """Stop reading from the socket (frames and pings from the client wait)."""
        self._reading.clear()

    def resume_reading(self) -> None:
        """Read from the socket again."""
        self._reading.set()

    def script_transcripts(self, transcripts: Iterable[str]) -> None:
        """Queue transcripts for audio this session's stand-in STT cannot decode."""
        self._room_side("script_transcripts").script_transcripts(transcripts)

    # --- the LiveKit room, simulated ----------------------------------------------------

    def participant_leaves(self, identity: str = "caller", name: str = "Caller") -> None:
        """A remote participant leaves: ``participant_disconnected``, ~100 ms, Close (no code)."""
        self._room_side("participant_leaves").participant_leaves(identity, name)

    def deliver_data(
        self,
        payload: bytes | str | Mapping[str, Any],
        *,
        identity: str | None = "caller",
        topic: str | None = None,
    ) -> None:
        """A data packet arrives from the room: a ``message`` frame (§5.3) unless filtered."""
        self._room_side("deliver_data").deliver_data(payload, identity=identity, topic=topic)

    def inject_room_audio(self, pcm: bytes, *, identity: str = "caller") -> None:
        """Audio from a room participant reaches STT (§4.3.4 ``listen_participants`` applies)."""
        self._room_side("inject_room_audio").inject_room_audio(pcm, identity=identity)

    @property
    def caller(self) -> Caller:
        """The remote speaker of this session: scripted speech, silence and a hang-up.

        See :class:`~sayna.testing.Caller` and :doc:`/conversations-testing`.
        """
        return self._room_side("caller").caller

    def _room_side(self, what: str) -> RoomHandler:
        if self._room is None:
            raise RuntimeError(f"{what}() needs the stand-in providers; this session replays")
        return self._room

    def _room_event(self, what: str, participant: Participant) -> None:
        if self._room is not None:
            self._room.room_event(what, participant)

    # --- connection thread --------------------------------------------------------------

    def _thread(self, target: Callable[[], None], role: str) -> threading.Thread:
        """A daemon thread (not started) of this session: a crash in it aborts the session."""

        def run() -> None:
            try:
                target()
            except Exception:
                log.exception("fake server session #%d crashed", self.index)
                self._abort_now()

        return threading.Thread(target=run, name=f"sayna-fake-ws-{self.index}-{role}", daemon=True)

    def run(self, trailing: bytes) -> None:
        """Serve the session on the calling (connection) thread until it ends."""
        try:
            self._writer.start()
            if trailing:
                self._feed(trailing)
            while not self._finished and not self._abort.is_set():
                # Bounded, so that a deadline set from another thread is noticed.
                timeout = 0.25
                deadline = self._handler.deadline()
                if deadline is not None:
                    timeout = min(timeout, max(0.0, deadline - time.monotonic()))
                if not self._reading.is_set():
                    self._reading.wait(min(timeout, 0.05))
                    self._handler.on_timer()
                    continue
                if not _readable(self._sock, timeout):
                    self._handler.on_timer()
                    continue
                if not self._reading.is_set():
                    continue
                data = self._sock.recv(65536)
                if not data:
                    break
                self._feed(data)
        except OSError:
            pass
        except Exception:
            log.exception("fake server session #%d crashed", self.index)
        finally:
            self._teardown()

    def _feed(self, data: bytes) -> None:
        with self._ws_lock:
            self._ws.receive_data(data)
            events = list(self._ws.events())
        for event in events:
            if self._finished:
                return
            if isinstance(event, Message):
                self._message_parts.append(event.data)
                if not event.message_finished:
                    continue
                parts, self._message_parts = self._message_parts, []
                if isinstance(event, TextMessage):
                    self._handler.on_text("".join(parts))
                elif isinstance(event, BytesMessage):
                    self._handler.on_binary(b"".join(parts))
            elif isinstance(event, Ping):
                self._outbox.put(PONG, event.payload)
            elif isinstance(event, Pong):
                pass
            elif isinstance(event, CloseConnection):
                self._on_close(event)

    def _on_close(self, event: CloseConnection) -> None:
        state = self._ws.state
        if state is ConnectionState.OPEN:
            # wsproto reports a protocol violation as a Close without changing state:
            # the server sends an error and drops the connection (§3.2).
            self._send({"type": "error", "message": f"WebSocket error: {event.reason}"})
            self._outbox.put(CLOSE_REPLY, None)
            self._graceful = True
        elif state is ConnectionState.REMOTE_CLOSING:
            self.client_close_code = None if event.code == 1005 else int(event.code)
            self._outbox.replace_all(CLOSE_REPLY, event.code)
            self._graceful = True
        self._finished = True

    def _teardown(self) -> None:
        self._finished = True
        self._handler.stop()
        if self._graceful and self._writer.is_alive():
            self._writer.join(1.0)  # let the Close reply out
        self._abort.set()
        self._outbox.close()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        if self._writer.is_alive():
            self._writer.join(2.0)
        self._handler.join(2.0)
        self._sock.close()
        self._handler.leave_room()
        self.closed.set()
        with self._frames_cond:
            self._frames_cond.notify_all()

    def _abort_now(self) -> None:
        self._abort.set()
        self._outbox.close()
        self._handler.wake()
        self._reading.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    # --- writer thread ----------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            while True:
                items = self._outbox.take()
                if items is None:
                    return
                if self._write(items):
                    return
        except OSError:
            pass
        finally:
            if not self._abort.is_set() and not self._graceful:
                # The client is gone or the close handshake is over: wake the reader.
                self._abort_now()

    def _write(self, items: list[tuple[int, Any]]) -> bool:
        """Write a batch of operations; True when the connection is finished."""
        out = bytearray()
        for op, arg in items:
            if op == PAUSE:
                self._flush(out)
                if self._abort.wait(arg):
                    return True
                continue
            with self._ws_lock:
                ws = self._ws
                try:
                    if op == TEXTS:
                        for text in arg:
                            out += ws.send(Message(data=text))
                    elif op in (TEXT, BINARY):
                        out += ws.send(Message(data=arg))
                    elif op == PONG:
                        out += ws.send(Pong(payload=arg))
                    elif op == CLOSE:
                        code, reason = arg
                        out += ws.send(
                            CloseConnection(code=_close_code(code), reason=reason or None)
                        )
                    elif op == CLOSE_REPLY and ws.state is ConnectionState.REMOTE_CLOSING:
                        out += ws.send(CloseConnection(code=_close_code(arg)))
                except LocalProtocolError:
                    continue  # the connection is closing: nothing more can be sent
            if op == CLOSE:
                self._flush(out)
                # Give the client a moment to answer the Close, then end the connection.
                if not self._abort.wait(1.0):
                    self._abort_now()
                return True
            if op == CLOSE_REPLY:
                self._flush(out)
                return True
        self._flush(out)
        return False

    def _flush(self, out: bytearray) -> None:
        if out:
            self._sock.sendall(out)
            out.clear()

    # --- for the behaviour ------------------------------------------------------------

    def _record(self, frame: ReceivedFrame) -> None:
        if not self._context.behaviour.record:
            return
        with self._frames_cond:
            self.received.append(frame)
            self._frames_cond.notify_all()

    def _record_text(self, text: str) -> Any:
        """Record a text frame as its JSON (the text itself when not JSON); returns that."""
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = text
        kind = data.get("type") if isinstance(data, dict) else None
        self._record(
            ReceivedFrame(kind="text", data=data, type=kind if isinstance(kind, str) else None)
        )
        return data

    def _send(self, event: Mapping[str, Any]) -> None:
        self._outbox.put(TEXT, _dumps(event))

    def _error(self, message: str) -> None:
        self._send({"type": "error", "message": message})
