"""The per-session event log: one append-only sequence, a cursor per consumer.

The reader thread appends; each consumer (every open iterator, the callback
dispatcher, a running ``wait_for``/``next_event``) reads through its own cursor.
Entries are numbered; a cursor is the number of the next entry it will fetch.

An entry is released as soon as no one can still need it: every active
consumer has passed it, an iterator opened now would start past it, and the
session is not keeping its setup events (``stop_keeping``) for callbacks
registered before the first send.

Bounds (``max_events``):

* An entry is *pinned* while an active cursor has not fetched it. When
  ``max_events`` entries are pinned, ``append`` blocks: the reader thread stops
  reading the socket until the slowest consumer catches up, and TCP carries the
  backpressure to the server. An active consumer never loses an entry.
* Entries no iterator has reached yet are kept, newest first, up to
  ``max_events`` in all and ``max_audio_bytes`` of TTS audio among those no
  active cursor pins, for iterators opened later; older ones are dropped. An
  iterator that starts before the oldest kept entry is told how many it
  missed (a marker event).

Consumers fetch in batches (one lock round trip per batch) and the producer
notifies only when someone waits, which keeps the per-event cost small.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

from sayna._events import Event, EventsDiscardedEvent, TTSAudioEvent
from sayna._realtime.cursor import Cursor

__all__ = ["EventLog"]

logger = logging.getLogger("sayna")

# Consumers fetch at most this many entries per lock round trip. Small enough that
# a consumer's private batch adds little to the bound, large enough to amortise
# the lock and the wake-up.
BATCH = 128
# The defaults of connect(max_buffered_events=..., max_buffered_audio_bytes=...).
DEFAULT_MAX_BUFFERED_EVENTS = 10_000
# TTS audio kept for iterators opened later (about 87 s of 24 kHz 16-bit mono):
# a callbacks-only session streaming speech would otherwise hold max_events
# chunks of it, tens of MB, and churn that much memory through the allocator.
DEFAULT_MAX_AUDIO_BYTES = 4 * 1024 * 1024
# Dropped entries leave holes at the front of the list; compact past this many.
_COMPACT_AFTER = 4096
# The position of a cursor whose owner was collected (see EventLog.abandon).
_ABANDONED = sys.maxsize
# After the reader has waited this long for one consumer, one WARNING names it.
STALL_WARNING_SECONDS = 5.0


class EventLog:
    """Append-only, bounded, multi-consumer event log (see the module docstring)."""

    def __init__(self, max_events: int, max_audio_bytes: int = DEFAULT_MAX_AUDIO_BYTES) -> None:
        self._max = max_events
        self._max_audio = max_audio_bytes
        self._audio = 0  # bytes of TTS audio in the kept entries
        self._chunk = max(1, max_events // 64)
        self._lock = threading.Lock()
        self._readable = threading.Condition(self._lock)
        self._writable = threading.Condition(self._lock)
        self._items: list[Event | None] = []
        self._offset = 0  # index in _items of entry number _head
        self._head = 0  # number of the oldest kept entry
        self._end = 0  # number the next appended entry gets
        self._cursors: list[Cursor] = []
        self._mark = 0  # where the next iterator starts (past what iterators yielded)
        self._finished = False
        self._unbounded = False
        self._readers_waiting = 0
        self._writer_waiting = False
        self._dropping_unseen = False
        self._keeping = True  # everything is kept until stop_keeping()
        #: True while ``append`` waits for consumers (read by the keep-alive).
        self.paused = False
        #: ``time.monotonic()`` when the last such wait ended.
        self.resumed_at = 0.0
        #: While the reader has waited ``STALL_WARNING_SECONDS`` or more: the
        #: consumer it waits for, in words (for timeout errors); else None.
        self.held_by: str | None = None

    @property
    def max_events(self) -> int:
        """The bound given at construction."""
        return self._max

    @property
    def end(self) -> int:
        """The number the next appended entry will get."""
        return self._end

    def snapshot(self, start: int, stop: int) -> list[Event]:
        """The kept entries numbered ``start`` to ``stop - 1`` (older ones are gone)."""
        with self._lock:
            start = max(start, self._head)
            stop = min(stop, self._end)
            if start >= stop:
                return []
            index = start - self._head + self._offset
            return self._items[index : index + stop - start]  # type: ignore[return-value]

    def __len__(self) -> int:
        return self._end - self._head

    # --- producer side ---------------------------------------------------------

    def append(self, event: Event, *, force: bool = False) -> bool:
        """Add ``event``; block while ``max_events`` entries are pinned.

        ``force`` never blocks (the session's own events: close, callback
        errors). Returns ``False`` when the log is already finished.
        """
        return self.extend([event], force=force)

    def extend(self, events: list[Event], *, force: bool = False) -> bool:
        """``append`` each of ``events`` under one lock hold, waking consumers once."""
        with self._lock:
            if self._finished:
                return False
            items = self._items
            for event in events:
                if event.__class__ is TTSAudioEvent:
                    self._audio += len(event.data)
            if self._end - self._head + len(events) <= self._max:
                # Room for all of them: no bound to check per entry.
                items += events
                self._end += len(events)
            else:
                for event in events:
                    if self._end - self._head >= self._max:
                        self._make_room(force or self._unbounded)
                    items.append(event)
                    self._end += 1
            if self._readers_waiting:
                self._readable.notify_all()
            if not self._keeping:
                self._release_consumed()
            if self._audio > self._max_audio:
                self._drop_unpinned_audio()
            return True

    def stop_keeping(self) -> None:
        """Release consumed entries from now on (the session's setup is over)."""
        with self._lock:
            self._keeping = False

    def _release_consumed(self) -> None:
        # Consumed entries go at once: a TTS download read through an iterator
        # then reuses a few hot buffers instead of holding up to max_events
        # chunks (tens of MB) that the allocator must map and unmap again.
        self._purge_abandoned()
        floor = self._iterator_start()
        for cursor in self._cursors:
            position = cursor.yielded if cursor.iterator else cursor.pos
            if position < floor:
                floor = position
        if floor > self._head:
            self._drop(floor - self._head)

    def _purge_abandoned(self) -> None:
        # Cursors whose owners were collected while the lock was busy (abandon()).
        if any(c.pos == _ABANDONED for c in self._cursors):
            for cursor in self._cursors:
                if cursor.pos == _ABANDONED and cursor.iterator and cursor.yielded > self._mark:
                    self._mark = cursor.yielded
            self._cursors = [c for c in self._cursors if c.pos != _ABANDONED]

    def _pinned_from(self) -> int:
        # The first entry an active cursor has not fetched yet.
        return min((c.pos for c in self._cursors if not c.passive), default=self._end)

    def _drop_unpinned_audio(self) -> None:
        # Oldest first, never past what an active consumer still has to fetch
        # (those are bounded by count, with backpressure).
        self._purge_abandoned()
        floor = self._pinned_from()
        items, index = self._items, self._offset
        count = 0
        excess = self._audio - self._max_audio
        while excess > 0 and self._head + count < floor:
            event = items[index + count]
            if event.__class__ is TTSAudioEvent:
                excess -= len(event.data)
            count += 1
        self._drop(count)

    def _make_room(self, never_wait: bool) -> None:
        self._purge_abandoned()
        try:
            self._wait_for_room(never_wait)
        finally:
            self.held_by = None

    def _wait_for_room(self, never_wait: bool) -> None:
        stalled_since: float | None = None
        warned = False
        while True:
            floor = self._pinned_from()
            needed = self._end - self._head - self._max + 1
            droppable = floor - self._head
            if droppable >= needed:
                # Drop a chunk at once: a full log then costs one min() over the
                # cursors per chunk rather than per appended event.
                self._drop(min(droppable, max(needed, self._chunk)))
                return
            self._drop(droppable)
            if never_wait or self._unbounded:
                return
            if self._readers_waiting:
                # Entries appended earlier in this batch must reach them first.
                self._readable.notify_all()
            self._writer_waiting = True
            self.paused = True
            if stalled_since is None:
                stalled_since = time.monotonic()
            try:
                # Woken by consumers; the timeout matters for a cursor abandoned
                # by a finalizer that could not take the lock, and for the warning.
                warn_in = stalled_since + STALL_WARNING_SECONDS - time.monotonic()
                self._writable.wait(1.0 if warned else max(0.0, min(1.0, warn_in)))
            finally:
                self._writer_waiting = False
                self.paused = False
                self.resumed_at = time.monotonic()
            if not warned and self.resumed_at - stalled_since >= STALL_WARNING_SECONDS:
                warned = True
                self._warn_stalled(self.resumed_at - stalled_since)

    def _warn_stalled(self, waited: float) -> None:
        # Called with the lock held; logs without it, so that a logging handler
        # that touches the session cannot deadlock the reader.
        floor = self._pinned_from()
        holder = next((c for c in self._cursors if c.pos == floor and not c.passive), None)
        if holder is None:
            return
        self.held_by = (
            f"the session's reader has waited {waited:.1f} s for {holder.describe()}, which holds"
            f" {self._end - floor} unread events (max_buffered_events={self._max})"
        )
        message = self.held_by
        self._lock.release()
        try:
            logger.warning("%s: read it, close it or let it go", message)
        finally:
            self._lock.acquire()

    def _drop(self, count: int) -> None:
        if count <= 0:
            return
        if self._head + count > self._iterator_start() and not self._dropping_unseen:
            self._dropping_unseen = True
            logger.debug("no iterator is consuming; keeping only the newest %d events", self._max)
        items = self._items
        for index in range(self._offset, self._offset + count):
            event = items[index]
            if event.__class__ is TTSAudioEvent:
                self._audio -= len(event.data)
            items[index] = None
        self._offset += count
        self._head += count
        if self._offset > _COMPACT_AFTER and self._offset * 2 > len(items):
            del items[: self._offset]
            self._offset = 0

    def finish(self) -> None:
        """No more entries will come (the close event is in); wake every consumer."""
        with self._lock:
            self._finished = True
            self._unbounded = True
            self._readable.notify_all()
            self._writable.notify_all()

    def unbound(self) -> None:
        """Stop applying backpressure (the session is closing)."""
        with self._lock:
            self._unbound_locked()

    def try_unbound(self) -> None:
        """``unbound`` if the lock is free right now (for finalizers, which may
        run on a thread that holds it)."""
        if self._lock.acquire(blocking=False):
            try:
                self._unbound_locked()
            finally:
                self._lock.release()

    def _unbound_locked(self) -> None:
        self._unbounded = True
        self._writable.notify_all()

    # --- consumer side ---------------------------------------------------------

    def discarded(self, count: int) -> EventsDiscardedEvent:
        """The marker a consumer gets for ``count`` entries dropped before it read them."""
        logger.warning(
            "%d events arrived while no iterator was consuming and were discarded"
            " (max_buffered_events=%d)",
            count,
            self._max,
        )
        return EventsDiscardedEvent(count=count)

    def skip(self) -> list[Event]:
        """Start the next iterator or poll at the end; return the kept entries it passes over.

        For callers whose contract is to ignore what arrived before them
        (``say``, ``transcribe``): entries dropped earlier are passed over
        silently, without the discarded-events warning.
        """
        with self._lock:
            start = max(self._iterator_start(), self._head)
            index = start - self._head + self._offset
            skipped: list[Event] = self._items[index:]  # type: ignore[assignment]
            self._mark = self._end
            self._dropping_unseen = False
            if not self._keeping:
                self._release_consumed()
            return skipped

    def open(self, *, iterator: bool, start: int | None = None, passive: bool = False) -> Cursor:
        """Register a cursor.

        Iterators start past everything an earlier iterator handed out (or at
        ``start``); the dispatcher and passive cursors start at the oldest kept
        entry. A passive cursor keeps entries it has not read (bounded like
        those kept for later iterators) without applying backpressure.
        """
        with self._lock:
            if start is None:
                start = self._iterator_start() if iterator else self._head
            cursor = Cursor(start, iterator=iterator, passive=passive)
            self._cursors.append(cursor)
            return cursor

    def has_consumer(self) -> bool:
        """Whether an iterator is open or a wait (``wait_for``, ``next_event``) is running."""
        with self._lock:
            return any(cursor.iterator for cursor in self._cursors)

    def _iterator_start(self) -> int:
        start = self._mark
        for cursor in self._cursors:
            if cursor.iterator and cursor.yielded > start:
                start = cursor.yielded
        return start

    def release(self, cursor: Cursor) -> None:
        """Unregister ``cursor``; it no longer pins anything."""
        with self._lock:
            for index, registered in enumerate(self._cursors):
                if registered is cursor:
                    del self._cursors[index]
                    break
            else:
                return
            if cursor.iterator and cursor.yielded > self._mark:
                self._mark = cursor.yielded
                self._dropping_unseen = False
            if self._writer_waiting:
                self._writable.notify()

    def abandon(self, cursor: Cursor) -> None:
        """``release`` from a finalizer, which may run while this thread holds the lock.

        If the lock is busy the cursor is only moved out of the way (it then pins
        nothing) and dropped from the list the next time the log is full.
        """
        if self._lock.acquire(blocking=False):
            self._lock.release()
            self.release(cursor)
        else:
            cursor.pos = _ABANDONED

    def wake(self, cursor: Cursor) -> None:
        """Make a ``fetch`` waiting on ``cursor`` (or the next one) return ``None`` at once.

        The dispatcher waits for the next entry; a callback registered during
        setup must be replayed what already arrived without waiting for it.
        """
        with self._lock:
            cursor.woken = True
            if self._readers_waiting:
                self._readable.notify_all()

    def fetch(
        self, cursor: Cursor, timeout: float | None = None, limit: int = BATCH
    ) -> tuple[int, int, list[Event]] | None:
        """Wait for entries past ``cursor`` and take up to ``limit`` of them.

        Returns ``(missed, first, events)``: ``missed`` counts entries dropped
        before the cursor reached them (the cursor then moves to the oldest
        kept one and ``events`` is empty); ``first`` is the number of
        ``events[0]``. An empty list with ``missed == 0`` means the log is
        finished and drained. ``None`` means ``timeout`` passed first, or
        :meth:`wake` was called.
        """
        cursor.thread = threading.get_ident()
        with self._lock:
            if cursor.pos < self._head:
                missed = self._head - cursor.pos
                cursor.pos = cursor.yielded = self._head
                return missed, cursor.pos, []
            if (
                cursor.pos >= self._end
                and not self._finished
                and (cursor.woken or not self._wait_readable(cursor, timeout))
            ):
                cursor.woken = False
                return None
            cursor.woken = False
            start = cursor.pos
            stop = min(self._end, start + limit)
            index = start - self._head + self._offset
            events: list[Event] = self._items[index : index + stop - start]  # type: ignore[assignment]
            cursor.pos = stop
            if self._writer_waiting:
                self._writable.notify()
            return 0, start, events

    def _wait_readable(self, cursor: Cursor, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._readers_waiting += 1
        try:
            while cursor.pos >= self._end and not self._finished:
                if cursor.woken:
                    return False
                if deadline is None:
                    self._readable.wait()
                    continue
                remaining = deadline - time.monotonic()
                timed_out = remaining <= 0 or not self._readable.wait(remaining)
                if timed_out and cursor.pos >= self._end and not self._finished:
                    return False
        finally:
            self._readers_waiting -= 1
        return True
