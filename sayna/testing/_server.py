"""The fake Sayna server: lifecycle, threads, scripting and the simulated LiveKit side."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import logging
import os
import selectors
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from wsproto.connection import Connection

from sayna._signing import sign_webhook
from sayna.testing._behaviour import Behaviour, behaviour_field
from sayna.testing._context import ServerContext
from sayna.testing._http import serve_connection
from sayna.testing._providers import ALL_PROVIDERS
from sayna.testing._records import RecordedRequest
from sayna.testing._replay import CassetteMismatch, Replay
from sayna.testing._standin import StandIn
from sayna.testing._state import (
    Hook,
    Participant,
    Room,
    State,
    Track,
    make_jwt,
    new_id,
)
from sayna.testing._tasks import Tasks
from sayna.testing._ws import FakeSession, FrameHandler

__all__ = ["FakeServer"]

log = logging.getLogger("sayna.testing")


def _sip_domain(header: str) -> str | None:
    """The domain of a SIP destination header, parsed as the server does (§6.1)."""
    value = header.strip()
    if "<" in value and ">" in value:
        value = value[value.index("<") + 1 : value.index(">")]
    value = value.split(";", 1)[0].strip()
    lowered = value.lower()
    if lowered.startswith(("sip:", "sips:")):
        value = value.split(":", 1)[1]
        value = value.rsplit("@", 1)[-1]
    elif "." in value and " " not in value and "@" not in value:
        host, _, port = value.rpartition(":")
        if host and port.isdigit():
            value = host
    else:
        return None
    value = value.strip().lower()
    return value or None


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
    - ``tts_chunk_ms`` (audio per binary frame), ``tts_speedup`` (how much faster
      than real time audio is produced; 0 = at once), ``stt_endpoint_ms`` (pause
      that ends a turn of undecodable audio), ``turn_detection`` (``update_config``
      thresholds are checked, as with the ``stt-vad`` build).
    - ``record``: keep every request and received frame for inspection; turn it
      off for a server that runs for hours (``python -m sayna.testing`` does).
    - ``cassette`` (a path) and ``pace`` (``"fast"`` or ``"recorded"``): replay
      a recorded session instead of the stand-in providers (see :doc:`/cassettes`).
    - ``behaviour``: all of the above but ``host``, ``port``, ``protected_hooks``
      and ``recordings`` as one :class:`~sayna.testing.Behaviour` (instead of the
      keywords, not beside them).

    Scripting (:meth:`fail_config`, :attr:`ready_delay`, :attr:`withhold_ready`,
    :meth:`script_transcripts`) applies to sessions opened after the change;
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
    tts_chunk_ms = behaviour_field[int]("Milliseconds of audio per TTS binary frame.")
    tts_speedup = behaviour_field[float](
        "How many times faster than real time the stand-in TTS produces audio (0: at once)."
    )
    stt_endpoint_ms = behaviour_field[int]("Pause that ends a turn of undecodable audio.")
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
        tts_chunk_ms: int = 40,
        tts_speedup: float = 10.0,
        stt_endpoint_ms: int = 500,
        turn_detection: bool = True,
        record: bool = True,
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
            tts_chunk_ms=tts_chunk_ms,
            tts_speedup=tts_speedup,
            stt_endpoint_ms=stt_endpoint_ms,
            turn_detection=turn_detection,
            record=record,
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
        self.state.room_listener = self._room_event
        self._context = ServerContext(
            behaviour=self._behaviour,
            state=self.state,
            livekit_token=self.livekit_token,
            handle_livekit_event=self.handle_livekit_event,
            transfer_leaves=self._transfer_leaves,
            replay=replay,
        )

        self._lock = threading.Lock()
        self._session_cond = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self._sessions: list[FakeSession] = []
        self._handed_out = 0
        self._tasks = Tasks("fake server")
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
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
        handler: Callable[[FakeSession], FrameHandler]
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

    # --- the simulated LiveKit side -------------------------------------------------------

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
        with self.state.lock:
            room = self.state.rooms.get(name)
            if room is None:
                room = Room(name=name, max_participants=max_participants)
                if sid is not None:
                    room.sid = sid
                if creation_time is not None:
                    room.creation_time = creation_time
                self.state.rooms[name] = room
            if owner is not None:
                room.stamp(owner)
            return room

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
        participant = Participant(identity=identity, name=name, kind=kind)
        if sid is not None:
            participant.sid = sid
        if joined_at is not None:
            participant.joined_at = joined_at
        participant.attributes = dict(attributes or {})
        participant.tracks = list(tracks) if tracks is not None else [Track(kind="audio")]
        self.state.add_participant(room, participant)
        return participant

    def remove_participant(self, room: str, identity: str) -> bool:
        """A participant leaves; sessions in the room then close (§3.2). False if absent."""
        return self.state.remove_participant(room, identity) is not None

    def livekit_token(self, room: str, identity: str, name: str = "") -> str:
        """A LiveKit-style HS256 access token for ``identity`` in ``room``."""
        now = int(time.time())
        claims = {
            "exp": now + 6 * 3600,
            "iss": self.livekit_api_key,
            "nbf": now,
            "sub": identity,
            "name": name,
            "video": {
                "room": room,
                "roomJoin": True,
                "canPublish": True,
                "canSubscribe": True,
                "canPublishData": True,
            },
            "metadata": "",
        }
        return make_jwt(claims, self.livekit_api_secret)

    def livekit_webhook_headers(self, body: bytes) -> dict[str, str]:
        """Headers LiveKit would send with ``body`` to ``POST /livekit/webhook``."""
        now = int(time.time())
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
        claims = {"iss": self.livekit_api_key, "nbf": now, "exp": now + 300, "sha256": digest}
        return {
            "Content-Type": "application/webhook+json",
            "Authorization": make_jwt(claims, self.livekit_api_secret),
        }

    def _room_event(self, room_name: str, what: str, participant: Participant) -> None:
        for session in self.sessions:
            if session.livekit_room == room_name and not session.closed.is_set():
                session._room_event(what, participant)

    def _transfer_leaves(self, room: str, identity: str) -> None:
        """A transferred SIP caller leaves the room shortly after the REFER."""

        def leave() -> None:
            if not self._stopping.wait(0.05):
                self.state.remove_participant(room, identity)

        self._tasks.spawn(leave, "sayna-fake-transfer")

    # --- SIP webhooks (§6) -----------------------------------------------------------------

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
        if not self.sip_configured:
            raise LookupError("SIP is not configured on this FakeServer")
        identity = participant_identity or f"sip_{from_phone_number}"
        room = room_name or f"{self.sip_room_prefix}{to_phone_number}"
        attributes = {
            "sip.phoneNumber": from_phone_number,
            "sip.trunkPhoneNumber": to_phone_number,
            "sip.h.to": f"<sip:{to_phone_number}@{host}>",
        }
        attributes.update({f"sip.h.{k}": v for k, v in (sip_headers or {}).items()})
        room_sid = self.add_room(room).sid
        event = {
            "event": "participant_joined",
            "id": event_id or new_id("EV_"),
            "createdAt": str(int(time.time())),
            "room": {"sid": room_sid, "name": room},
            "participant": {
                "sid": new_id("PA_"),
                "identity": identity,
                "name": participant_name,
                "kind": "SIP",
                "attributes": attributes,
            },
        }
        result = self.handle_livekit_event(event, deliver_async=False)
        assert result is not None
        return result

    def handle_livekit_event(
        self, event: Mapping[str, Any], *, deliver_async: bool = True
    ) -> tuple[int, bytes] | None:
        """Apply a LiveKit webhook event (participant joined/left) and forward SIP calls.

        With ``deliver_async`` the SIP webhook is posted in the background (like
        the server) and None is returned; otherwise the hook's (status, body) is
        returned, or LookupError raised when the call routes nowhere.
        """
        kind = event.get("event")
        room_info: Any = event.get("room") or {}
        info: Any = event.get("participant") or {}
        if not isinstance(room_info, dict) or not isinstance(info, dict):
            return None
        room_name, identity = room_info.get("name"), info.get("identity")
        if not isinstance(room_name, str) or not isinstance(identity, str):
            return None
        if kind == "participant_left":
            self.state.remove_participant(room_name, identity)
            return None
        if kind != "participant_joined":
            return None
        attributes = {str(k): str(v) for k, v in (info.get("attributes") or {}).items()}
        is_sip = info.get("kind") in ("SIP", 3) or any(k.startswith("sip.") for k in attributes)
        participant = Participant(
            identity=identity,
            name=str(info.get("name") or ""),
            kind="SIP" if is_sip else "STANDARD",
            attributes=attributes,
            tracks=[Track(kind="audio")],
        )
        if isinstance(info.get("sid"), str):
            participant.sid = info["sid"]
        room = self.add_room(room_name)
        if isinstance(room_info.get("sid"), str):
            room.sid = room_info["sid"]
        self.state.add_participant(room_name, participant)
        try:
            url, body, headers = self._sip_delivery(str(event.get("id") or ""), room, participant)
        except LookupError:
            if deliver_async:
                return None
            raise
        if deliver_async:
            self._tasks.spawn(lambda: self._post(url, body, headers) and None, "sayna-fake-webhook")
            return None
        return self._post(url, body, headers)

    def _sip_delivery(
        self, event_id: str, room: Room, participant: Participant
    ) -> tuple[str, bytes, dict[str, str]]:
        attributes = participant.attributes
        header = attributes.get("sip.h.x-to-ip") or attributes.get("sip.h.to")
        domain = _sip_domain(header) if header else None
        if not self.sip_configured:
            raise LookupError("SIP is not configured on this FakeServer")
        if domain is None:
            raise LookupError("the participant has no SIP destination header with a domain")
        with self.state.lock:
            hook = self.state.hook_for(domain)
        if hook is None:
            raise LookupError(f"no SIP hook for host {domain!r}")
        caller, called = attributes.get("sip.phoneNumber"), attributes.get("sip.trunkPhoneNumber")
        if caller is None or called is None:
            raise LookupError("the participant lacks sip.phoneNumber / sip.trunkPhoneNumber")
        secret = hook.secret or self.webhook_secret
        if not secret:
            raise LookupError(f"no signing secret for the hook of {domain!r} (set webhook_secret)")
        if hook.auth_id:
            with self.state.lock:
                room.stamp(hook.auth_id)
        payload = {
            "participant": {
                "name": participant.name,
                "identity": participant.identity,
                "sid": participant.sid,
            },
            "room": {"name": room.name, "sid": room.sid},
            "from_phone_number": caller,
            "to_phone_number": called,
            "room_prefix": self.sip_room_prefix,
            "sip_host": domain,
            "sip_headers": {k[6:]: v for k, v in attributes.items() if k.startswith("sip.h.")},
        }
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = sign_webhook(secret, body, event_id=event_id or None)
        return hook.url, body, headers

    @staticmethod
    def _post(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        # No proxies: hook URLs in tests point at loopback receivers.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
        try:
            with opener.open(request, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, exc.read()
            finally:
                exc.close()
