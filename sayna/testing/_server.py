"""The fake Sayna server: lifecycle, threads, inspection and scripting.

The server assembles the pieces: the HTTP plumbing (:mod:`sayna.testing._http`),
one :class:`~sayna.testing.FakeSession` per WebSocket, handed the behaviour that
serves it (the stand-in providers or a replayed cassette), and the simulated
LiveKit side (:mod:`sayna.testing._livekit`), whose methods it exposes.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from wsproto.connection import Connection

from sayna.testing._behaviour import Behaviour, behaviour_field
from sayna.testing._caller import Caller
from sayna.testing._context import ServerContext
from sayna.testing._http import serve_connection
from sayna.testing._livekit import LiveKitSide
from sayna.testing._providers import ALL_PROVIDERS
from sayna.testing._records import RecordedRequest
from sayna.testing._replay import CassetteMismatch, Replay
from sayna.testing._standin import StandIn
from sayna.testing._state import Hook, Participant, Room, State, Track
from sayna.testing._tasks import Tasks
from sayna.testing._ws import FakeSession, FrameHandler, SessionLink

__all__ = ["FakeServer"]

log = logging.getLogger("sayna.testing")


class FakeServer:
    """A real local Sayna server on loopback, for tests, notebooks and demos.

    REST and ``/ws`` share one port, as on the real server. Use it as a context
    manager, or call :meth:`start` and :meth:`stop`. Server configuration:

    - ``api_keys``: secret -> tenant id; None turns auth off (any or no key).
    - ``livekit_url`` / ``livekit_configured``: the public LiveKit URL in
      ``ready`` and tokens; without LiveKit the LiveKit routes fail as on the server.
    - ``sip_configured``, ``sip_room_prefix``, ``sip_outbound_address``,
      ``sip_hooks_persistent`` (a cache path: runtime hook changes allowed),
      ``protected_hooks`` (config-file hooks: ``host``, ``url``, ``auth_id``,
      optional ``secret``), ``webhook_secret`` (signs API-added hooks).
    - ``recordings`` (stream id -> bytes) and ``storage_configured``.
    - ``provider_credentials``: providers the server holds keys for.
    - ``extra_providers``: provider names accepted beside the server's own
      (say ``("kokoro", "whisper")`` from an unreleased server branch), with
      any ``auth``; the stand-in providers serve them.
    - ``tts_chunk_ms`` (audio per binary frame), ``tts_speedup`` (how much faster
      than real time audio is produced; 0 = at once), ``stt_endpoint_ms`` (pause
      in the audio that ends a turn of undecodable audio, or of speech cut off
      mid-sentence), ``turn_detection`` (``update_config``
      thresholds are checked, as with the ``stt-vad`` build).
    - ``caller``: a function called with each new session's
      :class:`~sayna.testing.Caller` once the session is ready, on the
      caller's own thread; it queues steps (``caller.say(...)``) for every
      session, as ``fake_session.caller`` does for one (see
      :doc:`/conversations-testing`).
    - ``record``: keep every request and received frame for inspection; turn it
      off for a server that runs for hours (``python -m sayna.testing`` does).
    - ``cassette`` (a path) and ``pace`` (``"fast"`` or ``"recorded"``): replay
      a recorded session instead of the stand-in providers (see :doc:`/cassettes`).
    - ``behaviour``: all of the above but ``host``, ``port``, ``protected_hooks``
      and ``recordings`` as one :class:`~sayna.testing.Behaviour` (instead of the
      keywords, not beside them).

    Scripting (:meth:`fail_config`, :attr:`ready_delay`, :attr:`withhold_ready`,
    :meth:`script_transcripts`, :attr:`caller`) applies to sessions opened after the change;
    fault switches (:attr:`tts_error`, :attr:`livekit_error`,
    :attr:`sip_transfer_status`, :attr:`auth_unavailable`) apply at once.
    """

    api_keys = behaviour_field[dict[str, str] | None](
        "Secret -> tenant id; None turns auth off (any or no key)."
    )
    livekit_url = behaviour_field[str]("The public LiveKit URL in ``ready`` and tokens.")
    livekit_configured = behaviour_field[bool]("Whether the LiveKit routes work.")
    livekit_api_key = behaviour_field[str]("The LiveKit API key tokens are issued with.")
    livekit_api_secret = behaviour_field[str]("The LiveKit API secret tokens are signed with.")
    sip_configured = behaviour_field[bool]("Whether SIP is configured.")
    sip_room_prefix = behaviour_field[str]("Room-name prefix of inbound calls.")
    sip_outbound_address = behaviour_field[str | None]("The SIP trunk address for calls.")
    sip_hooks_persistent = behaviour_field[bool]("Whether runtime hook changes are allowed.")
    webhook_secret = behaviour_field[str | None]("Signs webhooks of API-added hooks.")
    storage_configured = behaviour_field[bool]("Whether recording storage is configured.")
    provider_credentials = behaviour_field[frozenset[str]]("Providers the server holds keys for.")
    extra_providers = behaviour_field[frozenset[str]](
        "Provider names accepted beside the server's own (lower-cased)."
    )
    tts_chunk_ms = behaviour_field[int]("Milliseconds of audio per TTS binary frame.")
    tts_speedup = behaviour_field[float](
        "How many times faster than real time the stand-in TTS produces audio (0: at once)."
    )
    stt_endpoint_ms = behaviour_field[int](
        "Pause that ends a turn of undecodable audio, or of speech cut off mid-sentence."
    )
    turn_detection = behaviour_field[bool](
        "Whether ``update_config`` thresholds are checked (a server built with ``stt-vad``)."
    )
    record = behaviour_field[bool](
        "Keep every request and received frame (off for long-running demo servers)."
    )
    tts_error = behaviour_field[str | None](
        "Every synthesis fails with this provider message (``/speak`` and ``speak``)."
    )
    livekit_error = behaviour_field[str | None](
        "LiveKit actions (remove, mute, SIP call/transfer, send_message) fail with this."
    )
    sip_transfer_status = behaviour_field[str](
        '``/sip/transfer`` success status: ``"completed"`` or ``"initiated"``.'
    )
    auth_unavailable = behaviour_field[str | None](
        "When set, authenticated routes answer 503 as if the auth service were down."
    )
    ready_delay = behaviour_field[float]("Seconds new sessions wait before ``ready``.")
    caller = behaviour_field["Callable[[Caller], object] | None"](
        "Called with each new session's :class:`~sayna.testing.Caller` once it is ready."
    )
    withhold_ready = behaviour_field[bool]("New sessions never send ``ready``.")

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Mapping[str, str] | None = None,
        livekit_url: str = "wss://livekit.local.test",
        livekit_configured: bool = True,
        sip_configured: bool = True,
        sip_room_prefix: str = "sip-",
        sip_outbound_address: str | None = "sip.outbound.local.test",
        sip_hooks_persistent: bool = True,
        protected_hooks: Sequence[Mapping[str, str]] = (),
        webhook_secret: str | None = None,
        recordings: Mapping[str, bytes] | None = None,
        storage_configured: bool = True,
        provider_credentials: Collection[str] = ALL_PROVIDERS,
        extra_providers: Collection[str] = (),
        tts_chunk_ms: int = 40,
        tts_speedup: float = 10.0,
        stt_endpoint_ms: int = 500,
        turn_detection: bool = True,
        record: bool = True,
        caller: Callable[[Caller], object] | None = None,
        cassette: str | os.PathLike[str] | None = None,
        pace: str = "fast",
        behaviour: Behaviour | None = None,
    ) -> None:
        keywords = Behaviour(
            api_keys=api_keys,
            livekit_url=livekit_url,
            livekit_configured=livekit_configured,
            sip_configured=sip_configured,
            sip_room_prefix=sip_room_prefix,
            sip_outbound_address=sip_outbound_address,
            sip_hooks_persistent=sip_hooks_persistent,
            webhook_secret=webhook_secret,
            storage_configured=storage_configured,
            provider_credentials=provider_credentials,
            extra_providers=extra_providers,
            tts_chunk_ms=tts_chunk_ms,
            tts_speedup=tts_speedup,
            stt_endpoint_ms=stt_endpoint_ms,
            turn_detection=turn_detection,
            record=record,
            caller=caller,
            cassette=cassette,
            pace=pace,
        )
        if behaviour is not None and keywords != Behaviour():
            raise TypeError("pass either behaviour= or the individual behaviour keywords, not both")
        self._behaviour = keywords if behaviour is None else behaviour
        self._host = host
        self._port = port
        chosen = self._behaviour
        replay = None if chosen.cassette is None else Replay(chosen.cassette, chosen.pace)
        self._replay = replay

        self.state = State(
            protected_hooks=[
                Hook(
                    host=h["host"].strip().lower(),
                    url=h["url"],
                    auth_id=h.get("auth_id", "").strip(),
                    secret=h.get("secret"),
                )
                for h in protected_hooks
            ],
            recordings=recordings or {},
        )
        self._lock = threading.Lock()
        self._session_cond = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self._sessions: list[FakeSession] = []
        self._handed_out = 0
        self._tasks = Tasks("fake server")
        self._stopping = threading.Event()
        self._livekit = LiveKitSide(
            behaviour=self._behaviour,
            state=self.state,
            tasks=self._tasks,
            stopping=self._stopping,
            sessions=lambda: self.sessions,
        )
        self._context = ServerContext(
            behaviour=self._behaviour,
            state=self.state,
            livekit_token=self._livekit.livekit_token,
            handle_livekit_event=self._livekit.handle_livekit_event,
            transfer_leaves=self._livekit.transfer_leaves,
            replay=replay,
        )
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._accept_thread: threading.Thread | None = None
        self._state_name = "new"

    @property
    def behaviour(self) -> Behaviour:
        """Configuration and fault switches; the attributes of the same names read and write it."""
        return self._behaviour

    def __repr__(self) -> str:
        where = self.url if self._listener is not None else "not started"
        return f"<FakeServer {where} ({self._state_name})>"

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeServer:
        """Bind, listen and start accepting; returns self."""
        if self._state_name != "new":
            raise RuntimeError(f"cannot start a {self._state_name} FakeServer")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        listener = socket.create_server((self._host, self._port), family=family, backlog=128)
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._wake = socket.socketpair()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="sayna-fake-accept", daemon=True
        )
        self._state_name = "running"
        self._accept_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close every connection and socket, join every thread; idempotent."""
        if self._state_name != "running":
            self._state_name = "stopped"
            return
        self._state_name = "stopped"
        deadline = time.monotonic() + timeout
        self._stopping.set()
        assert self._wake is not None
        assert self._accept_thread is not None
        self._wake[1].send(b"x")
        self._accept_thread.join(timeout)
        with self._lock:
            sockets = list(self._sockets)
            sessions = list(self._sessions)
            self._session_cond.notify_all()
        for session in sessions:
            session._abort_now()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        stuck = self._tasks.join(deadline)
        if self._listener is not None:
            self._listener.close()
        for end in self._wake:
            end.close()
        if stuck:
            log.warning("FakeServer.stop: threads still running after %s s: %s", timeout, stuck)

    def __enter__(self) -> FakeServer:
        return self.start() if self._state_name == "new" else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        assert self._wake is not None
        count = 0
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake[0], selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is not self._listener or self._stopping.is_set():
                        return
                    try:
                        sock, _ = self._listener.accept()
                    except OSError:
                        continue
                    count += 1
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    with self._lock:
                        self._sockets.add(sock)
                    self._tasks.spawn(
                        functools.partial(self._serve, sock), f"sayna-fake-conn-{count}"
                    )

    def _serve(self, sock: socket.socket) -> None:
        try:
            serve_connection(self, sock)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(sock)
            sock.close()

    # --- addresses and records --------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the real one once started with ``port=0``)."""
        return self._port

    @property
    def url(self) -> str:
        """REST base URL, e.g. ``http://127.0.0.1:40123``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def ws_url(self) -> str:
        """WebSocket URL, e.g. ``ws://127.0.0.1:40123/ws``."""
        return "ws" + self.url[4:] + "/ws"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every HTTP request received so far (WebSocket handshakes included), in order."""
        with self._lock:
            return list(self._requests)

    @property
    def sessions(self) -> list[FakeSession]:
        """Every WebSocket session so far, in connect order."""
        with self._lock:
            return list(self._sessions)

    @property
    def cassette_mismatches(self) -> list[CassetteMismatch]:
        """How clients differed from the replayed cassette (empty: as recorded, or no cassette).

        Each :class:`~sayna.testing.CassetteMismatch` shows a diff in ``str()``.
        Frames a client never sent are added when its session ends.
        """
        return [] if self._replay is None else self._replay.mismatches

    def wait_for_session(self, timeout: float = 5.0) -> FakeSession:
        """The next session not yet returned by this method (in connect order).

        Waits up to ``timeout`` seconds for one to connect; TimeoutError otherwise.
        """
        deadline = time.monotonic() + timeout
        with self._session_cond:
            while self._handed_out >= len(self._sessions):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    raise TimeoutError(f"no new WebSocket session within {timeout} s")
                self._session_cond.wait(remaining)
            session = self._sessions[self._handed_out]
            self._handed_out += 1
            return session

    def _record_request(self, request: RecordedRequest) -> None:
        if self.record:
            with self._lock:
                self._requests.append(request)

    def _open_session(
        self, sock: socket.socket, ws: Connection, tenant: str | None, headers: Mapping[str, str]
    ) -> FakeSession:
        handler: Callable[[SessionLink], FrameHandler]
        if self._replay is None:
            handler = functools.partial(StandIn, context=self._context)
        else:
            handler = self._replay.session_handler
        with self._lock:
            session = FakeSession(
                self._context,
                sock,
                ws,
                index=len(self._sessions) + 1,
                tenant=tenant,
                request_headers=headers,
                handler=handler,
            )
            self._sessions.append(session)
            self._session_cond.notify_all()
        return session

    # --- scripting ----------------------------------------------------------------------

    def fail_config(self, message: str | None) -> None:
        """Answer every config of new sessions with this error frame and no ready (None: stop)."""
        self.behaviour.fail_config = message

    def script_transcripts(self, transcripts: Iterable[str]) -> None:
        """Transcripts new sessions' STT gives, in order, for audio it cannot decode."""
        self.behaviour.transcripts = list(transcripts)

    # --- the simulated LiveKit side (sayna.testing._livekit) -------------------------------

    def add_room(
        self,
        name: str,
        *,
        owner: str | None = None,
        sid: str | None = None,
        creation_time: int | None = None,
        max_participants: int = 0,
    ) -> Room:
        """Create (or return) a room; ``owner`` stamps it for that tenant (§1.5)."""
        return self._livekit.add_room(
            name,
            owner=owner,
            sid=sid,
            creation_time=creation_time,
            max_participants=max_participants,
        )

    def add_participant(
        self,
        room: str,
        identity: str,
        *,
        name: str = "",
        kind: str = "STANDARD",
        sid: str | None = None,
        attributes: Mapping[str, str] | None = None,
        tracks: Iterable[Track] | None = None,
        joined_at: int | None = None,
    ) -> Participant:
        """A participant joins ``room`` (created if missing); sessions there see it.

        Sessions in the room get ``participant_connected`` and, with audio,
        ``track_subscribed``. By default the participant publishes one audio track.
        """
        return self._livekit.add_participant(
            room,
            identity,
            name=name,
            kind=kind,
            sid=sid,
            attributes=attributes,
            tracks=tracks,
            joined_at=joined_at,
        )

    def remove_participant(self, room: str, identity: str) -> bool:
        """A participant leaves; sessions in the room then close (§3.2). False if absent."""
        return self._livekit.remove_participant(room, identity)

    def livekit_token(self, room: str, identity: str, name: str = "") -> str:
        """A LiveKit-style HS256 access token for ``identity`` in ``room``."""
        return self._livekit.livekit_token(room, identity, name)

    def livekit_webhook_headers(self, body: bytes) -> dict[str, str]:
        """Headers LiveKit would send with ``body`` to ``POST /livekit/webhook``."""
        return self._livekit.livekit_webhook_headers(body)

    def simulate_inbound_call(
        self,
        *,
        host: str,
        from_phone_number: str,
        to_phone_number: str,
        participant_identity: str | None = None,
        participant_name: str = "Phone Caller",
        room_name: str | None = None,
        sip_headers: Mapping[str, str] | None = None,
        event_id: str | None = None,
    ) -> tuple[int, bytes]:
        """A phone call arrives for ``host``: the caller joins a room and the hook is called.

        The caller (a SIP participant) joins ``room_name`` (default: the SIP room
        prefix + ``to_phone_number``), then the server POSTs the signed webhook
        of §6.2 to the URL of ``host``'s hook and returns its (status, body).
        Raises LookupError when no hook or secret makes delivery possible.
        """
        return self._livekit.simulate_inbound_call(
            host=host,
            from_phone_number=from_phone_number,
            to_phone_number=to_phone_number,
            participant_identity=participant_identity,
            participant_name=participant_name,
            room_name=room_name,
            sip_headers=sip_headers,
            event_id=event_id,
        )

    def handle_livekit_event(
        self, event: Mapping[str, Any], *, deliver_async: bool = True
    ) -> tuple[int, bytes] | None:
        """Apply a LiveKit webhook event (participant joined/left) and forward SIP calls.

        With ``deliver_async`` the SIP webhook is posted in the background (like
        the server) and None is returned; otherwise the hook's (status, body) is
        returned, or LookupError raised when the call routes nowhere.
        """
        return self._livekit.handle_livekit_event(event, deliver_async=deliver_async)
