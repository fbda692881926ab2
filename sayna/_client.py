"""The blocking client: one object per server, one method per REST endpoint."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, TypeVar
from urllib.parse import quote

import attrs
import requests

from sayna._answers import decode_json, structure_answer
from sayna._audio import AudioResult
from sayna._converter import to_wire
from sayna._destination import open_part_file
from sayna._errors import SaynaNotConnectedError, SaynaValidationError
from sayna._forksafe import ForkAware, reset_connection_pools
from sayna._models import (
    HealthResponse,
    LiveKitRoomDetails,
    LiveKitRoomsResponse,
    LiveKitTokenResponse,
    MuteParticipantResponse,
    RemoveParticipantResponse,
    SIPCallConfig,
    SIPCallResponse,
    SipHook,
    SipHooksResponse,
    SIPTransferResponse,
    TTSConfig,
    VoiceDescriptor,
)
from sayna._options import check_headers
from sayna._raw import check_json, check_params, check_path
from sayna._realtime import connect as _connect
from sayna._realtime.opening import PlanCache, RealtimeSettings
from sayna._renamed import missing_attribute, refuse_renamed_keywords
from sayna._transport import MAX_AUDIO_BYTES, MAX_JSON_BYTES, RestTransport
from sayna._urls import rest_base_url, ws_url
from sayna._validation import (
    normalize_phone_number,
    require_bool,
    require_int,
    require_positive_seconds,
    require_text,
    require_text_list,
)
from sayna._version import __version__

if TYPE_CHECKING:
    pass

__all__ = ["Sayna"]

_log = logging.getLogger("sayna")

T = TypeVar("T")
M = TypeVar("M")

URL_ENV_VAR = "SAYNA_URL"
API_KEY_ENV_VAR = "SAYNA_API_KEY"


def _clean_api_key(value: Any, *, from_env: bool) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SaynaValidationError(
            f"api_key must be a string, not {type(value).__name__}", field="api_key"
        )
    # Keys pasted from files often carry a trailing newline; the server compares
    # the token byte for byte, so trim here rather than fail with a 401 later.
    key = value.strip()
    if not key:
        if from_env:
            return None
        raise SaynaValidationError(
            f"api_key is empty; pass a key, or None to use ${API_KEY_ENV_VAR}", field="api_key"
        )
    if not (key.isascii() and key.isprintable()):
        # Never echo the key: it is a secret even when malformed.
        raise SaynaValidationError(
            "api_key must be printable ASCII (it is sent in an HTTP header)", field="api_key"
        )
    return key


def _coerce_model(value: Any, cls: type[M], field: str) -> M:
    """Accept an instance of ``cls`` or a plain dict with its field names."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise SaynaValidationError(
            f"{field} must be a {cls.__name__} or a dict, not {type(value).__name__}",
            field=field,
        )
    fields = attrs.fields_dict(cls)  # type: ignore[arg-type]
    unknown = sorted(str(key) for key in value if key not in fields)
    if unknown:
        raise SaynaValidationError(
            f"{field} has unknown key(s): {', '.join(unknown)}", field=f"{field}.{unknown[0]}"
        )
    missing = [
        name
        for name, attribute in fields.items()
        if attribute.default is attrs.NOTHING and name not in value
    ]
    if missing:
        raise SaynaValidationError(
            f"{field} is missing required key(s): {', '.join(missing)}",
            field=f"{field}.{missing[0]}",
        )
    return cls(**value)


def _path_segment(value: str) -> str:
    # safe="" so "/", "?", "#" and spaces inside a name stay inside the segment.
    return quote(value, safe="")


