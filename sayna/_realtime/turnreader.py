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
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sayna import _telemetry as telemetry
from sayna._errors import SaynaNotConnectedError, SaynaTimeoutError
from sayna._events import CloseEvent, Event
from sayna._realtime.cursor import Cursor
from sayna._realtime.eventlog import EventLog
from sayna._turns import Turn, TurnAssembler

if TYPE_CHECKING:
    from sayna._realtime.core import SessionCore

__all__ = ["SessionTurns", "TurnReader"]

logger = logging.getLogger("sayna")


class TurnReader:
    """Reads turns through a passive cursor of ``log`` (see the module docstring)."""

    __slots__ = ("__weakref__", "_assembler", "_cursor", "_lock", "_log", "_queued", "_session_id")

    def __init__(self, log: EventLog, session_id: int) -> None:
        self._log = log
        self._session_id = session_id  # on the turn spans (sayna._telemetry)
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
                    telemetry.turn(last, self._session_id)
                    self._queued.append(last)
                self.close()
                return
            turn = assembler.take(event, now)
            if turn is not None:
                telemetry.turn(turn, self._session_id)
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


class SessionTurns:
    """``Session.listen()`` and ``Session.turns()``: the reader opens with the first call.

    A session that never asks for turns keeps no events for them.
    """

    __slots__ = ("_core", "_lock", "_reader")

    def __init__(self, core: SessionCore) -> None:
        self._core = core
        self._lock = threading.Lock()  # the first listen() may race
        self._reader: TurnReader | None = None

    def listen(self, wait: float | None) -> Turn:
        turn = self._open().listen(wait)
        if turn is None:
            raise self._core.closed_error()
        return turn

    def turns(self, wait: float | None) -> Iterator[Turn]:
        self._open()  # now, not at the first next()
        return self._iterate(wait)

    def _iterate(self, wait: float | None) -> Iterator[Turn]:
        while True:
            try:
                turn = self.listen(wait)
            except SaynaNotConnectedError:
                return  # a normal end; an abnormal one raises SaynaConnectionClosedError
            yield turn

    def _open(self) -> TurnReader:
        core = self._core
        core.check_process()
        reader = self._reader
        if reader is None:
            with self._lock:
                reader = self._reader
                if reader is None:
                    reader = self._reader = TurnReader(core.log, core.id)
        return reader
