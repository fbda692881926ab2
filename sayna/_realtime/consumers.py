"""Consumers of the event log: the ``events()`` iterator and one-event polls.

:class:`~sayna._realtime.eventlog.EventLog` owns the entries and the cursors;
the two ways a user thread reads through a cursor live here: the iterator
behind ``Session.events()`` and :func:`poll`, behind ``next_event`` and
``wait_for``. Both fetch in batches and release their cursor when done, so a
consumer that stops never pins the log.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import NoReturn

from sayna._errors import SaynaTimeoutError
from sayna._events import CloseEvent, Event
from sayna._realtime.cursor import Cursor, user_site
from sayna._realtime.eventlog import EventLog

__all__ = ["EventIterator", "poll"]


def poll(
    log: EventLog,
    match: Callable[[Event], bool],
    timeout: float | None,
    closed_error: Callable[[], Exception],
) -> Event | None:
    """The next event matching ``match``; ``None`` on timeout.

    It consumes events as an iterator does: it starts where the previous
    iterator or poll stopped, and concurrent polls from different threads
    each see every event from their start, none steals from another. At
    the end of the session it raises ``closed_error()``.
    """
    cursor = log.open(iterator=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            got = log.fetch(cursor, wait)
            if got is None:
                return None
            missed, first, events = got
            if missed:
                marker = log.discarded(missed)
                if match(marker):
                    return marker
                continue
            if not events:
                raise closed_error()
            for index, event in enumerate(events):
                if match(event):
                    cursor.yielded = first + index + 1
                    return event
                if event.__class__ is CloseEvent:
                    cursor.yielded = first + index + 1
                    raise closed_error()
            cursor.yielded = first + len(events)
    finally:
        log.release(cursor)


class EventIterator:
    """Iterator over a session's events, from where the previous iterator stopped.

    Ends after the close event; ``at_end`` runs then (it raises the session's
    fatal error, if any). ``timeout`` bounds the wait for each event: past it,
    :class:`~sayna.SaynaTimeoutError` is raised and the iterator stays usable.
    Close it (or let it go out of scope) to stop pinning the session's log.
    """

    __slots__ = (
        "__weakref__",
        "_at_end",
        "_batch",
        "_cursor",
        "_done",
        "_first",
        "_i",
        "_log",
        "_timeout",
    )

    def __init__(
        self, log: EventLog, at_end: Callable[[], None], timeout: float | None = None
    ) -> None:
        self._log = log
        self._at_end = at_end
        self._timeout = timeout
        self._cursor: Cursor | None = log.open(iterator=True)
        site = user_site(sys._getframe(1))
        self._cursor.owner = f"the events() iterator created at {site or 'an unknown place'}"
        self._batch: list[Event] = []
        self._first = 0
        self._i = 0
        self._done = False

    def __iter__(self) -> EventIterator:
        return self

    def __next__(self) -> Event:
        i = self._i
        if i < len(self._batch):
            # The hot path: no lock, no wait.
            event = self._batch[i]
            self._i = i + 1
            cursor = self._cursor
            if cursor is not None:
                cursor.yielded = self._first + i + 1
            if isinstance(event, CloseEvent):
                self._finish()
            return event
        return self._refill()

    def _refill(self) -> Event:
        cursor = self._cursor
        if cursor is None:
            return self._end()
        got = self._log.fetch(cursor, self._timeout)
        if got is None:
            raise SaynaTimeoutError(f"no event within {self._timeout} s")
        missed, first, events = got
        if missed:
            return self._log.discarded(missed)
        if not events:
            self._finish()
            return self._end()
        self._batch, self._first, self._i = events, first, 0
        return self.__next__()

    def _finish(self) -> None:
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            self._log.release(cursor)

    def _end(self) -> NoReturn:
        if not self._done:
            self._done = True
            self._batch = []
            self._at_end()
        raise StopIteration

    def close(self) -> None:
        """Stop iterating and release the log (idempotent)."""
        self._finish()
        self._done = True
        self._batch = []

    def __enter__(self) -> EventIterator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # An abandoned iterator must not pin the log (and stall the reader).
        cursor = getattr(self, "_cursor", None)
        if cursor is not None:
            self._log.abandon(cursor)
