"""In-memory LiveKit, SIP and storage model behind the fake server.

Everything here is guarded by :attr:`State.lock`; callers take it for any
read-modify-write sequence. Room ownership follows docs/protocol.rst §1.5.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = [
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
    "Hook",
    "Participant",
    "PhoneError",
    "Room",
    "State",
    "Track",
    "check_phone",
    "make_jwt",
    "new_id",
    "verify_jwt",
]

# LiveKit's documented development credentials (`livekit-server --dev`).
LIVEKIT_API_KEY = "devkey"
LIVEKIT_API_SECRET = "secret"  # noqa: S105 (public dev credential)

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """A LiveKit-looking id such as ``RM_kD3s9Lq1xYzA``."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(12))


@attrs.define(kw_only=True)
class Track:
    """A published track."""

    sid: str = attrs.field(factory=lambda: new_id("TR_"))
    kind: str = "audio"
    muted: bool = False


@attrs.define(kw_only=True)
class Participant:
    """A room participant, shaped like LiveKit's ``ParticipantInfo``."""

    identity: str
    name: str = ""
    sid: str = attrs.field(factory=lambda: new_id("PA_"))
    kind: str = "STANDARD"
    state: str = "ACTIVE"
    joined_at: int = attrs.field(factory=lambda: int(time.time()))
    metadata: str = ""
    attributes: dict[str, str] = attrs.field(factory=dict)
    tracks: list[Track] = attrs.field(factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``participants[]`` entry of room details (§2.6)."""
        return {
            "sid": self.sid,
            "identity": self.identity,
            "name": self.name,
            "state": self.state,
            "kind": self.kind,
            "joined_at": self.joined_at,
            "metadata": self.metadata,
            "attributes": dict(self.attributes),
            "is_publisher": bool(self.tracks),
        }


@attrs.define(kw_only=True)
class Room:
    """A LiveKit room; ownership lives in ``metadata`` as ``{"auth_id": ...}``."""

    name: str
    sid: str = attrs.field(factory=lambda: new_id("RM_"))
    creation_time: int = attrs.field(factory=lambda: int(time.time()))
    metadata: str = ""
    max_participants: int = 0
    active_recording: bool = False
    participants: dict[str, Participant] = attrs.field(factory=dict)

    @property
    def owner(self) -> str | None:
        """The tenant that stamped the room, if any."""
        try:
            data = json.loads(self.metadata) if self.metadata else None
        except ValueError:
            return None
        owner = data.get("auth_id") if isinstance(data, dict) else None
        return owner if isinstance(owner, str) and owner else None

    def stamp(self, tenant: str) -> None:
        """Record ``tenant`` as the owner, keeping other metadata keys."""
        try:
            data = json.loads(self.metadata) if self.metadata else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        data["auth_id"] = tenant
        self.metadata = json.dumps(data, separators=(",", ":"))

    def details(self) -> dict[str, Any]:
        """Room details (§2.6)."""
        return {
            "sid": self.sid,
            "name": self.name,
            "num_participants": len(self.participants),
            "max_participants": self.max_participants,
            "creation_time": self.creation_time,
            "metadata": self.metadata,
            "active_recording": self.active_recording,
            "participants": [p.to_json() for p in self.participants.values()],
        }


@attrs.frozen(kw_only=True)
class Hook:
    """A SIP hook; ``secret`` only for hooks from the server's config file."""

    host: str
    url: str
    auth_id: str = ""
    secret: str | None = None

    def to_json(self) -> dict[str, str]:
        return {"host": self.host, "url": self.url, "auth_id": self.auth_id}


class PhoneError(ValueError):
    """A phone number failed §2.11; ``str()`` is the reason."""


def check_phone(value: str) -> str:
    """``tel:<number>`` for a valid phone number, else :class:`PhoneError`."""
    number = value.strip()
    if not number:
        raise PhoneError("Phone number cannot be empty")
    for index, char in enumerate(number):
        if char == "+":
            if index:
                raise PhoneError(
                    f"Invalid character '+' at position {index}"
                    " - plus sign is only allowed at the beginning"
                )
        elif char not in string.digits:
            raise PhoneError(
                f"Invalid character '{char}' at position {index}"
                " - only digits (0-9) and optional leading '+' are allowed"
            )
    if number == "+":
        raise PhoneError("Phone number must contain at least one digit")
    return f"tel:{number}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_jwt(claims: Mapping[str, Any], secret: str) -> str:
    """An HS256 JWT over ``claims``."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def verify_jwt(token: str, secret: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired HS256 JWT signed with ``secret``, else None."""
    try:
        header, payload, signature = token.split(".")
        expected = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.digest(), _unb64url(signature)):
            return None
        if json.loads(_unb64url(header)).get("alg") != "HS256":
            return None
        claims = json.loads(_unb64url(payload))
    except (ValueError, UnicodeError, AttributeError):
        return None
    if not isinstance(claims, dict):
        return None
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and exp < time.time():
        return None
    return claims


