"""The fake server's simulated LiveKit side: rooms, participants, tokens and SIP calls.

LiveKit itself is not run: rooms and participants live in the shared
:class:`~sayna.testing._state.State`, sessions in a room hear of joins and
leaves, and a SIP caller joining a room is forwarded as the signed webhook of
docs/protocol.rst §6, the way the real server forwards LiveKit's webhook.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sayna.testing._state import Participant, Room, State, Track, make_jwt, new_id
from sayna.testing._tasks import Tasks
from sayna.testing._webhooks import make_webhook_request

if TYPE_CHECKING:
    from sayna.testing._behaviour import Behaviour
    from sayna.testing._ws import FakeSession

__all__ = ["LiveKitSide", "sip_domain"]


def sip_domain(header: str) -> str | None:
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


class LiveKitSide:
    """The LiveKit rooms and SIP calls around one fake server's sessions.

    Owned by a :class:`~sayna.testing.FakeServer`, which documents the public
    methods; background deliveries run on the server's ``tasks`` and end with it.
    """

    def __init__(
        self,
        *,
        behaviour: Behaviour,
        state: State,
        tasks: Tasks,
        stopping: threading.Event,
        sessions: Callable[[], Iterable[FakeSession]],
    ) -> None:
        self._behaviour = behaviour
        self._state = state
        self._tasks = tasks
        self._stopping = stopping
        self._sessions = sessions
        state.room_listener = self.room_event

    def __repr__(self) -> str:
        return f"<LiveKitSide rooms={len(self._state.rooms)}>"

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
        with self._state.lock:
            room = self._state.rooms.get(name)
            if room is None:
                room = Room(name=name, max_participants=max_participants)
                if sid is not None:
                    room.sid = sid
                if creation_time is not None:
                    room.creation_time = creation_time
                self._state.rooms[name] = room
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
        """A participant joins ``room`` (created if missing); sessions there see it."""
        participant = Participant(identity=identity, name=name, kind=kind)
        if sid is not None:
            participant.sid = sid
        if joined_at is not None:
            participant.joined_at = joined_at
        participant.attributes = dict(attributes or {})
        participant.tracks = list(tracks) if tracks is not None else [Track(kind="audio")]
        self._state.add_participant(room, participant)
        return participant

    def remove_participant(self, room: str, identity: str) -> bool:
        """A participant leaves; sessions in the room then close (§3.2). False if absent."""
        return self._state.remove_participant(room, identity) is not None

    def livekit_token(self, room: str, identity: str, name: str = "") -> str:
        """A LiveKit-style HS256 access token for ``identity`` in ``room``."""
        now = int(time.time())
        claims = {
            "exp": now + 6 * 3600,
            "iss": self._behaviour.livekit_api_key,
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
        return make_jwt(claims, self._behaviour.livekit_api_secret)

    def livekit_webhook_headers(self, body: bytes) -> dict[str, str]:
        """Headers LiveKit would send with ``body`` to ``POST /livekit/webhook``."""
        now = int(time.time())
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
        claims = {
            "iss": self._behaviour.livekit_api_key,
            "nbf": now,
            "exp": now + 300,
            "sha256": digest,
        }
        return {
            "Content-Type": "application/webhook+json",
            "Authorization": make_jwt(claims, self._behaviour.livekit_api_secret),
        }

    def room_event(self, room_name: str, what: str, participant: Participant) -> None:
        """Tell the open sessions in ``room_name`` that ``participant`` joined or left."""
        for session in self._sessions():
            if session.livekit_room == room_name and not session.closed.is_set():
                session._room_event(what, participant)

    def transfer_leaves(self, room: str, identity: str) -> None:
        """A transferred SIP caller leaves the room shortly after the REFER."""

        def leave() -> None:
            if not self._stopping.wait(0.05):
                self._state.remove_participant(room, identity)

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
        """A phone call arrives for ``host``: the caller joins a room and the hook is called."""
        if not self._behaviour.sip_configured:
            raise LookupError("SIP is not configured on this FakeServer")
        identity = participant_identity or f"sip_{from_phone_number}"
        room = room_name or f"{self._behaviour.sip_room_prefix}{to_phone_number}"
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
            self._state.remove_participant(room_name, identity)
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
        self._state.add_participant(room_name, participant)
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
        domain = sip_domain(header) if header else None
        if not self._behaviour.sip_configured:
            raise LookupError("SIP is not configured on this FakeServer")
        if domain is None:
            raise LookupError("the participant has no SIP destination header with a domain")
        with self._state.lock:
            hook = self._state.hook_for(domain)
        if hook is None:
            raise LookupError(f"no SIP hook for host {domain!r}")
        caller, called = attributes.get("sip.phoneNumber"), attributes.get("sip.trunkPhoneNumber")
        if caller is None or called is None:
            raise LookupError("the participant lacks sip.phoneNumber / sip.trunkPhoneNumber")
        secret = hook.secret or self._behaviour.webhook_secret
        if not secret:
            raise LookupError(f"no signing secret for the hook of {domain!r} (set webhook_secret)")
        if hook.auth_id:
            with self._state.lock:
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
            "room_prefix": self._behaviour.sip_room_prefix,
            "sip_host": domain,
            "sip_headers": {k[6:]: v for k, v in attributes.items() if k.startswith("sip.h.")},
        }
        headers, body = make_webhook_request(secret, payload, event_id=event_id or None)
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
