"""The event log under the session: cursors, bounds, backpressure, overflow marker."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from sayna._errors import SaynaConnectionClosedError, SaynaTimeoutError
from sayna._events import CloseEvent, ErrorEvent, Event, EventsDiscardedEvent, TTSAudioEvent
from sayna._realtime.consumers import EventIterator
from sayna._realtime.eventlog import EventLog
from tests.support.polling import wait_until


def ev(n: int) -> ErrorEvent:
    return ErrorEvent(message=str(n))


def numbers(events: list[Event]) -> list[int]:
    return [int(e.message) for e in events if isinstance(e, ErrorEvent)]


def nothing() -> None:
    return None


def fill(log: EventLog, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        log.append(ev(n))


def close(log: EventLog) -> None:
    log.append(CloseEvent(code=1000, initiator="client"), force=True)
    log.finish()


def test_iterator_yields_everything_in_order_then_the_close_event() -> None:
    """An iterator sees every appended event in order and stops after the close event."""
    log = EventLog(1000)
    fill(log, 300)
    close(log)
    seen = list(EventIterator(log, nothing))
    assert numbers(seen) == list(range(300))
    assert isinstance(seen[-1], CloseEvent)


def test_two_iterators_each_see_every_event() -> None:
    """Concurrent iterators do not steal events from each other."""
    log = EventLog(1000)
    first, second = EventIterator(log, nothing), EventIterator(log, nothing)
    fill(log, 50)
    close(log)
    assert numbers(list(first)) == numbers(list(second)) == list(range(50))


def test_at_end_runs_once_and_its_exception_propagates() -> None:
    """The end hook's exception is raised after the close event, then iteration stops."""
    log = EventLog(10)
    close(log)
    calls: list[int] = []

    def boom() -> None:
        calls.append(1)
        raise SaynaConnectionClosedError("lost")

    iterator = EventIterator(log, boom)
    assert isinstance(next(iterator), CloseEvent)
    with pytest.raises(SaynaConnectionClosedError):
        next(iterator)
    with pytest.raises(StopIteration):
        next(iterator)
    assert calls == [1]


def test_iterator_timeout_raises_and_the_iterator_stays_usable() -> None:
    """A per-event timeout raises SaynaTimeoutError; later events still arrive."""
    log = EventLog(10)
    iterator = EventIterator(log, nothing, timeout=0.05)
    with pytest.raises(SaynaTimeoutError):
        next(iterator)
    log.append(ev(1))
    assert numbers([next(iterator)]) == [1]
    iterator.close()


def test_a_new_iterator_resumes_where_the_previous_one_stopped() -> None:
    """Events fetched in a batch but never handed out are not skipped by the next iterator."""
    log = EventLog(1000)
    fill(log, 10)
    first = EventIterator(log, nothing)
    assert numbers([next(first), next(first), next(first)]) == [0, 1, 2]
    first.close()
    close(log)
    assert numbers(list(EventIterator(log, nothing))) == list(range(3, 10))


def test_an_iterator_opened_beside_an_active_one_starts_at_its_position() -> None:
    """A second iterator starts where the running one is, not at the beginning."""
    log = EventLog(1000)
    fill(log, 10)
    first = EventIterator(log, nothing)
    for _ in range(4):
        next(first)
    second = EventIterator(log, nothing)
    close(log)
    assert numbers(list(second)) == list(range(4, 10))
    assert numbers(list(first)) == list(range(4, 10))


def test_without_consumers_only_the_newest_are_kept_and_a_marker_counts_the_rest() -> None:
    """Overflow with no iterator keeps the newest events and reports the dropped count."""
    log = EventLog(100)
    fill(log, 1000)
    assert len(log) <= 100
    close(log)
    seen = list(EventIterator(log, nothing))
    assert isinstance(seen[0], EventsDiscardedEvent)
    kept = numbers(seen)
    assert kept == list(range(1000 - len(kept), 1000))
    assert seen[0].count == 1000 - len(kept)
    assert len(kept) >= 100 - 100 // 64 - 1


