"""REST routes of the fake server: auth, routing and every endpoint of PROTOCOL.md §2.

Handlers are plain functions of the parsed request; the HTTP plumbing lives in
:mod:`sayna.testing._http`. Checks run in the order the real server runs them,
and every error text is the server's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from sayna.testing import _schemas as schemas
from sayna.testing._providers import (
    VOICES,
    ProviderError,
    content_type,
    resolve_provider,
    synthesize,
    tts_settings,
)
from sayna.testing._records import RecordedRequest, decode_json
from sayna.testing._shape import ShapeError, Struct, describe_json_error
from sayna.testing._state import (
    Hook,
    Participant,
    PhoneError,
    Track,
    check_phone,
    new_id,
    verify_jwt,
)

if TYPE_CHECKING:
    from sayna.testing._context import ServerContext

__all__ = ["Reply", "Upgrade", "dispatch"]


@attrs.frozen
class Reply:
    """An HTTP response: status, extra headers (lower-case names) and body."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class Upgrade:
    """A valid, authorised WebSocket upgrade; ``tenant`` applies to the session."""

    tenant: str | None


class Abort(Exception):
    """Raised by helpers to answer immediately with ``reply``."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def json_reply(status: int, body: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """A compact JSON body, keys in insertion order, like the server's serializer."""
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Reply(status, data, (("content-type", "application/json"), *headers))


def text_reply(status: int, text: str) -> Reply:
    return Reply(status, text.encode("utf-8"), (("content-type", "text/plain; charset=utf-8"),))


def error(status: int, message: str, code: str | None = None) -> Abort:
    body: dict[str, str] = {"error": message}
    if code is not None:
        body["code"] = code
    return Abort(json_reply(status, body))


def _auth_error(status: int, code: str, message: str) -> Abort:
    return Abort(json_reply(status, {"error": code, "message": message}))


# --- authentication (§1.3) -------------------------------------------------------------


def authenticate(server: ServerContext, request: RecordedRequest) -> str | None:
    """The caller's tenant id (None when auth is off), or :class:`Abort` with a 401."""
    keys = server.behaviour.api_keys
    if keys is None:
        return None
    header = request.headers.get("authorization")
    token: str | None = None
    if header is not None and header.startswith("Bearer ") and len(header) > 7:
        try:
            header.encode("ascii")
            token = header[7:]
        except UnicodeEncodeError:
            token = None
    if token is None:
        query_key = request.query.get("api_key", "")
        if query_key.strip():
            token = query_key
    if token is None:
        if header is None:
            raise _auth_error(
                401,
                "missing_auth_header",
                "Missing authentication token (Authorization header or api_key query parameter)",
            )
        raise _auth_error(
            401,
            "invalid_auth_header",
            "Invalid Authorization header format (expected 'Bearer {token}') "
            "and missing api_key query parameter",
        )
    unavailable = server.behaviour.auth_unavailable
    if unavailable is not None:
        raise _auth_error(503, "auth_service_unavailable", f"HTTP request error: {unavailable}")
    tenant: str | None = None
    for secret, tenant_id in keys.items():
        # Compare every secret in constant time, like the server does.
        if _same(secret, token):
            tenant = tenant_id
    if tenant is None:
        raise _auth_error(401, "unauthorized", "Unauthorized: Invalid API secret")
    return tenant or None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


# --- JSON bodies (§1.6) ----------------------------------------------------------------


def _is_json_content_type(value: str | None) -> bool:
    if value is None:
        return False
    mime = value.split(";", 1)[0].strip().lower()
    main, _, sub = mime.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def json_body(request: RecordedRequest, shape: Struct) -> dict[str, Any]:
    """The body decoded and shape-checked, or the framework's plain-text rejection."""
    if not _is_json_content_type(request.headers.get("content-type")):
        raise Abort(text_reply(415, "Expected request with `Content-Type: application/json`"))
    try:
        value = decode_json(request.body)
    except json.JSONDecodeError as exc:
        raise Abort(
            text_reply(400, f"Failed to parse the request body as JSON: {describe_json_error(exc)}")
        ) from None
    except ValueError as exc:
        raise Abort(text_reply(400, f"Failed to parse the request body as JSON: {exc}")) from None
    try:
        shape.check(value, "")
    except ShapeError as exc:
        raise Abort(
            text_reply(422, f"Failed to deserialize the JSON body into the target type: {exc}")
        ) from None
    assert isinstance(value, dict)
    return value


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


