"""The SIP REST routes of the fake server (docs/protocol.rst §2): hooks, transfers and calls."""

from __future__ import annotations

from sayna.testing import _schemas as schemas
from sayna.testing._rest_base import Context, Reply, blank, error, json_body, json_reply
from sayna.testing._state import Hook, Participant, PhoneError, Track, check_phone, new_id

__all__ = ["delete_hooks", "get_hooks", "post_hooks", "sip_call", "sip_transfer"]


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
    if blank(room_name):
        raise error(400, "Room name cannot be empty", "INVALID_PHONE_NUMBER")
    server = ctx.server
    if not server.behaviour.livekit_configured:
        raise error(500, "LiveKit SIP service not configured", "LIVEKIT_NOT_CONFIGURED")
    state = server.state
    with state.lock:
        if ctx.tenant is not None and state.room_for(room_name, ctx.tenant) is None:
            raise error(404, "Room not found or not accessible", "ROOM_ACCESS_DENIED")
        if blank(identity):
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
        if blank(body[field]):
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