def test_overflow_marker_is_logged_as_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Handing out the overflow marker logs a warning on the sayna logger."""
    log = EventLog(10)
    fill(log, 50)
    iterator = EventIterator(log, nothing)
    with caplog.at_level("WARNING", logger="sayna"):
        marker = next(iterator)
    assert isinstance(marker, EventsDiscardedEvent)
    assert "discarded" in caplog.text
    iterator.close()


def test_the_dispatcher_cursor_keeps_memory_bounded_without_blocking() -> None:
    """A consumer that keeps up lets the log drop old entries: memory stays bounded."""
    log = EventLog(50)
    cursor = log.open(iterator=False)
    for n in range(5000):
        log.append(ev(n))
        got = log.fetch(cursor, 0)
        assert got is not None
        assert numbers(got[2]) == [n]
    assert len(log) <= 50


def test_a_lagging_active_consumer_blocks_the_producer_until_it_catches_up() -> None:
    """With max_events pinned, append waits (backpressure) and nothing is lost."""
    log = EventLog(20)
    iterator = EventIterator(log, nothing)
    done = threading.Event()

    def produce() -> None:
        fill(log, 200)
        close(log)
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    wait_until(lambda: log.paused, timeout=5)
    assert not done.is_set()
    assert len(log) == 20
    assert numbers(list(iterator)) == list(range(200))
    producer.join(5)
    assert done.is_set()
    assert log.resumed_at > 0


def test_an_abandoned_iterator_stops_pinning_the_log() -> None:
    """Dropping an iterator object releases its cursor, so the producer can go on."""
    log = EventLog(5)
    iterator = EventIterator(log, nothing)
    del iterator
    gc.collect()
    fill(log, 50)  # would block forever if the cursor were still pinning
    assert len(log) <= 5


def test_forced_appends_never_block_and_appends_after_finish_are_refused() -> None:
    """The session's own events go in even when full; nothing goes in after finish."""
    log = EventLog(3)
    iterator = EventIterator(log, nothing)
    fill(log, 3)
    assert log.append(ev(3), force=True)
    close(log)
    assert not log.append(ev(99), force=True)
    assert numbers(list(iterator)) == [0, 1, 2, 3]


def test_unbound_releases_a_blocked_producer() -> None:
    """unbound() lets a producer waiting for consumers go on (used by close)."""
    log = EventLog(2)
    cursor = log.open(iterator=True)
    fill(log, 2)
    released = threading.Event()

    def produce() -> None:
        log.append(ev(2))
        released.set()

    thread = threading.Thread(target=produce)
    thread.start()
    assert not released.wait(0.05)
    log.unbound()
    assert released.wait(5)
    thread.join(5)
    log.release(cursor)


def test_fetch_with_timeout_returns_none_and_wakes_on_append() -> None:
    """fetch() times out with None and is woken by an append from another thread."""
    log = EventLog(10)
    cursor = log.open(iterator=True)
    assert log.fetch(cursor, 0.01) is None
    timer = threading.Timer(0.05, lambda: log.append(ev(7)))
    timer.start()
    got = log.fetch(cursor, 5)
    timer.join()
    assert got is not None
    assert numbers(got[2]) == [7]
    log.release(cursor)


def test_extend_hands_over_a_batch_and_waits_for_room_without_deadlock() -> None:
    """A batch larger than the bound reaches a waiting consumer while the producer waits."""
    log = EventLog(5)
    iterator = EventIterator(log, nothing, timeout=5)
    got: list[Event] = []

    def consume() -> None:
        got.extend(iterator)

    consumer = threading.Thread(target=consume)
    consumer.start()
    time.sleep(0.05)  # the consumer is now waiting for the first entry
    assert log.extend([ev(n) for n in range(40)])
    close(log)
    consumer.join(5)
    assert numbers(got) == list(range(40))
    assert not log.extend([ev(99)])


def test_a_cursor_abandoned_while_the_lock_is_held_stops_pinning() -> None:
    """A finalizer that cannot take the lock still unpins its cursor (no deadlock)."""
    log = EventLog(3)
    cursor = log.open(iterator=True)
    with log._lock:  # as if garbage collection ran inside a locked section
        log.abandon(cursor)
    fill(log, 10)  # would block forever if the cursor still pinned the log
    assert len(log) <= 3
    assert log._cursors == []


def test_consumed_entries_are_released_at_once_after_the_setup() -> None:
    """Once keeping stops, an entry goes as soon as the iterator passed it; before, all stay."""
    log = EventLog(10_000)
    iterator = EventIterator(log, nothing)
    fill(log, 100)
    assert numbers([next(iterator) for _ in range(100)]) == list(range(100))
    fill(log, 1, start=100)
    assert len(log) == 101  # the setup is kept (callbacks registered later replay it)
    log.stop_keeping()
    fill(log, 1, start=101)
    assert len(log) == 2  # only what the iterator has not handed out yet
    assert numbers([next(iterator), next(iterator)]) == [100, 101]
    iterator.close()
    fill(log, 1, start=102)
    assert len(log) == 1
    later = EventIterator(log, nothing)  # starts where the first one stopped
    close(log)
    assert numbers(list(later)) == [102]