class _BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <key>`` as requests auth.

    Passed as ``auth=`` rather than as a header so that requests does not
    replace it with Basic credentials from a ``~/.netrc`` entry for the host
    (and skips the netrc lookup on every call).
    """

    __slots__ = ("_header",)

    def __init__(self, key: str) -> None:
        self._header = f"Bearer {key}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return "<Bearer auth>"


class Sayna:
    """A blocking client for one Sayna server.

    ``Sayna(url=None, api_key=None, *, timeout=30.0, max_retries=2,
    session=None, user_agent=None, ping_interval=20.0, ping_timeout=10.0)``

    ``url`` is the server's address in any of the forms ``http(s)://host``,
    ``http(s)://host/prefix`` or ``ws(s)://host/ws``; the REST base and the
    WebSocket URL are both derived from it. When omitted it comes from
    ``$SAYNA_URL``. ``api_key`` (else ``$SAYNA_API_KEY``, else none) is sent
    as ``Authorization: Bearer <key>`` and never appears in a repr, a log
    line or an exception.

    Every REST endpoint is one method that blocks until the answer arrives
    and returns a frozen model (or an :class:`AudioResult` for audio)::

        with Sayna("https://api.example.com", api_key="...") as client:
            print(client.health().status)
            audio, headers = client.speak_rest(
                "Hello!", TTSConfig(provider="deepgram", model="aura-asteria-en")
            )

    Behaviour worth knowing:

    - Bad input is refused before anything is sent, with
      :class:`SaynaValidationError` naming the field (blank names, malformed
      phone numbers, a ``muted`` that is not a bool...).
    - Every request has a timeout (``timeout`` seconds to connect and between
      bytes received, body included); :class:`SaynaTimeoutError` when it
      expires, never retried once the request was sent.
    - ``GET`` requests (and only those: they are idempotent) are retried up
      to ``max_retries`` times when the connection fails or the answer is
      429/502/503/504: after exponential backoff, or after the answer's
      ``Retry-After`` when it is at most 10 s (longer: raised at once, the
      delay in the exception's ``retry_after``).
    - Answers are bounded: JSON at 8 MiB, audio at 256 MiB
      (:meth:`save_recording` streams recordings of any size); anything
      malformed raises :class:`SaynaProtocolError`.
    - A non-2xx answer raises a :class:`SaynaHttpError` subclass chosen by
      status (``NotFoundError``, ``SaynaServerError``...) carrying the
      server's message, its error code when it sends one, and the endpoint.
      Transport failures raise :class:`SaynaConnectionError`; no ``requests``
      exception escapes.
    - One pooled :class:`requests.Session` serves all calls (its connection
      pool is shared by the threads that use the client). Pass ``session=``
      to use your own (proxies, TLS settings, adapters); it is then yours to
      close, and its headers are never modified.
    - Safe across ``os.fork()`` (pre-forking servers, Celery's prefork pool,
      ``multiprocessing``): in a child, the client opens its own connections
      and never touches a socket inherited from the parent. The session's
      connection pools (yours too, when you passed ``session=``) are emptied
      in the child; its settings are kept.
    - ``close()`` (or leaving the ``with`` block) closes every realtime
      session opened from this client, then the HTTP pool. A closed client
      refuses further calls with :class:`SaynaNotConnectedError`. Garbage
      collecting an unclosed client emits a :class:`ResourceWarning`.

    ``ping_interval`` / ``ping_timeout`` configure WebSocket keep-alive for
    realtime sessions (``ping_interval=None`` disables pings).
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 2,
        session: requests.Session | None = None,
        user_agent: str | None = None,
        ping_interval: float | None = 20.0,
        ping_timeout: float = 10.0,
    ) -> None:
        # Set first so that __del__ stays quiet if validation below fails.
        self._closed = True
        self._owns_http = False

        if url is None:
            url = os.environ.get(URL_ENV_VAR, "").strip() or None
        if url is None:
            raise SaynaValidationError(
                f"no Sayna server URL: pass url=... or set ${URL_ENV_VAR}", field="url"
            )
        self._rest_base: str = rest_base_url(url)
        self._ws_url: str = ws_url(url)

        if api_key is None:
            self._api_key: str | None = _clean_api_key(
                os.environ.get(API_KEY_ENV_VAR), from_env=True
            )
        else:
            self._api_key = _clean_api_key(api_key, from_env=False)
        self._auth = _BearerAuth(self._api_key) if self._api_key else None

        self._timeout: float = require_positive_seconds(timeout, "timeout")
        self._max_retries = require_int(max_retries, "max_retries", minimum=0)
        self._ping_interval: float | None = (
            None
            if ping_interval is None
            else require_positive_seconds(ping_interval, "ping_interval")
        )
        self._ping_timeout: float = require_positive_seconds(ping_timeout, "ping_timeout")

        if user_agent is not None:
            require_text(user_agent, "user_agent")
        agent = f"sayna-python/{__version__}"
        self._user_agent = f"{user_agent.strip()} {agent}" if user_agent else agent

        if session is not None and not isinstance(session, requests.Session):
            raise SaynaValidationError(
                f"session must be a requests.Session, not {type(session).__name__}",
                field="session",
            )
        self._http: requests.Session = session if session is not None else requests.Session()
        self._owns_http = session is None
        # A with_options() view points at the client it was made from; the
        # root owns the pool, the session registry and the fork guard.
        self._root: Sayna | None = None
        self._extra_headers: dict[str, str] = {}
        self._connect_timeout: float = 60.0

        # Realtime sessions add themselves here so that close() can end them.
        self._sessions: weakref.WeakSet[Any] = weakref.WeakSet()
        self._plans = PlanCache()
        self._lock = threading.Lock()
        self._fork_guard = ForkAware(self._after_fork)
        self._transport = RestTransport(
            base_url=self._rest_base,
            http=self._http,
            auth=self._auth,
            user_agent=self._user_agent,
            timeout=self._timeout,
            max_retries=self._max_retries,
        )
        self._closed = False

    # --- lifecycle -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The REST base URL derived from the given URL (no trailing ``/``)."""
        return self._rest_base

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called (on a view: on it or its client)."""
        return self._closed or (self._root is not None and self._root._closed)

    def close(self) -> None:
        """Close every realtime session of this client, then the HTTP pool.

        Idempotent. A session that fails to close is logged and skipped, so
        the pool is always released. The sessions close in parallel, so N
        sessions take about as long as one. A call interrupted (Ctrl-C) is
        finished by the next one.
        """
        if self._root is not None:
            # A view shares everything it could close: only it stops working.
            self._closed = True
            return
        with self._lock:
            self._closed = True
        sessions = list(self._sessions)
        # From one of our own threads (a callback closing the client), one by
        # one on that thread: a close elsewhere would wait for the callback.
        if len(sessions) == 1 or threading.current_thread().name.startswith("sayna-"):
            for realtime in sessions:
                self._close_session(realtime)
        elif sessions:
            threads = [
                threading.Thread(
                    target=self._close_session, args=(s,), name="sayna-close", daemon=True
                )
                for s in sessions
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        with self._lock:
            close_pool = self._owns_http and not getattr(self, "_pool_closed", False)
            self._pool_closed = True
        if close_pool:
            self._http.close()

    @staticmethod
    def _close_session(realtime: Any) -> None:
        try:
            realtime.close()
        except Exception:
            _log.warning("closing a realtime session failed", exc_info=True)

    def __enter__(self) -> Sayna:
        self._ensure_open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_closed", True):
            return
        if getattr(self, "_owns_http", False):
            warnings.warn(
                f"unclosed {self!r}; use 'with Sayna(...)' or call close()",
                ResourceWarning,
                source=self,
                stacklevel=2,
            )
            self._http.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        key = "api key set" if self._api_key else "no api key"
        if self._root is None:
            return f"<Sayna {self._rest_base} ({key}, {state})>"
        # Header names only: their values may be secrets.
        names = ", ".join(self._extra_headers) or "none"
        return (
            f"<Sayna view {self._rest_base} ({key}, {state}, timeout={self._timeout:g},"
            f" max_retries={self._max_retries}, extra headers: {names})>"
        )

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Sayna:
        """A view of this client with other settings, sharing its pool and sessions.

        ``timeout`` replaces the REST timeout and the default of
        :meth:`connect` (60 s otherwise); ``max_retries`` the retries of
        ``GET`` requests; ``headers`` are added to every REST request and to
        the WebSocket upgrade (merged over a parent view's; the names the
        client sets itself, such as ``Authorization``, are refused). Options
        left as ``None`` are this client's::

            fast = client.with_options(timeout=2.0, max_retries=0)
            room = fast.get_livekit_room("support-42")

        Views are cheap (no connection of their own) and thread-safe like
        the client. Closing a view only stops that view; sessions it opened
        belong to the original client, whose :meth:`close` ends them and
        stops every view.
        """
        self._ensure_open()
        view = Sayna.__new__(Sayna)
        view.__dict__.update(self.__dict__)
        view._root = self._root or self
        view._owns_http = False  # never closes (nor warns about) the shared pool
        if timeout is not None:
            view._timeout = require_positive_seconds(timeout, "timeout")
            view._connect_timeout = view._timeout
        if max_retries is not None:
            view._max_retries = require_int(max_retries, "max_retries", minimum=0)
        if headers is not None:
            view._extra_headers = {**self._extra_headers, **check_headers(headers)}
        # A shallow copy keeps the environment (proxies, CA bundle) read once
        # by the client: reading it again made a view cost ~200 us.
        transport = copy.copy(self._transport)
        transport.timeout = view._timeout
        transport.max_retries = view._max_retries
        transport.extra_headers = dict(view._extra_headers)
        view._transport = transport
        return view

    if not TYPE_CHECKING:  # type checkers keep flagging unknown names

        def __getattr__(self, name: str) -> Any:
            # Only reached for names the class lacks: point old SDK names at ours.
            return missing_attribute(self, name)

    def _ensure_open(self) -> None:
        if self.closed:
            raise SaynaNotConnectedError("this Sayna client is closed; create a new one")

    def _after_fork(self) -> None:
        # Runs in a forked child. A parent thread may have held the lock at
        # the moment of the fork; in the child nobody would ever release it.
        self._lock = threading.Lock()
        # The inherited pooled sockets are the parent's: writing a request
        # into one interleaves with the parent's (or a sibling's) traffic.
        reset_connection_pools(self._http)

    # --- realtime ------------------------------------------------------------------

    #: Open a realtime session (declared in :mod:`sayna._realtime.connect`, bound here).
    connect = _connect.connect

    def _realtime_settings(self) -> RealtimeSettings:
        """Everything a realtime session takes from this client, at once."""
        self._ensure_open()
        headers = [f"User-Agent: {self._user_agent}"]
        if self._api_key:
            headers.append(f"Authorization: Bearer {self._api_key}")
        headers += [f"{name}: {value}" for name, value in self._extra_headers.items()]
        return RealtimeSettings(
            ws_url=self._ws_url,
            headers=tuple(headers),
            http=self._http,
            timeout=self._timeout,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            sessions=self._sessions,
            plans=self._plans,
        )

    # --- transport ---------------------------------------------------------------

    @property
    def _sleep(self) -> Callable[[float], None]:
        # Test seam: the pause between retries.
        return self._transport.sleep

    @_sleep.setter
    def _sleep(self, sleep: Callable[[float], None]) -> None:
        self._transport.sleep = sleep

    def _open(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        compressed: bool = True,
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        self._ensure_open()
        self._fork_guard.check_pid()
        return self._transport.open(method, path, body, compressed=compressed, params=params)

    def _call(self, method: str, path: str, cls: type[T], body: Any = None) -> T:
        response = self._open(method, path, body)
        raw = self._transport.read(response, method, path, limit=MAX_JSON_BYTES)
        data = decode_json(raw, method=method, endpoint=path)
        result: T = structure_answer(data, cls, method=method, endpoint=path, body=raw)
        return result

    def _audio(self, method: str, path: str, body: Any = None) -> AudioResult:
        response = self._open(method, path, body, compressed=False)
        data = self._transport.read(response, method, path, limit=MAX_AUDIO_BYTES)
        return AudioResult(data, response.headers)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int | float | bool] | None = None,
    ) -> Any:
        """Call an endpoint this client has no method for; return the decoded answer.

        ``path`` is relative to the server (``"/voices"``); ``json`` is the
        request body (omitted when ``None``) and ``params`` the query string.
        The call has what every method has: the API key, the timeout,
        retries for ``GET``, the answer caps and the error classes. A JSON
        answer comes back decoded (``dict``, ``list``...), any other as
        ``bytes`` (at most 256 MiB), an empty one as ``None``::

            client.request("GET", "/voices")  # as get_voices(), undecoded
            client.request("POST", "/agents", json={"name": "support"})
        """
        verb, where = check_path(method, path)
        if json is not None:
            check_json(json, "json")
        query = None if params is None else check_params(params)
        response = self._open(verb, where, json, params=query)
        kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        is_json = kind == "application/json" or kind.endswith("+json")
        limit = MAX_JSON_BYTES if is_json else MAX_AUDIO_BYTES
        raw = self._transport.read(response, verb, where, limit=limit)
        if not raw:
            return None
        return decode_json(raw, method=verb, endpoint=where) if is_json else raw

    # --- REST endpoints ------------------------------------------------------------

    def health(self) -> HealthResponse:
        """``GET /``: whether the server is up (``status == "OK"``); needs no key."""
        return self._call("GET", "/", HealthResponse)

    def get_voices(self) -> dict[str, list[VoiceDescriptor]]:
        """``GET /voices``: the TTS voices, by provider.

        Only providers the server has credentials for (and that answered)
        appear, so ``{}`` is a normal answer.
        """
        result: dict[str, list[VoiceDescriptor]] = self._call(
            "GET", "/voices", dict[str, list[VoiceDescriptor]]
        )
        return result

    def speak_rest(self, text: str, tts_config: TTSConfig | Mapping[str, Any]) -> AudioResult:
        """``POST /speak``: synthesize ``text`` in one request and return the audio.

        ``tts_config`` is a :class:`TTSConfig` (or a dict of its fields). The
        call lasts as long as the whole synthesis; unpack the result as
        ``audio, headers`` or use its properties.
        """
        require_text(text, "text")
        config = _coerce_model(tts_config, TTSConfig, "tts_config")
        return self._audio("POST", "/speak", {"text": text, "tts_config": to_wire(config)})

    def get_livekit_token(
        self, room_name: str, participant_name: str, participant_identity: str
    ) -> LiveKitTokenResponse:
        """``POST /livekit/token``: a LiveKit token for a participant of ``room_name``.

        Raises :class:`PermissionDeniedError` when the room belongs to another tenant.
        """
        body = {
            "room_name": require_text(room_name, "room_name"),
            "participant_name": require_text(participant_name, "participant_name"),
            "participant_identity": require_text(participant_identity, "participant_identity"),
        }
        return self._call("POST", "/livekit/token", LiveKitTokenResponse, body)

    def get_livekit_rooms(self) -> LiveKitRoomsResponse:
        """``GET /livekit/rooms``: the rooms this key's tenant owns (all, without auth)."""
        return self._call("GET", "/livekit/rooms", LiveKitRoomsResponse)

    def get_livekit_room(self, room_name: str) -> LiveKitRoomDetails:
        """``GET /livekit/rooms/{room_name}``: a room and its participants.

        Raises :class:`NotFoundError` for a missing room or another tenant's room.
        """
        require_text(room_name, "room_name")
        return self._call("GET", f"/livekit/rooms/{_path_segment(room_name)}", LiveKitRoomDetails)

    def remove_livekit_participant(
        self, room_name: str, participant_identity: str
    ) -> RemoveParticipantResponse:
        """``DELETE /livekit/participant``: remove a participant from a room.

        Their token stays valid: they can rejoin unless you stop them otherwise.
        """
        body = {
            "room_name": require_text(room_name, "room_name"),
            "participant_identity": require_text(participant_identity, "participant_identity"),
        }
        return self._call("DELETE", "/livekit/participant", RemoveParticipantResponse, body)

    def mute_livekit_participant_track(
        self, room_name: str, participant_identity: str, track_sid: str, muted: bool
    ) -> MuteParticipantResponse:
        """``POST /livekit/participant/mute``: mute (``muted=True``) or unmute a track."""
        body = {
            "room_name": require_text(room_name, "room_name"),
            "participant_identity": require_text(participant_identity, "participant_identity"),
            "track_sid": require_text(track_sid, "track_sid"),
            "muted": require_bool(muted, "muted"),
        }
        return self._call("POST", "/livekit/participant/mute", MuteParticipantResponse, body)

    def get_recording(self, stream_id: str) -> AudioResult:
        """``GET /recording/{stream_id}``: the OGG recording of a finished session.

        ``stream_id`` is the session's id (from its ``ready`` message); the
        session must have had ``LiveKitConfig(enable_recording=True)``. The
        whole recording is held in memory, up to 256 MiB
        (:class:`SaynaProtocolError` beyond); :meth:`save_recording` streams
        it to a file instead, in bounded memory.
        """
        return self._audio("GET", self._recording_path(stream_id))

    @staticmethod
    def _recording_path(stream_id: str) -> str:
        require_text(stream_id, "stream_id")
        if "/" in stream_id or ".." in stream_id:
            raise SaynaValidationError("stream_id must not contain '/' or '..'", field="stream_id")
        return f"/recording/{_path_segment(stream_id)}"

    def save_recording(self, stream_id: str, destination: str | os.PathLike[str] | BinaryIO) -> int:
        """``GET /recording/{stream_id}``, streamed to ``destination``; return the byte count.

        Memory stays bounded whatever the recording's size: the body goes to
        ``destination`` in pieces of at most 64 KiB as it arrives (no size
        cap, unlike :meth:`get_recording`). ``destination`` is a path or a
        file object open for binary writing. A path is written to a temporary
        file beside it and renamed into place once the whole recording has
        arrived, so a failed download leaves no partial file; a file object
        receives whatever arrived before a failure. A path that is a directory,
        or in a folder that does not exist or cannot be written, raises
        :class:`SaynaValidationError` before anything is downloaded.
        """
        path = self._recording_path(stream_id)
        if isinstance(destination, (str, os.PathLike)):
            target, part = open_part_file(destination)  # checked before the request
            try:
                with part:
                    response = self._open("GET", path, compressed=False)
                    size = self._transport.copy(response, "GET", path, part.write)
                os.replace(part.name, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(part.name)
                raise
            return size
        writer: object = destination  # typed loosely: callers pass anything
        if isinstance(writer, io.TextIOBase) or not callable(getattr(writer, "write", None)):
            raise SaynaValidationError(
                "destination must be a path or a file object open for binary writing, "
                f"not {type(destination).__name__}",
                field="destination",
            )
        response = self._open("GET", path, compressed=False)
        return self._transport.copy(response, "GET", path, destination.write)

    def get_sip_hooks(self) -> SipHooksResponse:
        """``GET /sip/hooks``: the SIP webhook routing table (empty without SIP)."""
        return self._call("GET", "/sip/hooks", SipHooksResponse)

    def set_sip_hooks(self, hooks: Sequence[SipHook | Mapping[str, Any]]) -> SipHooksResponse:
        """``POST /sip/hooks``: add hooks, replacing those with the same host.

        Returns the whole table afterwards. Hosts from the server's config
        file cannot be changed (:class:`MethodNotAllowedError`).
        """
        if isinstance(hooks, (str, bytes, Mapping)) or not isinstance(hooks, Sequence):
            raise SaynaValidationError(
                f"hooks must be a list of SipHook, not {type(hooks).__name__}", field="hooks"
            )
        if not hooks:
            # The server would answer with the unchanged table: surely not what
            # was meant (removing hooks is delete_sip_hooks).
            raise SaynaValidationError(
                "hooks is empty; set_sip_hooks only adds or replaces hooks", field="hooks"
            )
        entries = []
        for index, item in enumerate(hooks):
            field = f"hooks[{index}]"
            hook = _coerce_model(item, SipHook, field)
            require_text(hook.host, f"{field}.host")
            require_text(hook.url, f"{field}.url")
            entries.append(to_wire(hook))
        return self._call("POST", "/sip/hooks", SipHooksResponse, {"hooks": entries})

    def delete_sip_hooks(self, hosts: Sequence[str]) -> SipHooksResponse:
        """``DELETE /sip/hooks``: remove the hooks of ``hosts`` (case-insensitive).

        Unknown hosts are ignored; returns the remaining table.
        """
        body = {"hosts": require_text_list(hosts, "hosts")}
        return self._call("DELETE", "/sip/hooks", SipHooksResponse, body)

    def sip_transfer_rest(
        self, room_name: str, participant_identity: str, transfer_to: str
    ) -> SIPTransferResponse:
        """``POST /sip/transfer``: transfer a SIP caller in a room to another number.

        ``transfer_to`` is digits with an optional leading ``+`` (e.g. an
        extension like ``"1001"``).
        """
        body = {
            "room_name": require_text(room_name, "room_name"),
            "participant_identity": require_text(participant_identity, "participant_identity"),
            "transfer_to": normalize_phone_number(transfer_to, "transfer_to"),
        }
        return self._call("POST", "/sip/transfer", SIPTransferResponse, body)

    def sip_call(
        self,
        room_name: str,
        participant_name: str,
        participant_identity: str,
        from_phone_number: str,
        to_phone_number: str,
        sip: SIPCallConfig | Mapping[str, Any] | None = None,
        **renamed: NoReturn,
    ) -> SIPCallResponse:
        """``POST /sip/call``: dial ``to_phone_number`` into ``room_name``.

        ``sip`` overrides the server's outbound trunk settings for this call
        (a :class:`SIPCallConfig` or a dict of its fields). Success means the
        call was placed, not answered. (``sip_config=``, the async SDK's
        keyword, raises :class:`TypeError` naming ``sip=``.)
        """
        if renamed:
            refuse_renamed_keywords("sip_call", renamed, {"sip_config": "sip"})
        body: dict[str, Any] = {
            "room_name": require_text(room_name, "room_name"),
            "participant_name": require_text(participant_name, "participant_name"),
            "participant_identity": require_text(participant_identity, "participant_identity"),
        }
        # The server checks the destination first; so do we.
        body["to_phone_number"] = normalize_phone_number(to_phone_number, "to_phone_number")
        body["from_phone_number"] = normalize_phone_number(from_phone_number, "from_phone_number")
        if sip is not None:
            overrides = to_wire(_coerce_model(sip, SIPCallConfig, "sip"))
            if overrides:
                body["sip"] = overrides
        return self._call("POST", "/sip/call", SIPCallResponse, body)
