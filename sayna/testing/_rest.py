"""REST routing of the fake server, and its core routes (health, voices, speak, recordings).

Handlers are plain functions of the parsed request; the HTTP plumbing lives in
:mod:`sayna.testing._http`, what handlers share in :mod:`sayna.testing._rest_base`,
and the LiveKit and SIP routes in :mod:`sayna.testing._rest_livekit` and
:mod:`sayna.testing._rest_sip`. Checks run in the order the real server runs
them, and every error text is the server's.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sayna.testing import _schemas as schemas
from sayna.testing._providers import (
    VOICES,
    ProviderError,
    content_type,
    resolve_provider,
    synthesize,
    tts_settings,
)
from sayna.testing._records import RecordedRequest
from sayna.testing._rest_base import (
    Abort,
    Context,
    Reply,
    Upgrade,
    authenticate,
    error,
    json_body,
    json_reply,
    text_reply,
)
from sayna.testing._rest_livekit import (
    list_rooms,
    livekit_webhook,
    mute,
    remove_participant,
    room_details,
    token,
)
from sayna.testing._rest_sip import delete_hooks, get_hooks, post_hooks, sip_call, sip_transfer

if TYPE_CHECKING:
    from sayna.testing._context import ServerContext

__all__ = ["dispatch"]


def health(ctx: Context) -> Reply:
    return json_reply(200, {"status": "OK"})


def voices(ctx: Context) -> Reply:
    creds = ctx.server.behaviour.provider_credentials
    return json_reply(
        200, {p: VOICES[p] for p in ("deepgram", "elevenlabs", "azure", "google") if p in creds}
    )


_CREDENTIAL_WORDS = (
    "authentication",
    "authorization",
    "credential",
    "permission denied",
    "unauthorized",
    "forbidden",
    "401",
    "403",
)


def speak(ctx: Context) -> Reply:
    body = json_body(ctx.request, schemas.SPEAK_REQUEST)
    text: str = body["text"]
    config: dict[str, Any] = body["tts_config"]
    if not text.strip():
        raise error(400, "Text cannot be empty")
    try:
        behaviour = ctx.server.behaviour
        provider = resolve_provider(
            config["provider"],
            config.get("auth"),
            behaviour.provider_credentials,
            behaviour.extra_providers,
        )
    except ProviderError as exc:
        message = str(exc)
        raise error(500 if message.startswith("Missing server auth") else 400, message) from None
    settings = tts_settings(config, provider)
    failure = ctx.server.behaviour.tts_error
    if failure is not None:
        lowered = failure.lower()
        credential = any(word in lowered for word in _CREDENTIAL_WORDS)
        raise error(
            400 if settings.has_auth and credential else 500, f"TTS synthesis error: {failure}"
        )
    audio = synthesize(text, settings)
    # An utterance without audio (e.g. pronunciations that blank it) gets the defaults.
    fmt, rate = (settings.audio_format, settings.sample_rate) if audio else ("linear16", 24000)
    return Reply(
        200,
        audio,
        (
            ("content-type", content_type(fmt)),
            ("x-audio-format", fmt),
            ("x-sample-rate", str(rate)),
        ),
    )


def recording(ctx: Context) -> Reply:
    stream_id = urllib.parse.unquote(ctx.param)
    if not stream_id or ".." in stream_id or "/" in stream_id:
        raise error(400, "Invalid stream_id format")
    server = ctx.server
    if not server.behaviour.storage_configured:
        raise error(503, "Recording storage not configured")
    with server.state.lock:
        data = server.state.recordings.get(stream_id)
    if data is None:
        raise error(404, f"Recording not found: {stream_id}")
    return Reply(
        200,
        data,
        (
            ("content-type", "audio/ogg"),
            ("content-disposition", f'attachment; filename="{stream_id}.ogg"'),
        ),
    )


def ws_route(ctx: Context) -> Reply | Upgrade:
    headers = ctx.request.headers
    tokens = [t.strip().lower() for t in headers.get("connection", "").split(",")]
    if "upgrade" not in tokens:
        return text_reply(400, "Connection header did not include 'upgrade'")
    if headers.get("upgrade", "").strip().lower() != "websocket":
        return text_reply(400, "`Upgrade` header did not include 'websocket'")
    if headers.get("sec-websocket-version", "").strip() != "13":
        return text_reply(400, "`Sec-WebSocket-Version` header did not include '13'")
    if "sec-websocket-key" not in headers:
        return text_reply(400, "`Sec-WebSocket-Key` header missing")
    return Upgrade(ctx.tenant)


# --- routing ---------------------------------------------------------------------------

Handler = Callable[[Context], "Reply | Upgrade"]

# (pattern, {method: handler}, public). "*" matches one non-empty path segment.
_ROUTES: list[tuple[tuple[str, ...], dict[str, Handler], bool]] = [
    ((), {"GET": health}, True),
    (("voices",), {"GET": voices}, False),
    (("speak",), {"POST": speak}, False),
    (("livekit", "token"), {"POST": token}, False),
    (("livekit", "rooms"), {"GET": list_rooms}, False),
    (("livekit", "rooms", "*"), {"GET": room_details}, False),
    (("livekit", "participant"), {"DELETE": remove_participant}, False),
    (("livekit", "participant", "mute"), {"POST": mute}, False),
    (("recording", "*"), {"GET": recording}, False),
    (("sip", "hooks"), {"GET": get_hooks, "POST": post_hooks, "DELETE": delete_hooks}, False),
    (("sip", "transfer"), {"POST": sip_transfer}, False),
    (("sip", "call"), {"POST": sip_call}, False),
    (("ws",), {"GET": ws_route}, False),
    (("livekit", "webhook"), {"POST": livekit_webhook}, True),
]


def _match(path: str) -> tuple[dict[str, Handler], bool, str] | None:
    segments = tuple(path.split("/")[1:]) if path != "/" else ()
    for pattern, methods, public in _ROUTES:
        if len(pattern) != len(segments):
            continue
        param = ""
        for want, got in zip(pattern, segments, strict=False):
            if want == "*":
                if not got:
                    break
                param = got
            elif want != got:
                break
        else:
            return methods, public, param
    return None


def _allow(methods: dict[str, Handler]) -> str:
    names: list[str] = []
    for method in methods:
        names.append(method)
        if method == "GET":
            names.append("HEAD")
    return ",".join(names)


def dispatch(server: ServerContext, request: RecordedRequest) -> Reply | Upgrade:
    """Route, authenticate and handle one request."""
    try:
        match = _match(request.path)
        tenant = None
        if match is None or not match[1]:
            # Unknown paths sit behind the auth layer too (§1.1).
            tenant = authenticate(server, request)
        if server.replay is not None:
            upgrade = match is not None and match[0].get("GET") is ws_route
            answer = server.replay.answer(request, upgrade=upgrade and request.method == "GET")
            if answer is not None:
                return answer
        if match is None:
            return Reply(404)
        methods, _, param = match
        method = "GET" if request.method == "HEAD" else request.method
        handler = methods.get(method)
        if handler is None:
            return Reply(405, b"", (("allow", _allow(methods)),))
        return handler(Context(server, request, tenant, param))
    except Abort as abort:
        return abort.reply
