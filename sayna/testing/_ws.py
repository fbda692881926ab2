"""One WebSocket session of the fake server (PROTOCOL.md §3 to §5).

Threads per session: the connection thread reads and handles client frames one
at a time (like the server, it does not read the next frame before the current
one is handled); a writer thread drains the session's single outgoing FIFO; a
TTS thread synthesizes utterances one after another. Every server frame, text
or binary, goes through the FIFO, so frames leave in the order they were queued.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import logging
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
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

from sayna.testing._audio import SpeechDecoder, ogg_opus_silence
from sayna.testing._outbox import Outbox
from sayna.testing._providers import (
    ProviderError,
    TTSSettings,
    check_loading_audio,
    chunks,
    resolve_provider,
    synthesize,
    tts_settings,
)
from sayna.testing._schemas import FrameError, decode_incoming
from sayna.testing._state import Participant, PhoneError, Track, check_phone

if TYPE_CHECKING:
    from sayna.testing._server import FakeServer

__all__ = ["FakeSession", "PublishedData", "ReceivedFrame"]

log = logging.getLogger("sayna.testing")

_AUDIO_DISABLED = "Audio processing is disabled. Send config message with audio=true first."
_NO_VOICE = "Voice manager not configured. Send config message with audio=true first."
_NO_LIVEKIT = "LiveKit client not configured. Send config message with livekit configuration first."
_LINEAR16 = frozenset({"linear16", "pcm", "pcm_s16le", "s16le", "pcm16", "l16", "linear_16"})

# Outgoing FIFO operations.
_TEXT, _BINARY, _TEXTS, _PAUSE, _CLOSE, _CLOSE_REPLY, _PONG = range(7)


def _close_code(code: int | None) -> int:
    # wsproto omits the status code only for the NO_STATUS_RCVD enum member itself.
    if code is None or code == CloseReason.NO_STATUS_RCVD:
        return CloseReason.NO_STATUS_RCVD
    return code


def _now_ms() -> int:
    return int(time.time() * 1000)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@attrs.frozen(kw_only=True)
class ReceivedFrame:
    """A frame the client sent, decoded.

    ``kind`` is ``"text"`` or ``"binary"``; ``data`` is a dict for JSON-object
    text, the raw string for other text, and bytes for binary frames; ``type``
    is the JSON ``type`` field when it is a string, else None.
    """

    kind: str
    data: Any
    type: str | None = None


@attrs.frozen(kw_only=True)
class PublishedData:
    """A LiveKit data packet the agent published (from ``send_message``)."""

    topic: str
    payload: bytes

    def json(self) -> Any:
        """The payload decoded as JSON."""
        return json.loads(self.payload)


def _readable(sock: socket.socket, timeout: float | None) -> bool:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000) + 1)))
    readable, _, _ = select.select([sock], [], [], timeout)
    return bool(readable)


class _Voice:
    """The configured speech pipeline of a session: STT decoder and TTS settings."""

    def __init__(self, stt: Mapping[str, Any], tts: TTSSettings, endpoint_ms: int) -> None:
        self.stt_rate: int = stt["sample_rate"] or 16000
        decodable = stt["encoding"].strip().lower() in _LINEAR16
        self.decoder = SpeechDecoder(self.stt_rate, decodable=decodable)
        self.tts = tts
        self.endpoint = endpoint_ms / 1000


class FakeSession:
    """One WebSocket session on a :class:`FakeServer`, inspectable and scriptable.

    Attributes mirror what the server knows: the ``config`` the client sent, the
    ``stream_id``, whether ``ready`` was sent, every frame ``received``. Methods
    push frames to the client (in FIFO order with the server's own frames) and
    simulate what happens in the LiveKit room.
    """

    def __init__(
        self,
        server: FakeServer,
        sock: socket.socket,
        ws: Connection,
        *,
        index: int,
        tenant: str | None,
        request_headers: Mapping[str, str],
    ) -> None:
        self._server = server
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
        self._published_audio = bytearray()
        self.loading = False

        # Scripting, copied from the server at connect time.
        self.fail_config_message: str | None = server._fail_config
        self.ready_delay: float = server.ready_delay
        self.withhold_ready: bool = server.withhold_ready
        self._script: collections.deque[str] = collections.deque(server._script)

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

        self._audio: bool | None = None
        self._voice: _Voice | None = None
        self._stt_deadline: float | None = None
        self._stt_lock = threading.Lock()
        self._room: str | None = None
        self._agent_identity = "sayna-ai"
        self._agent_name = "Sayna AI"
        self._listen: frozenset[str] = frozenset()
        self._recording = False
        self._loading_ok = False
        self._loading_error: str | None = None
        self._interrupt_blocked = False
        self._interrupt_until: float | None = None

        self._tts_cond = threading.Condition()
        self._tts_queue: collections.deque[tuple[str, TTSSettings, int, bool]] = collections.deque()
        self._tts_generation = 0
        self._tts_thread: threading.Thread | None = None
        self._writer = threading.Thread(
            target=self._guard(self._write_loop), name=f"sayna-fake-ws-{index}-writer", daemon=True
        )

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
        return self._room

    @property
    def published_audio(self) -> bytes:
        """TTS audio this LiveKit session published into the room (not sent on the socket)."""
        return bytes(self._published_audio)

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
        self._outbox.put(_TEXT, _dumps(event))

    def send_text(self, text: str) -> None:
        """Queue a raw text frame (need not be JSON)."""
        self._outbox.put(_TEXT, text)

    def send_binary(self, data: bytes) -> None:
        """Queue a binary frame."""
        self._outbox.put(_BINARY, bytes(data))

    def send_events(self, events: Iterable[Mapping[str, Any]], *, batch: int = 256) -> None:
        """Queue many JSON frames quickly (encoded here, written in batches)."""
        encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        pending: list[str] = []
        for event in events:
            pending.append(encode(event))
            if len(pending) >= batch:
                if not self._outbox.put(_TEXTS, pending, len(pending)):
                    return
                pending = []
        if pending:
            self._outbox.put(_TEXTS, pending, len(pending))

    def close(self, code: int | None = None, reason: str = "") -> None:
        """Queue a Close frame (after everything already queued); None = no status code."""
        self._outbox.put(_CLOSE, (code, reason))

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
        self._script.extend(transcripts)

    # --- the LiveKit room, simulated ----------------------------------------------------

    def participant_leaves(self, identity: str = "caller", name: str = "Caller") -> None:
        """A remote participant leaves: ``participant_disconnected``, ~100 ms, Close (no code)."""
        room = self._room
        if room is not None and self._server.state.remove_participant(room, identity):
            return  # the room told every session in it, this one included
        self._participant_left(identity, name, room or "")

    def deliver_data(
        self,
        payload: bytes | str | Mapping[str, Any],
        *,
        identity: str | None = "caller",
        topic: str | None = None,
    ) -> None:
        """A data packet arrives from the room: a ``message`` frame (§5.3) unless filtered."""
        if identity is not None and self._listen and identity not in self._listen:
            return
        if isinstance(payload, Mapping):
            payload = _dumps(payload)
        raw = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        body: dict[str, Any] = {}
        try:
            body["message"] = raw.decode("utf-8")
        except UnicodeDecodeError:
            body["data"] = base64.b64encode(raw).decode("ascii")
        body.update(
            identity=identity or "server",
            topic=topic or "default",
            room="livekit",
            timestamp=_now_ms(),
        )
        self.send_event({"type": "message", "message": body})

    def inject_room_audio(self, pcm: bytes, *, identity: str = "caller") -> None:
        """Audio from a room participant reaches STT (§4.3.4 ``listen_participants`` applies)."""
        if self._listen and identity not in self._listen:
            return
        self._stt_feed(pcm)

    # --- connection thread --------------------------------------------------------------

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except Exception:
                log.exception("fake server session #%d crashed", self.index)
                self._abort_now()

        return run

    def run(self, trailing: bytes) -> None:
        """Serve the session on the calling (connection) thread until it ends."""
        try:
            self._writer.start()
            if trailing:
                self._feed(trailing)
            while not self._finished and not self._abort.is_set():
                # Bounded, so that a deadline set from another thread is noticed.
                timeout = 0.25
                if self._stt_deadline is not None:
                    timeout = min(timeout, max(0.0, self._stt_deadline - time.monotonic()))
                if not self._reading.is_set():
                    self._reading.wait(min(timeout, 0.05))
                    self._check_timers()
                    continue
                if not _readable(self._sock, timeout):
                    self._check_timers()
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

    def _check_timers(self) -> None:
        deadline = self._stt_deadline
        voice = self._voice
        if deadline is not None and time.monotonic() >= deadline and voice is not None:
            with self._stt_lock:
                self._stt_deadline = None
                self._handle_stt(voice.decoder.end_turn(), voice)

    def _stt_feed(self, data: bytes) -> None:
        voice = self._voice
        if voice is not None:
            # Socket audio and injected room audio share one recogniser.
            with self._stt_lock:
                self._handle_stt(voice.decoder.feed(data), voice)

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
                    self._on_text("".join(parts))
                elif isinstance(event, BytesMessage):
                    self._on_binary(b"".join(parts))
            elif isinstance(event, Ping):
                self._outbox.put(_PONG, event.payload)
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
            self._outbox.put(_CLOSE_REPLY, None)
            self._graceful = True
        elif state is ConnectionState.REMOTE_CLOSING:
            self.client_close_code = None if event.code == 1005 else int(event.code)
            self._outbox.replace_all(_CLOSE_REPLY, event.code)
            self._graceful = True
        self._finished = True

    def _teardown(self) -> None:
        self._finished = True
        with self._tts_cond:
            self._tts_generation += 1
            self._tts_queue.clear()
            self._tts_cond.notify_all()
        if self._graceful and self._writer.is_alive():
            self._writer.join(1.0)  # let the Close reply out
        self._abort.set()
        self._outbox.close()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        if self._writer.is_alive():
            self._writer.join(2.0)
        if self._tts_thread is not None:
            self._tts_thread.join(2.0)
        self._sock.close()
        self._leave_room()
        self.closed.set()
        with self._frames_cond:
            self._frames_cond.notify_all()

    def _abort_now(self) -> None:
        self._abort.set()
        self._outbox.close()
        with self._tts_cond:
            self._tts_cond.notify_all()
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
            if op == _PAUSE:
                self._flush(out)
                if self._abort.wait(arg):
                    return True
                continue
            with self._ws_lock:
                ws = self._ws
                try:
                    if op == _TEXTS:
                        for text in arg:
                            out += ws.send(Message(data=text))
                    elif op in (_TEXT, _BINARY):
                        out += ws.send(Message(data=arg))
                    elif op == _PONG:
                        out += ws.send(Pong(payload=arg))
                    elif op == _CLOSE:
                        code, reason = arg
                        out += ws.send(
                            CloseConnection(code=_close_code(code), reason=reason or None)
                        )
                    elif op == _CLOSE_REPLY and ws.state is ConnectionState.REMOTE_CLOSING:
                        out += ws.send(CloseConnection(code=_close_code(arg)))
                except LocalProtocolError:
                    continue  # the connection is closing: nothing more can be sent
            if op == _CLOSE:
                self._flush(out)
                # Give the client a moment to answer the Close, then end the connection.
                if not self._abort.wait(1.0):
                    self._abort_now()
                return True
            if op == _CLOSE_REPLY:
                self._flush(out)
                return True
        self._flush(out)
        return False

    def _flush(self, out: bytearray) -> None:
        if out:
            self._sock.sendall(out)
            out.clear()

    # --- frames from the client -------------------------------------------------------

    def _record(self, frame: ReceivedFrame) -> None:
        if not self._server.record:
            return
        with self._frames_cond:
            self.received.append(frame)
            self._frames_cond.notify_all()

    def _send(self, event: Mapping[str, Any]) -> None:
        self._outbox.put(_TEXT, _dumps(event))

    def _error(self, message: str) -> None:
        self._send({"type": "error", "message": message})

    def _on_text(self, text: str) -> None:
        try:
            message = decode_incoming(text)
        except FrameError as exc:
            try:
                data: Any = json.loads(text)
            except ValueError:
                data = text
            kind = data.get("type") if isinstance(data, dict) else None
            self._record(
                ReceivedFrame(kind="text", data=data, type=kind if isinstance(kind, str) else None)
            )
            self._error(f"Invalid message format: {exc}")
            return
        kind = message["type"]
        self._record(ReceivedFrame(kind="text", data=message, type=kind))
        handler = getattr(self, f"_on_{kind}")
        handler(message)

    def _on_binary(self, data: bytes) -> None:
        self._record(ReceivedFrame(kind="binary", data=data))
        if not self._audio:
            self._error(_AUDIO_DISABLED)
            return
        if self._voice is None:
            self._error(_NO_VOICE)
            return
        self._stt_feed(data)

    def _handle_stt(self, events: list[tuple[str, ...]], voice: _Voice) -> None:
        for event in events:
            if event[0] == "interim":
                self._stt(event[1], final=False, confidence=0.8)
            elif event[0] == "final":
                self._stt(event[1], final=True, confidence=0.98)
                self._turn_end()
            elif self._script:
                words = self._script.popleft().split()
                for count in range(1, len(words) + 1):
                    self._stt(" ".join(words[:count]), final=False, confidence=0.8)
                if words:  # the server suppresses blank finals, but still ends the turn
                    self._stt(" ".join(words), final=True, confidence=0.9)
                self._turn_end()
        if voice.decoder.noise_pending:
            self._stt_deadline = time.monotonic() + voice.endpoint
        else:
            self._stt_deadline = None

    def _stt(self, transcript: str, *, final: bool, confidence: float) -> None:
        self._send(
            {
                "type": "stt_result",
                "transcript": transcript,
                "is_final": final,
                "is_speech_final": False,
                "confidence": confidence,
            }
        )

    def _turn_end(self) -> None:
        # The server synthesizes this marker when the provider reports no speech end.
        self._send(
            {
                "type": "stt_result",
                "transcript": "",
                "is_final": True,
                "is_speech_final": True,
                "confidence": 1.0,
            }
        )

    # --- config (§4.2) ------------------------------------------------------------------

    def _on_config(self, message: dict[str, Any]) -> None:
        server = self._server
        self.config = message
        audio = message.get("audio")
        audio = True if audio is None else bool(audio)
        stt, tts = message.get("stt_config"), message.get("tts_config")
        if audio and stt is None:
            self._error("STT configuration is required when audio=true")
            return
        if audio and tts is None:
            self._error("TTS configuration is required when audio=true")
            return
        stream_id = message.get("stream_id")
        self.stream_id = str(uuid.uuid4()) if stream_id is None else stream_id
        self._audio = audio
        livekit = message.get("livekit")
        loading = message.get("loading_audio")
        self._loading_ok, self._loading_error = False, None
        if loading is not None:
            if not (audio and livekit is not None):
                self._error(
                    "loading_audio requires audio to be enabled and a livekit configuration"
                )
            else:
                problem = check_loading_audio(loading)
                if problem:
                    self._error(problem)
                    self._loading_error = problem
                else:
                    self._loading_ok = True
        settings: TTSSettings | None = None
        if audio:
            assert stt is not None
            assert tts is not None
            try:
                resolve_provider(stt["provider"], stt.get("auth"), server.provider_credentials)
                tts_provider = resolve_provider(
                    tts["provider"], tts.get("auth"), server.provider_credentials
                )
            except ProviderError as exc:
                self._error(str(exc))
                return
            settings = tts_settings(tts, tts_provider)
        if self.fail_config_message is not None:
            self._error(self.fail_config_message)
            return
        if audio:
            assert stt is not None
            assert settings is not None
            self._voice = _Voice(stt, settings, server.stt_endpoint_ms)
            self._start_tts()
        if livekit is not None and not self._join_room(livekit):
            return
        if self.ready_delay > 0 and self._abort.wait(self.ready_delay):
            return
        if self.withhold_ready:
            return
        ready: dict[str, Any] = {"type": "ready", "stream_id": self.stream_id}
        if self._room is not None:
            ready["livekit_room_name"] = self._room
        ready["livekit_url"] = server.livekit_url
        if self._room is not None:
            ready["sayna_participant_identity"] = self._agent_identity
            ready["sayna_participant_name"] = self._agent_name
        self._send(ready)
        self._ready.set()
        if self._room is not None and self._audio:
            # Auto-subscribe to the audio of everyone already in the room.
            with server.state.lock:
                room = server.state.rooms.get(self._room)
                present = list(room.participants.values()) if room else []
            for participant in present:
                if participant.identity != self._agent_identity:
                    self._subscribe_tracks(participant)

    def _join_room(self, livekit: Mapping[str, Any]) -> bool:
        server, state = self._server, self._server.state
        if not server.livekit_configured:
            self._error("LiveKit room handler not initialized. Check API keys configuration.")
            return False
        name: str = livekit["room_name"]
        with state.lock:
            if state.ensure_room(name, self.tenant) is None:
                self._error(f"Access denied: room '{name}' belongs to a different tenant")
                return False
        self._room = name
        self._agent_identity = livekit.get("sayna_participant_identity") or "sayna-ai"
        self._agent_name = livekit.get("sayna_participant_name") or "Sayna AI"
        self._listen = frozenset(livekit.get("listen_participants") or ())
        agent = Participant(identity=self._agent_identity, name=self._agent_name, kind="AGENT")
        if self._audio:
            agent.tracks.append(Track(kind="audio"))
        self._recording = bool(livekit.get("enable_recording"))
        state.add_participant(name, agent)
        if self._recording:
            with state.lock:
                room = state.rooms.get(name)
                if room is not None:
                    room.active_recording = True
        return True

    def _leave_room(self) -> None:
        room_name = self._room
        if room_name is None:
            return
        state = self._server.state
        # The server deletes the room when the session ends (§3.2), after the agent left.
        state.remove_participant(room_name, self._agent_identity)
        with state.lock:
            state.rooms.pop(room_name, None)
            if self._recording and self.stream_id is not None:
                voice = self._voice
                rate = voice.tts.sample_rate if voice else 24000
                seconds = max(0.5, len(self._published_audio) / 2 / rate)
                state.recordings[self.stream_id] = ogg_opus_silence(seconds, rate)

    def _room_event(self, what: str, participant: Participant) -> None:
        """A participant joined or left this session's room."""
        if participant.identity == self._agent_identity or self._finished:
            return
        if what == "joined":
            self._send(
                {
                    "type": "participant_connected",
                    "participant": {
                        "identity": participant.identity,
                        "name": participant.name,
                        "room": self._room or "",
                        "timestamp": _now_ms(),
                    },
                }
            )
            if self._audio and self._ready.is_set():
                self._subscribe_tracks(participant)
        else:
            self._participant_left(participant.identity, participant.name, self._room or "")

    def _subscribe_tracks(self, participant: Participant) -> None:
        for track in participant.tracks:
            self._send(
                {
                    "type": "track_subscribed",
                    "track": {
                        "identity": participant.identity,
                        "name": participant.name,
                        "track_kind": track.kind,
                        "track_sid": track.sid,
                        "room": self._room or "",
                        "timestamp": _now_ms(),
                    },
                }
            )

    def _participant_left(self, identity: str, name: str, room: str) -> None:
        self._send(
            {
                "type": "participant_disconnected",
                "participant": {
                    "identity": identity,
                    "name": name,
                    "room": room,
                    "timestamp": _now_ms(),
                },
            }
        )
        self._outbox.put(_PAUSE, 0.1)
        self._outbox.put(_CLOSE, (None, ""))

    # --- other commands (§4.4-§4.9) ---------------------------------------------------

    def _on_speak(self, message: dict[str, Any]) -> None:
        if not self._audio:
            self._error(_AUDIO_DISABLED)
            return
        voice = self._voice
        if voice is None:
            self._error(_NO_VOICE)
            return
        allow = message.get("allow_interruption")
        protect = allow is False
        text: str = message["text"]
        with self._tts_cond:
            # Every speak sets the session-wide interruption switch (§4.4).
            self._interrupt_blocked = protect
            self._interrupt_until = None
            if text.strip():
                self._tts_queue.append((text, voice.tts, self._tts_generation, protect))
                self._tts_cond.notify_all()

    def _on_clear(self, message: dict[str, Any]) -> None:
        if not self._audio:
            return
        if self._voice is None:
            self._error(_NO_VOICE)
            return
        with self._tts_cond:
            if self._interrupt_blocked and (
                self._interrupt_until is None or time.monotonic() < self._interrupt_until
            ):
                return
            self._tts_generation += 1
            self._tts_queue.clear()
            self._tts_cond.notify_all()

    def _on_send_message(self, message: dict[str, Any]) -> None:
        if self._room is None:
            self._error(_NO_LIVEKIT)
            return
        failure = self._server.livekit_error
        if failure is not None:
            self._error(f"Failed to send message via LiveKit: {failure}")
            return
        payload = {
            "message": message["message"],
            "role": message["role"],
            "debug": message.get("debug"),
        }
        topic = message.get("topic") or "messages"
        self.published_data.append(
            PublishedData(topic=topic, payload=_dumps(payload).encode("utf-8"))
        )

    def _on_sip_transfer(self, message: dict[str, Any]) -> None:
        def fail(text: str) -> None:
            self._send({"type": "sip_transfer_error", "message": text})

        try:
            check_phone(message["transfer_to"])
        except PhoneError as exc:
            fail(f"Invalid phone number: {exc}")
            return
        room_name = self._room
        if room_name is None:
            fail("Room name not available. Ensure LiveKit is configured.")
            return
        server, state = self._server, self._server.state
        if not server.livekit_configured:
            fail(_NO_LIVEKIT)
            return
        with state.lock:
            room = state.rooms.get(room_name)
            if self.tenant is not None and room is None:
                fail("SIP transfer failed: Room not found")
                return
            if self.tenant is not None and room is not None and room.owner != self.tenant:
                fail("SIP transfer failed: Room not accessible")
                return
            caller = next(
                (
                    p
                    for p in (room.participants.values() if room else ())
                    if p.kind == "SIP" and p.identity != self._agent_identity
                ),
                None,
            )
        if caller is None:
            fail("No SIP participant found in room to transfer")
            return
        failure = server.livekit_error
        if failure is not None:
            # The transfer itself runs in the background on the server.
            fail(f"SIP transfer failed: {failure}")
            return
        server._transfer_leaves(room_name, caller.identity)

    def _on_update_config(self, message: dict[str, Any]) -> None:
        if not self._server.turn_detection:
            return
        threshold = (message.get("turn_detect") or {}).get("threshold")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            shown = str(int(threshold)) if float(threshold).is_integer() else repr(float(threshold))
            self._error(f"Invalid turn detection threshold: {shown}. Must be between 0.0 and 1.0")

    def _on_loading_start(self, message: dict[str, Any]) -> None:
        if self._audio is None:
            self._error("Send a config message first before using loading_start.")
        elif not self._audio:
            self._error(
                "Loading indicator requires audio to be enabled."
                " Send a config message with audio=true."
            )
        elif self._loading_error is not None:
            self._error(self._loading_error)
        elif self.config is None or self.config.get("livekit") is None:
            self._error(
                "Loading indicator requires a LiveKit room. "
                "Include a livekit configuration in your config message."
            )
        elif self._room is None:
            self._error(
                "loading indicator requires an active LiveKit connection; connect to a room first"
            )
        elif not self._loading_ok:
            self._error("no loading audio configured")
        else:
            self.loading = True

    def _on_loading_stop(self, message: dict[str, Any]) -> None:
        self.loading = False

    # --- TTS (§3.3) ---------------------------------------------------------------------

    def _start_tts(self) -> None:
        if self._tts_thread is None:
            self._tts_thread = threading.Thread(
                target=self._guard(self._tts_loop),
                name=f"sayna-fake-ws-{self.index}-tts",
                daemon=True,
            )
            self._tts_thread.start()

    def _tts_loop(self) -> None:
        server = self._server
        while True:
            with self._tts_cond:
                while not self._tts_queue and not self._finished and not self._abort.is_set():
                    self._tts_cond.wait()
                if self._finished or self._abort.is_set():
                    return
                text, settings, generation, protect = self._tts_queue.popleft()
                if generation != self._tts_generation:
                    continue
            failure = server.tts_error
            if failure is not None:
                self._error(f"TTS error: {failure}")
                self._maybe_complete(generation)
                continue
            audio = synthesize(text, settings)
            rate = settings.sample_rate or 24000
            speed = server.tts_speedup
            started = time.monotonic()
            produced = 0.0
            cancelled = False
            for chunk in chunks(audio, settings, server.tts_chunk_ms):
                with self._tts_cond:
                    if generation != self._tts_generation or self._finished:
                        cancelled = True
                        break
                if self._room is not None:
                    self._published_audio += chunk
                else:
                    self._outbox.put(_BINARY, chunk)
                produced += server.tts_chunk_ms / 1000
                if speed and speed > 0:
                    delay = started + produced / speed - time.monotonic()
                    if delay > 0:
                        with self._tts_cond:
                            self._tts_cond.wait(delay)
            if cancelled:
                continue
            if protect:
                with self._tts_cond:
                    # Protected from clear until the audio has played out.
                    if self._interrupt_blocked and self._interrupt_until is None:
                        self._interrupt_until = started + len(audio) / 2 / rate
            self._maybe_complete(generation)

    def _maybe_complete(self, generation: int) -> None:
        with self._tts_cond:
            if self._tts_queue or generation != self._tts_generation:
                return
        self._send({"type": "tts_playback_complete", "timestamp": _now_ms()})
