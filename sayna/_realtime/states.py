"""The states of a session (docs/protocol.rst §3.2), apart from the transitions.

A value module: :mod:`sayna._realtime.core` holds the state and makes the
transitions (and re-exports these names); a transition kept in a module of its
own names the states from here, without importing the core.
"""

from __future__ import annotations

import enum

__all__ = ["LIVE_STATES", "OPEN_STATES", "State"]


class State(enum.Enum):
    """Where a session is in the protocol's state machine (docs/protocol.rst §3.2)."""

    CONNECTING = "connecting"  # the socket is open, the config sent, no ready yet
    READY = "ready"
    RECONNECTING = "reconnecting"  # the connection was lost; a new one is on its way
    CLOSING = "closing"  # we are closing it
    CLOSED = "closed"


#: A WebSocket is open (``Session.connected``).
OPEN_STATES = (State.CONNECTING, State.READY)
#: The session has not ended (it may be between two connections).
LIVE_STATES = (State.CONNECTING, State.READY, State.RECONNECTING)