# --- handlers --------------------------------------------------------------------------


@attrs.frozen
class Context:
    """What a handler sees: the server's narrow context, the request, caller and path parameter."""

    server: ServerContext
    request: RecordedRequest
    tenant: str | None
    param: str = ""


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
        provider = resolve_provider(
            config["provider"], config.get("auth"), ctx.server.behaviour.provider_credentials
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


def _livekit_required(ctx: Context, code: str | None = None) -> None:
    if not ctx.server.behaviour.livekit_configured:
        raise error(500, "LiveKit service not configured", code)


def token(ctx: Context) -> Reply:
    _livekit_required(ctx)  # checked before the body is validated
    body = json_body(ctx.request, schemas.TOKEN_REQUEST)
    for field in ("room_name", "participant_name", "participant_identity"):
        if _blank(body[field]):
            raise error(400, f"Invalid request: {field} cannot be empty")
    server, room_name = ctx.server, body["room_name"]
    if ctx.tenant is not None:
        with server.state.lock:
            if server.state.ensure_room(room_name, ctx.tenant) is None:
                raise error(403, "Access denied: room belongs to a different tenant")
    return json_reply(
        200,
        {
            "token": server.livekit_token(
                room_name, body["participant_identity"], body["participant_name"]
            ),
            "room_name": room_name,
            "participant_identity": body["participant_identity"],
            "livekit_url": server.behaviour.livekit_url,
        },
    )


def list_rooms(ctx: Context) -> Reply:
    _livekit_required(ctx)
    state = ctx.server.state
    with state.lock:
        rooms = [
            {
                "name": r.name,
                "num_participants": len(r.participants),
                "creation_time": r.creation_time,
            }
            for r in state.rooms.values()
            if ctx.tenant is None or r.owner == ctx.tenant
        ]
    return json_reply(200, {"rooms": rooms})


def room_details(ctx: Context) -> Reply:
    name = urllib.parse.unquote(ctx.param)
    if not name.strip():
        raise error(400, "Room name cannot be empty")
    _livekit_required(ctx)
    state = ctx.server.state
    with state.lock:
        room = state.rooms.get(name)
        if room is None:
            raise error(404, f"Room '{name}' not found")
        if ctx.tenant is not None and room.owner != ctx.tenant:
            raise error(404, f"Room '{name}' not found or not accessible")
        return json_reply(200, room.details())


def remove_participant(ctx: Context) -> Reply:
    body = json_body(ctx.request, schemas.REMOVE_PARTICIPANT_REQUEST)
    room_name, identity = body["room_name"], body["participant_identity"]
    if _blank(room_name):
        raise error(400, "Room name cannot be empty", "INVALID_REQUEST")
    if _blank(identity):
        raise error(400, "Participant identity cannot be empty", "INVALID_REQUEST")
    _livekit_required(ctx, "LIVEKIT_NOT_CONFIGURED")
    state = ctx.server.state
    with state.lock:
        room = state.room_for(room_name, ctx.tenant)
        if room is None:
            raise error(
                404, f"Room '{room_name}' not found or not accessible", "PARTICIPANT_NOT_FOUND"
            )
        if identity not in room.participants:
            raise error(
                404,
                f"Participant '{identity}' not found in room '{room_name}'",
                "PARTICIPANT_NOT_FOUND",
            )
        failure = ctx.server.behaviour.livekit_error
        if failure is not None:
            raise error(500, f"Failed to remove participant: {failure}", "REMOVAL_FAILED")
    state.remove_participant(room_name, identity)
    return json_reply(
        200, {"status": "removed", "room_name": room_name, "participant_identity": identity}
    )


def mute(ctx: Context) -> Reply:
    body = json_body(ctx.request, schemas.MUTE_REQUEST)
    room_name, identity, track_sid = (
        body["room_name"],
        body["participant_identity"],
        body["track_sid"],
    )
    if _blank(room_name):
        raise error(400, "Room name cannot be empty", "INVALID_REQUEST")
    if _blank(identity):
        raise error(400, "Participant identity cannot be empty", "INVALID_REQUEST")
    if _blank(track_sid):
        raise error(400, "Track SID cannot be empty", "INVALID_REQUEST")
    _livekit_required(ctx, "LIVEKIT_NOT_CONFIGURED")
    state = ctx.server.state
    with state.lock:
        room = state.room_for(room_name, ctx.tenant)
        if room is None:
            raise error(
                404, f"Room '{room_name}' not found or not accessible", "PARTICIPANT_NOT_FOUND"
            )
        participant = room.participants.get(identity)
        track = (
            next((t for t in participant.tracks if t.sid == track_sid), None)
            if participant
            else None
        )
        if track is None:
            raise error(
                404,
                f"Track '{track_sid}' or participant '{identity}' not found in room '{room_name}'",
                "PARTICIPANT_NOT_FOUND",
            )
        failure = ctx.server.behaviour.livekit_error
        if failure is not None:
            # The server reuses the removal code on this route.
            raise error(500, f"Failed to mute track: {failure}", "REMOVAL_FAILED")
        track.muted = body["muted"]
        muted = track.muted
    return json_reply(
        200,
        {
            "room_name": room_name,
            "participant_identity": identity,
            "track_sid": track_sid,
            "muted": muted,
        },
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


def _hooks_reply(ctx: Context) -> Reply:
    return json_reply(200, {"hooks": [h.to_json() for h in ctx.server.state.hooks()]})


def get_hooks(ctx: Context) -> Reply:
    if not ctx.server.behaviour.sip_configured:
        return json_reply(200, {"hooks": []})
    with ctx.server.state.lock:
        return _hooks_reply(ctx)


def _refuse_protected(ctx: Context, hosts: list[str]) -> None:
    protected = {h.host for h in ctx.server.state.protected_hooks}
    hit = sorted({h for h in hosts if h in protected})
    if hit:
        raise error(
            405,
            f"Host(s) {', '.join(hit)} are hardcoded in the application config"
            " and cannot be changed.",
        )


_NO_CACHE = "No cache path configured. Cannot persist SIP hooks."


def post_hooks(ctx: Context) -> Reply:
    body = json_body(ctx.request, schemas.SIP_HOOKS_REQUEST)
    server = ctx.server
    if not server.behaviour.sip_hooks_persistent:
        raise error(500, _NO_CACHE)
    entries = [
        Hook(host=e["host"].strip().lower(), url=e["url"], auth_id=e["auth_id"].strip())
        for e in body.get("hooks") or []
    ]
    if server.behaviour.api_keys is not None:
        for entry in entries:
            if not entry.auth_id:
                raise error(
                    400,
                    f"Hook for host '{entry.host}' has empty auth_id. "
                    "When AUTH_REQUIRED=true, auth_id must be provided.",
                )
    with server.state.lock:
        _refuse_protected(ctx, [e.host for e in entries])
        seen: set[str] = set()
        for entry in entries:
            if entry.host in seen:
                raise error(400, f"Validation error: Duplicate host detected: {entry.host}")
            seen.add(entry.host)
        for entry in entries:
            server.state.stored_hooks[entry.host] = entry
        if not server.behaviour.sip_configured:
            return json_reply(
                200, {"hooks": [h.to_json() for h in server.state.stored_hooks.values()]}
            )
        return _hooks_reply(ctx)


def delete_hooks(ctx: Context) -> Reply:
    body = json_body(ctx.request, schemas.DELETE_SIP_HOOKS_REQUEST)
    hosts = [h.strip().lower() for h in body.get("hosts") or []]
    if not hosts:
        raise error(400, "No hosts provided to delete.")
    server = ctx.server
    if not server.behaviour.sip_hooks_persistent:
        raise error(500, _NO_CACHE)
    with server.state.lock:
        _refuse_protected(ctx, hosts)
        for host in hosts:
            server.state.stored_hooks.pop(host, None)
        if not server.behaviour.sip_configured:
            return json_reply(
                200, {"hooks": [h.to_json() for h in server.state.stored_hooks.values()]}
            )
        return _hooks_reply(ctx)


def sip_transfer(ctx: Context) -> Reply:
    body = json_body(ctx.request, schemas.SIP_TRANSFER_REQUEST)
    room_name, identity = body["room_name"], body["participant_identity"]
    try:
        target = check_phone(body["transfer_to"])
    except PhoneError as exc:
        raise error(400, f"Invalid phone number: {exc}", "INVALID_PHONE_NUMBER") from None
    if _blank(room_name):
        raise error(400, "Room name cannot be empty", "INVALID_PHONE_NUMBER")
    server = ctx.server
    if not server.behaviour.livekit_configured:
        raise error(500, "LiveKit SIP service not configured", "LIVEKIT_NOT_CONFIGURED")
    state = server.state
    with state.lock:
        if ctx.tenant is not None and state.room_for(room_name, ctx.tenant) is None:
            raise error(404, "Room not found or not accessible", "ROOM_ACCESS_DENIED")
        if _blank(identity):
            raise error(400, "Participant identity cannot be empty", "PARTICIPANT_NOT_FOUND")
        room = state.rooms.get(room_name)
        participant = room.participants.get(identity) if room else None
        if participant is None or participant.kind != "SIP":
            raise error(
                404,
                f"Participant '{identity}' not found or is not a SIP participant",
                "PARTICIPANT_NOT_FOUND",
            )
        failure = server.behaviour.livekit_error
        if failure is not None:
            raise error(500, f"SIP transfer failed: {failure}", "TRANSFER_FAILED")
    server.transfer_leaves(room_name, identity)
    return json_reply(
        200,
        {
            "status": server.behaviour.sip_transfer_status,
            "room_name": room_name,
            "participant_identity": identity,
            "transfer_to": target,
        },
    )


def sip_call(ctx: Context) -> Reply:
    body = json_body(ctx.request, schemas.SIP_CALL_REQUEST)
    for field, label in (
        ("room_name", "Room name"),
        ("participant_name", "Participant name"),
        ("participant_identity", "Participant identity"),
    ):
        if _blank(body[field]):
            raise error(400, f"{label} cannot be empty", "INVALID_PHONE_NUMBER")
    for field in ("to_phone_number", "from_phone_number"):
        try:
            check_phone(body[field])
        except PhoneError as exc:
            raise error(400, f"Invalid {field}: {exc}", "INVALID_PHONE_NUMBER") from None
    server = ctx.server
    overrides = body.get("sip") or {}
    if not (overrides.get("outbound_address") or server.behaviour.sip_outbound_address):
        raise error(500, "Outbound address not configured", "OUTBOUND_ADDRESS_NOT_CONFIGURED")
    if not server.behaviour.livekit_configured:
        raise error(500, "LiveKit SIP service not configured", "LIVEKIT_NOT_CONFIGURED")
    state, room_name = server.state, body["room_name"]
    with state.lock:
        room = state.rooms.get(room_name)
        if room is not None and ctx.tenant is not None and room.owner != ctx.tenant:
            raise error(404, "Room not found or not accessible", "ROOM_ACCESS_DENIED")
        if server.behaviour.livekit_error is not None:
            raise error(500, f"SIP call failed: {server.behaviour.livekit_error}", "CALL_FAILED")
    to_number = body["to_phone_number"].strip()
    participant = Participant(
        identity=body["participant_identity"],
        name=body["participant_name"],
        kind="SIP",
        attributes={
            "sip.phoneNumber": to_number,
            "sip.trunkPhoneNumber": body["from_phone_number"].strip(),
        },
    )
    participant.tracks.append(Track(kind="audio"))
    state.add_participant(room_name, participant)
    if ctx.tenant is not None:
        with state.lock:
            state.rooms[room_name].stamp(ctx.tenant)
    return json_reply(
        200,
        {
            "status": "initiated",
            "room_name": room_name,
            "participant_identity": participant.identity,
            "participant_id": participant.sid,
            "sip_call_id": new_id("SCL_"),
        },
    )


def livekit_webhook(ctx: Context) -> Reply:
    server, request = ctx.server, ctx.request
    if not server.behaviour.livekit_configured:
        return Reply(503)
    header = request.headers.get("authorization", "").strip()
    if header.startswith("Bearer "):
        header = header[7:].strip()
    if not header:
        return Reply(401)
    claims = verify_jwt(header, server.behaviour.livekit_api_secret)
    digest = base64.b64encode(hashlib.sha256(request.body).digest()).decode("ascii")
    if claims is None or claims.get("sha256") != digest:
        return Reply(401)
    try:
        event = decode_json(request.body)
    except ValueError:
        return Reply(400)
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        return Reply(400)
    server.handle_livekit_event(event, deliver_async=True)
    return json_reply(200, {"status": "received"})


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
