"""What the server's ``ready`` told a session: its stream id and LiveKit room.

A base class of :class:`~sayna.Session` (its properties render as the
session's own): read-only views of the core's ``ready`` event, ``None`` until
it came.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sayna._events import ReadyEvent

if TYPE_CHECKING:
    from sayna._realtime.core import SessionCore

__all__ = ["ReadyFacts"]


class ReadyFacts:
    """The ``ready`` properties of :class:`~sayna.Session`."""

    __slots__ = ()

    _core: SessionCore

    def _ready_field(self, name: str) -> str | None:
        ready = self._core.ready_event
        value = None if ready is None else getattr(ready, name)
        return value if isinstance(value, str) else None

    @property
    def ready_event(self) -> ReadyEvent | None:
        """The server's ``ready`` message."""
        return self._core.ready_event

    @property
    def received_stream_id(self) -> str | None:
        """The session id from ``ready`` (yours, or a UUID the server chose)."""
        return self._ready_field("stream_id")

    @property
    def stream_id(self) -> str | None:
        """Alias of :attr:`received_stream_id`."""
        return self._ready_field("stream_id")

    @property
    def livekit_room_name(self) -> str | None:
        """The LiveKit room of the session (LiveKit sessions only)."""
        return self._ready_field("livekit_room_name")

    @property
    def livekit_url(self) -> str | None:
        """The server's LiveKit URL."""
        return self._ready_field("livekit_url")

    @property
    def sayna_participant_identity(self) -> str | None:
        """The agent's identity in the room (LiveKit sessions only)."""
        return self._ready_field("sayna_participant_identity")

    @property
    def sayna_participant_name(self) -> str | None:
        """The agent's display name in the room (LiveKit sessions only)."""
        return self._ready_field("sayna_participant_name")