def test_release_waits_for_every_consumer_and_for_iterators_to_come() -> None:
    """A lagging cursor pins what it has not fetched; with no iterator, nothing is consumed."""
    log = EventLog(10_000)
    log.stop_keeping()
    fill(log, 50)
    assert len(log) == 50  # no iterator has reached them: kept for a later one
    dispatcher = log.open(iterator=False)
    fast = EventIterator(log, nothing)
    assert numbers([next(fast) for _ in range(50)]) == list(range(50))
    fill(log, 1, start=50)
    assert len(log) == 51  # the dispatcher has fetched nothing yet
    got = log.fetch(dispatcher, 0, limit=30)
    assert got is not None
    assert numbers(got[2]) == list(range(30))
    fill(log, 1, start=51)
    assert len(log) == 22  # entries 30..51
    fast.close()
    log.release(dispatcher)
    close(log)
    assert numbers(list(EventIterator(log, nothing))) == [50, 51]


def test_an_iterator_holds_what_it_fetched_but_did_not_hand_out() -> None:
    """Entries in an iterator's private batch stay until it hands them out (or closes)."""
    log = EventLog(10_000)
    log.stop_keeping()
    first = EventIterator(log, nothing)
    fill(log, 10)
    assert numbers([next(first)]) == [0]  # the whole batch of 10 was fetched
    fill(log, 1, start=10)
    assert len(log) == 10  # 1..10: fetched or not, not handed out
    first.close()
    close(log)
    assert numbers(list(EventIterator(log, nothing))) == list(range(1, 11))


def audio(n: int, size: int = 1000) -> TTSAudioEvent:
    return TTSAudioEvent(data=bytes([n % 256]) * size)


def test_audio_kept_for_later_iterators_is_bounded_in_bytes() -> None:
    """Without consumers, the newest audio up to the byte bound stays; a marker counts the rest."""
    log = EventLog(10_000, max_audio_bytes=10_000)
    log.extend([ev(0)])
    log.extend([audio(n) for n in range(1, 51)])
    assert len(log) == 10  # the newest 10 chunks of 1000 bytes; ev(0) went with the oldest
    close(log)
    seen = list(EventIterator(log, nothing))
    assert isinstance(seen[0], EventsDiscardedEvent)
    assert seen[0].count == 41
    assert [e.data[0] for e in seen if isinstance(e, TTSAudioEvent)] == list(range(41, 51))


def test_the_audio_bound_never_drops_what_an_active_consumer_still_needs() -> None:
    """Audio an active cursor has not fetched stays (the count bound covers it, by backpressure)."""
    log = EventLog(10_000, max_audio_bytes=5_000)
    log.stop_keeping()
    dispatcher = log.open(iterator=False)
    log.extend([audio(n) for n in range(20)])
    assert len(log) == 20  # 20,000 bytes, all pinned
    got = log.fetch(dispatcher, 0, limit=12)
    assert got is not None
    log.extend([audio(20)])
    # 0..11 fetched and kept only for a later iterator: trimmed down to the bound
    # (12..20 stay pinned, 9,000 bytes, so nothing fetched can stay).
    assert len(log) == 9
    got = log.fetch(dispatcher, 0)
    assert got is not None
    assert [e.data[0] for e in got[2]] == list(range(12, 21))  # type: ignore[attr-defined]


def test_wake_ends_a_waiting_fetch_and_the_next_fetch_waits_again() -> None:
    """wake() makes a blocked fetch return None at once; later fetches wait as before."""
    log = EventLog(100)
    log.append(ev(0))
    cursor = log.open(iterator=False)
    assert log.fetch(cursor) == (0, 0, [ev(0)])
    results: list[object] = []
    waiter = threading.Thread(target=lambda: results.append(log.fetch(cursor)))
    waiter.start()
    time.sleep(0.05)
    log.wake(cursor)
    waiter.join(5)
    assert not waiter.is_alive()
    assert results == [None]
    assert log.fetch(cursor, timeout=0.05) is None  # the wake was used up: it timed out
    log.append(ev(1))
    assert log.fetch(cursor, timeout=1) == (0, 1, [ev(1)])
