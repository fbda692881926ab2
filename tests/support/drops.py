"""A real server drop that a reconnecting session recovers from."""

from __future__ import annotations

from sayna import ReconnectedEvent, Session
from sayna.testing import FakeSession


def drop_until_reconnected(session: Session, fake: FakeSession) -> ReconnectedEvent:
    """Drop ``fake``'s TCP connection and return once ``session`` is ready again."""
    with session.events(timeout=10) as events:
        fake.drop()
        for event in events:
            if isinstance(event, ReconnectedEvent):
                return event
    raise AssertionError("the session ended without reconnecting")
