"""Opening a realtime session: ``Sayna.connect``, declared here once.

``Sayna.connect`` *is* :func:`connect` (the client binds it as a method), so
its parameters, defaults and validation live in one place. The session takes
what it needs from the client as one :class:`~sayna._realtime.opening.RealtimeSettings`.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from sayna import _messages as messages
from sayna import _telemetry as telemetry
from sayna._errors import SaynaValidationError
from sayna._models import LiveKitConfig, LoadingAudioConfig, STTConfig, TTSConfig
from sayna._realtime.bargein import BargeIn, resolve_barge_in
from sayna._realtime.connect_retry import open_with_retries, resolve_retry
from sayna._realtime.connection import CLOSE_HANDSHAKE_TIMEOUT
from sayna._realtime.core import SessionCore
from sayna._realtime.eventlog import DEFAULT_MAX_AUDIO_BYTES, DEFAULT_MAX_BUFFERED_EVENTS
from sayna._realtime.hostcheck import require_threads
from sayna._realtime.reconnect import ReconnectPolicy, resolve_policy
from sayna._realtime.session import Session
from sayna._validation import require_bool, require_int, require_positive_seconds

if TYPE_CHECKING:
    from sayna._client import Sayna

__all__ = ["connect"]

logger = logging.getLogger("sayna")


def _validated(value: Any, cls: type, field: str) -> None:
    if value is not None and not isinstance(value, cls):
        raise SaynaValidationError(
            f"{field} must be a {cls.__name__}, not {type(value).__name__}", field=field
        )


@telemetry.traced_connect
def connect(
    self: Sayna,
    stt_config: STTConfig | None = None,
    tts_config: TTSConfig | None = None,
    livekit_config: LiveKitConfig | None = None,
    without_audio: bool = False,
    stream_id: str | None = None,
    loading_audio: LoadingAudioConfig | None = None,
    *,
    timeout: float | None = None,
    max_buffered_events: int = DEFAULT_MAX_BUFFERED_EVENTS,
    max_buffered_audio_bytes: int = DEFAULT_MAX_AUDIO_BYTES,
    reconnect: bool | ReconnectPolicy = False,
    barge_in: bool | BargeIn = False,
    retry: bool | ReconnectPolicy = False,
) -> Session:
    """Open a realtime session; return it once the server has sent ``ready``.


    ::

        with client.connect(stt_config=stt, tts_config=tts) as session:
            session.speak("Hello!")
            for event in session.events():
                ...

    **What happens.** The WebSocket upgrade carries the API key as
    ``Authorization: Bearer``; it goes through the same proxy, CA bundle and
    client certificate as the REST calls (the ``requests.Session``
    settings merged with ``HTTPS_PROXY``, ``NO_PROXY``,
    ``REQUESTS_CA_BUNDLE``...). Then the ``config`` message is sent (``audio``
    is ``not without_audio``; options left as ``None`` are omitted) and the
    call blocks until the server answers ``ready``, for at most ``timeout``
    seconds (starting providers and joining a LiveKit room takes seconds;
    by default 60, or the ``timeout`` of a :meth:`~sayna.Sayna.with_options`
    view, whose extra headers also go on the upgrade).

    **Arguments.** ``stt_config`` and ``tts_config`` are required unless
    ``without_audio=True``; ``loading_audio`` needs audio and a
    ``livekit_config``. ``max_buffered_events`` bounds the session's event
    buffer (see :class:`Session`: backpressure for active consumers, newest
    events kept for later iterators); ``max_buffered_audio_bytes`` bounds the
    TTS audio among the events kept only for later iterators (4 MiB, about
    87 s of 24 kHz speech).

    **Reconnecting.** ``reconnect=True`` (the default :class:`ReconnectPolicy`)
    or ``reconnect=ReconnectPolicy(...)`` keeps the session alive across a
    lost connection: after a drop without a Close frame, an unanswered ping,
    or a server Close with code 1001, 1006, 1011, 1012, 1013 or 1014, it opens
    a new socket and sends the same config again (with the stream id of the
    first ``ready``). Callbacks and iterators carry on and see a
    :class:`ReconnectingEvent` per attempt, then a :class:`ReconnectedEvent`.
    Meanwhile commands wait, audio is dropped and counted. A normal close
    never reconnects; a 401/403 on the new handshake, or the last failed
    attempt, ends the session with :class:`SaynaConnectionClosedError`. Not
    with ``livekit_config`` (:class:`SaynaValidationError`): the server deletes
    the room when a connection ends. See :doc:`long-lived-sessions`.

    **Barge-in.** ``barge_in=True`` (the default :class:`BargeIn`) or
    ``barge_in=BargeIn(...)``: while speech sent with ``allow_interruption``
    plays, the caller's speech sends ``clear``, the cancelled audio still
    arriving is dropped, and a :class:`SpeechInterruptedEvent` reports it.
    See :doc:`conversations`.

    **Retrying the first connection.** ``retry=True`` (the default
    :class:`ReconnectPolicy`: 5 tries) or ``retry=ReconnectPolicy(...)``
    tries the upgrade again when the connection is refused or reset, or the
    server answers it with 429, 500, 502, 503 or 504: after the policy's
    backoff, or after the answer's ``Retry-After`` when it is at most 10 s
    (longer: raised at once, the delay in ``retry_after``). Never on
    401/403, a redirect, a TLS failure or a refused config. Every try and
    pause fits within ``timeout``: when the next pause would pass it, the
    last error is raised.

    **Errors** — all :class:`SaynaError`, never a websocket-client exception:
    :class:`SaynaValidationError` before connecting for arguments that cannot
    be valid; :class:`AuthenticationError` (401) or another
    :class:`SaynaHttpError` when the upgrade is refused, built from the
    server's answer; :class:`SaynaConnectionError` when the server cannot be
    reached; :class:`SaynaConfigError` (with ``server_message``) when the
    server answers the configuration with an ``error`` — the first error
    before ``ready`` means the configuration failed, except the server's
    advisory ``loading_audio`` errors, after which it still sends ``ready``;
    :class:`SaynaThreadsDisabledError` under uWSGI started without
    ``--enable-threads`` (see :doc:`recipes/servers`);
    :class:`SaynaConnectionClosedError` when the connection closes before
    ``ready`` (or right after it, without ``reconnect``; with ``reconnect``
    the session is returned and reconnects); :class:`SaynaTimeoutError` when
    ``ready`` does not come in time. On every error the socket is closed and
    no thread is left behind.

    **Threads.** The session reads the socket on its own daemon thread, runs
    callbacks on a second one (started with the first callback), and shares
    one keep-alive thread with every other session of the process: a
    WebSocket ping every ``ping_interval`` seconds of silence, and the
    session ends with :class:`SaynaConnectionClosedError` when the server
    does not answer within ``ping_timeout``. ``Sayna.close()`` closes every
    session opened from this client.
    """
    require_bool(without_audio, "without_audio")
    _validated(stt_config, STTConfig, "stt_config")
    _validated(tts_config, TTSConfig, "tts_config")
    _validated(livekit_config, LiveKitConfig, "livekit_config")
    _validated(loading_audio, LoadingAudioConfig, "loading_audio")
    if not without_audio:
        if stt_config is None:
            raise SaynaValidationError(
                "stt_config is required unless without_audio=True", field="stt_config"
            )
        if tts_config is None:
            raise SaynaValidationError(
                "tts_config is required unless without_audio=True", field="tts_config"
            )
    if loading_audio is not None and (without_audio or livekit_config is None):
        raise SaynaValidationError(
            "loading_audio needs audio and a livekit_config (the server ignores it otherwise)",
            field="loading_audio",
        )
    if stream_id is not None and not isinstance(stream_id, str):
        raise SaynaValidationError("stream_id must be a string", field="stream_id")
    if timeout is None:
        # 60 s, or the timeout of a with_options() view.
        timeout = self._connect_timeout
    require_positive_seconds(timeout, "timeout")
    require_int(max_buffered_events, "max_buffered_events", minimum=1)
    require_int(max_buffered_audio_bytes, "max_buffered_audio_bytes", minimum=1)
    policy = resolve_policy(reconnect)
    barge = resolve_barge_in(barge_in)
    first_tries = resolve_retry(retry)
    if policy is not None and livekit_config is not None:
        raise SaynaValidationError(
            "reconnect cannot be used with livekit_config: the server deletes the LiveKit"
            " room when a connection ends (docs/protocol.rst §3.2), so a new connection could"
            " not resume the call",
            field="reconnect",
        )
    # Before anything is opened: a reader thread that cannot run is no session.
    require_threads()
    settings = self._realtime_settings()

    config = messages.config(
        audio=not without_audio,
        stream_id=stream_id,
        stt_config=stt_config,
        tts_config=tts_config,
        livekit=livekit_config,
        loading_audio=loading_audio,
    )

    deadline = time.monotonic() + timeout
    ws = open_with_retries(
        lambda: settings.open_websocket(timeout, deadline), first_tries, deadline
    )
    if first_tries is not None and self.closed:
        # The client was closed while this call waited between tries.
        ws.close()
        self._ensure_open()
    core = SessionCore(
        settings=settings,
        config=config,
        connect_timeout=timeout,
        policy=policy,
        stt_config=stt_config,
        tts_config=tts_config,
        livekit=livekit_config is not None,
        max_buffered_events=max_buffered_events,
        max_buffered_audio_bytes=max_buffered_audio_bytes,
        barge_in=barge,
    )
    connection = core.attach(
        ws, ping_interval=settings.ping_interval, ping_timeout=settings.ping_timeout
    )
    session = Session(core)
    # Registered before ready, so that closing the client also aborts a connect
    # still waiting in another thread.
    settings.sessions.add(session)
    try:
        connection.start()
        connection.send_json(config)
        core.wait_ready(deadline, timeout)
        telemetry.step("ready")
        telemetry.session_started(core)
    except BaseException:
        core.close(CLOSE_HANDSHAKE_TIMEOUT, raise_errors=False)
        settings.sessions.discard(session)
        raise
    logger.debug(
        "session %d ready in %.3f s (stream %s)",
        core.id,
        timeout - (deadline - time.monotonic()),
        session.stream_id,
    )
    return session