RoomListener = Callable[[str, str, Participant], None]


class State:
    """Rooms, SIP hooks and recordings, plus the configuration that shapes them."""

    def __init__(
        self,
        *,
        protected_hooks: list[Hook],
        recordings: Mapping[str, bytes],
    ) -> None:
        self.lock = threading.RLock()
        self.rooms: dict[str, Room] = {}
        self.protected_hooks = protected_hooks
        self.stored_hooks: dict[str, Hook] = {}
        self.recordings: dict[str, bytes] = dict(recordings)
        # Called with (room name, "joined" | "left", participant) outside the lock.
        self.room_listener: RoomListener | None = None

    # -- rooms -------------------------------------------------------------------------

    def room_for(self, name: str, tenant: str | None) -> Room | None:
        """The room if it exists and the tenant may act on it (§1.5)."""
        room = self.rooms.get(name)
        if room is None or (tenant is not None and room.owner != tenant):
            return None
        return room

    def ensure_room(self, name: str, tenant: str | None, *, create: bool = True) -> Room | None:
        """Create-or-claim for token and session access; None when another tenant owns it."""
        room = self.rooms.get(name)
        if room is None:
            if not create:
                return None
            room = Room(name=name)
            self.rooms[name] = room
        if tenant is not None:
            owner = room.owner
            if owner is None:
                room.stamp(tenant)
            elif owner != tenant:
                return None
        return room

    def add_participant(self, room_name: str, participant: Participant) -> None:
        """Put ``participant`` in the room (created if missing) and tell listeners."""
        with self.lock:
            room = self.rooms.get(room_name)
            if room is None:
                room = self.rooms[room_name] = Room(name=room_name)
            room.participants[participant.identity] = participant
        self._notify(room_name, "joined", participant)

    def remove_participant(self, room_name: str, identity: str) -> Participant | None:
        """Take ``identity`` out of the room and tell listeners; None if absent."""
        with self.lock:
            room = self.rooms.get(room_name)
            participant = room.participants.pop(identity, None) if room else None
        if participant is not None:
            self._notify(room_name, "left", participant)
        return participant

    def _notify(self, room_name: str, what: str, participant: Participant) -> None:
        listener = self.room_listener
        if listener is not None:
            listener(room_name, what, participant)

    # -- SIP hooks ---------------------------------------------------------------------

    def hooks(self) -> list[Hook]:
        """The effective table: config-file hooks first, then API-stored ones."""
        protected = {h.host for h in self.protected_hooks}
        stored = [h for h in self.stored_hooks.values() if h.host not in protected]
        return [*self.protected_hooks, *stored]

    def hook_for(self, host: str) -> Hook | None:
        """The hook whose host equals ``host`` (case-insensitive)."""
        wanted = host.strip().lower()
        for hook in self.hooks():
            if hook.host == wanted:
                return hook
        return None
