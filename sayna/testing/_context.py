"""The narrow view of a fake server that request handlers and sessions get."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from sayna.testing._behaviour import Behaviour
from sayna.testing._state import State

if TYPE_CHECKING:
    from sayna.testing._replay import Replay

__all__ = ["ServerContext"]


@attrs.frozen(kw_only=True)
class ServerContext:
    """What handlers may use: the behaviour, the LiveKit/SIP state and three room actions.

    Handlers never see the :class:`~sayna.testing.FakeServer` itself, so its
    lifecycle, threads and inspection records stay out of their reach.
    """

    behaviour: Behaviour
    state: State
    #: ``(room, identity, name) -> token``: a LiveKit access token.
    livekit_token: Callable[[str, str, str], str]
    #: Applies a LiveKit webhook event (``deliver_async`` keyword as on the server).
    handle_livekit_event: Callable[..., tuple[int, bytes] | None]
    #: ``(room, identity)``: a transferred SIP caller leaves the room shortly after.
    transfer_leaves: Callable[[str, str], None]
    #: The cassette being replayed, if the server replays one.
    replay: Replay | None = None

    def __repr__(self) -> str:
        return f"<ServerContext rooms={len(self.state.rooms)}>"
