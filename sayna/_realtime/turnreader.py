"""The session's turn reader: ``Session.listen()`` and ``Session.turns()``.

One more consumer of the event log, with its own cursor: it is opened with
the first ``listen()`` at the oldest kept entry and stays registered, so a
turn that ends while the program does something else (speaks its answer) is
returned by the next call, and every turn is returned once, in order. The
cursor is passive: it keeps what it has not read, bounded like the events
kept for later iterators (``max_buffered_events``), but never holds the
reader up; if entries are dropped before it reads them, a warning says how
many and the turns go on.
"""

from __future__ import annotations

import logging
import threading
import time

from sayna._errors import SaynaTimeoutError
from sayna._events import CloseEvent, Event
from sayna._realtime.eventlog import Cursor, EventLog
from sayna._turns import Turn, TurnAssembler

__all__ = ["TurnReader"]

logger = logging.getLogger("sayna")


class TurnReader:
    """Reads turns through a passive cursor of ``log`` (see the module docstring)."""

    __slots__ = ("__weakref__", "_assembler", "_cursor", "_lock", "_log", "_queued")

    def __init__(self, log: EventLog) -> None:
        self._log = log
        self._lock = threading.Lock()  # one listen() at a time; others wait their turn
        self._cursor: Cursor | None = log.open(iterator=False, passive=True)
        self._cursor.owner = "the session's turn reader"
        self._assembler = TurnAssembler()
        self._queued: list[Turn] = []  # ended turns of a fetched batch, not returned yet

    def listen(self, timeout: float | None) -> Turn | None:
        """The next turn; ``None`` at the end of the session (after the last turn).

        Raises :class:`SaynaTimeoutError` when ``timeout`` passes first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._lock.acquire(timeout=-1 if timeout is None else timeout):
            raise SaynaTimeoutError(f"no turn within {timeout:g} s (another listen() is running)")
        try:
            while True:
                if self._queued:
                    return self._queued.pop(0)
                cursor = self._cursor
                if cursor is None:
                    return None
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                got = self._log.fetch(cursor, wait)
                if got is None:
                    raise SaynaTimeoutError(f"no turn within {timeout:g} s")
                missed, _, events = got
                if missed:
                    logger.warning(
                        "the turn reader missed %d events (max_buffered_events reached while"
                        " no one listened); a turn may be incomplete",
                        missed,
                    )
                    continue
                self._take(events)
        finally:
            self._lock.release()

    def _take(self, events: list[Event]) -> None:
        now = time.monotonic()
        assembler = self._assembler
        for event in events:
            if event.__class__ is CloseEvent:
                # A turn cut short by the end still counts: its words were said.
                last = assembler.end(now)
                if last is not None:
                    self._queued.append(last)
                self.close()
                return
            turn = assembler.take(event, now)
            if turn is not None:
                self._queued.append(turn)
        if not events:
            self.close()

    def close(self) -> None:
        """Stop reading; the cursor no longer keeps anything."""
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            self._log.release(cursor)

    def __del__(self) -> None:
        cursor = getattr(self, "_cursor", None)
        if cursor is not None:
            self._log.abandon(cursor)
