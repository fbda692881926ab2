"""A consumer's place in the event log, and where in the user's code that consumer is.

A :class:`Cursor` is the number of the next log entry its consumer will fetch
(see :mod:`sayna._realtime.eventlog`). When the reader thread has waited too
long for one consumer, the log's warning names it through
:meth:`Cursor.describe`: the iterator's creation site, or the callback that
has not returned, found on the dispatcher thread's stack.
"""

from __future__ import annotations

import os
import sys
from types import FrameType

__all__ = ["Cursor", "user_site"]

# Frames in here are ours; the first frame outside is the user's code.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_site(frame: FrameType | None) -> str | None:
    """``file:line`` of the innermost frame, from ``frame`` outwards, outside this package."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None


def _callback_site(frame: FrameType | None) -> str | None:
    """``file:line`` of the outermost user frame called from this package: the callback."""
    outside: FrameType | None = None
    while frame is not None:
        if os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
            if outside is not None:
                return f"{outside.f_code.co_filename}:{outside.f_lineno}"
        else:
            outside = frame
        frame = frame.f_back
    return None


class Cursor:
    """A consumer's position: ``pos`` is the next entry it will fetch.

    ``yielded`` (iterators only) is one past the last entry handed to the user;
    it decides where the next iterator starts, so entries fetched in a batch
    but never handed out are not skipped by a later iterator.
    """

    __slots__ = ("iterator", "owner", "passive", "pos", "thread", "woken", "yielded")

    def __init__(self, pos: int, *, iterator: bool, passive: bool = False) -> None:
        self.pos = pos
        self.yielded = pos
        self.iterator = iterator
        #: A passive cursor (the turn reader) keeps what it has not read, like
        #: the entries kept for later iterators, but never holds the reader up.
        self.passive = passive
        self.woken = False  # see EventLog.wake
        #: Who reads through it, for the backpressure warning ("" if unnamed).
        self.owner = ""
        #: The thread that last fetched through it.
        self.thread = 0

    def describe(self) -> str:
        """The consumer, as the backpressure warning names it."""
        if self.owner:
            return self.owner
        if not self.iterator:
            # The dispatcher: the callback that has not returned holds it.
            site = _callback_site(sys._current_frames().get(self.thread))
            where = f" (it is at {site})" if site else ""
            return f"a callback that has not returned{where}"
        return "a wait_for()/next_event() call"
