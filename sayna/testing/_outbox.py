"""The bounded outgoing FIFO of a WebSocket session (docs/protocol.rst §3.3).

One per connection; every server frame goes through it, so frames leave in the
order they were queued. When it is full, producers wait: frames are never dropped.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

__all__ = ["BINARY", "CLOSE", "CLOSE_REPLY", "PAUSE", "PONG", "TEXT", "TEXTS", "Outbox"]

# Operations: a text frame, a binary frame, a list of text frames, a pause (seconds),
# a Close (code, reason), the reply to the client's Close (its code), a Pong (payload).
TEXT, BINARY, TEXTS, PAUSE, CLOSE, CLOSE_REPLY, PONG = range(7)


class Outbox:
    """A bounded FIFO of outgoing operations; producers wait when it is full."""

    def __init__(self, capacity: int) -> None:
        self._items: collections.deque[tuple[int, Any]] = collections.deque()
        self._size = 0
        self._capacity = capacity
        self._cond = threading.Condition()
        self.closed = False

    def put(self, op: int, arg: Any, weight: int = 1) -> bool:
        """Queue one operation worth ``weight`` frames; False once the outbox is closed."""
        with self._cond:
            while self._size and self._size + weight > self._capacity and not self.closed:
                self._cond.wait()
            if self.closed:
                return False
            self._items.append((op, arg))
            self._size += weight
            self._cond.notify_all()
            return True

    def replace_all(self, op: int, arg: Any) -> None:
        """Drop everything queued and queue one operation (used after a client Close)."""
        with self._cond:
            self._items.clear()
            self._items.append((op, arg))
            self._size = 1
            self._cond.notify_all()

    def take(self) -> list[tuple[int, Any]] | None:
        """Everything queued, waiting for at least one item; None once closed."""
        with self._cond:
            while not self._items and not self.closed:
                self._cond.wait()
            if self.closed:
                return None
            items = list(self._items)
            self._items.clear()
            self._size = 0
            self._cond.notify_all()
            return items

    def close(self) -> None:
        """Discard the queue and wake every waiter for good."""
        with self._cond:
            self.closed = True
            self._items.clear()
            self._cond.notify_all()
