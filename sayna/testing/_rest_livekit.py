"""The LiveKit REST routes of the fake server (docs/protocol.rst §2): tokens, rooms, participants.

Also ``POST /livekit/webhook``, where LiveKit's own webhooks enter (and SIP
calls are forwarded from, by :mod:`sayna.testing._livekit`).
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from typing import Any

from sayna.testing import _schemas as schemas
from sayna.testing._records import decode_json
from sayna.testing._rest_base import Context, Reply, blank, error, json_body, json_reply
from sayna.testing._state import Room, verify_jwt

__all__ = ["list_rooms", "livekit_webhook", "mute", "remove_participant", "room_details", "token"]


def _livekit_required(ctx: Context, code: str | None = None) -> None:
    if not ctx.server.behaviour.livekit_configured:
        raise error(500, "LiveKit service not configured", code)


# The participant routes check their fields in this order, each with its message.
_BLANK_MESSAGES = {
    "room_name": "Room name cannot be empty",
    "participant_identity": "Participant identity cannot be empty",
    "track_sid": "Track SID cannot be empty",
}


def _participant_request_checks(
    ctx: Context, body: dict[str, Any], fields: tuple[str, ...]
) -> None:
    """A blank field first (400), then LiveKit's absence (500), as the server checks them."""
    for field in fields:
        if blank(body[field]):
            raise error(400, _BLANK_MESSAGES[field], "INVALID_REQUEST")
    _livekit_required(ctx, "LIVEKIT_NOT_CONFIGURED")


def _accessible_room(ctx: Context, room_name: str) -> Room:
    """The room a participant route acts on (call with the state's lock held), or a 404."""
    room = ctx.server.state.room_for(room_name, ctx.tenant)
    if room is None:
        raise error(404, f"Room '{room_name}' not found or not accessible", "PARTICIPANT_NOT_FOUND")
    return room


def token(ctx: Context) -> Reply:
    _livekit_required(ctx)  # checked before the body is validated
    body = json_body(ctx.request, schemas.TOKEN_REQUEST)
    for field in ("room_name", "participant_name", "participant_identity"):
        if blank(body[field]):
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
    _participant_request_checks(ctx, body, ("room_name", "participant_identity"))
    state = ctx.server.state
    with state.lock:
        room = _accessible_room(ctx, room_name)
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
    _participant_request_checks(ctx, body, ("room_name", "participant_identity", "track_sid"))
    state = ctx.server.state
    with state.lock:
        room = _accessible_room(ctx, room_name)
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
