"""The reader's per-result bookkeeping for ``finish()`` wakes waiters only when there are any."""

from __future__ import annotations

import threading
import time

from sayna._events import STTResultEvent
from sayna._realtime.hearing import Hearing

INTERIM = STTResultEvent(transcript="hello", is_final=False, is_speech_final=False, confidence=1.0)
END = STTResultEvent(transcript="", is_final=True, is_speech_final=True, confidence=1.0)


class CountingCondition(threading.Condition):
    """A condition that counts its notify_all calls."""

    def __init__(self, lock: threading.Lock) -> None:
        super().__init__(lock)
        self.notified = 0

    def notify_all(self) -> None:
        self.notified += 1
        super().notify_all()


def counting(hearing: Hearing) -> CountingCondition:
    cond = CountingCondition(hearing._lock)
    hearing._cond = cond
    return cond


def test_results_with_no_waiter_notify_nobody() -> None:
    """With no finish() waiting, a result costs no notify_all (issue 26: ~2 us per event)."""
    hearing = Hearing()
    cond = counting(hearing)
    for _ in range(100):
        hearing.results([INTERIM], time.monotonic())
    assert cond.notified == 0
    assert hearing._open


def test_a_waiter_is_notified_of_each_result() -> None:
    """While finish() waits, every result wakes it, and the end of the turn answers it."""
    hearing = Hearing()
    cond = counting(hearing)
    hearing.audio_sent(time.monotonic())
    hearing.results([INTERIM], time.monotonic())  # a turn is open: not answered
    done: list[bool] = []
    waiter = threading.Thread(
        target=lambda: done.append(hearing.wait_answered(time.monotonic() + 60, lambda: False))
    )
    waiter.start()
    while True:  # until the waiter is counted (it registers under the lock)
        with hearing._lock:
            if hearing._waiting:
                break
        time.sleep(0.001)
    hearing.results([END], time.monotonic())
    waiter.join(60)
    assert done == [True]
    assert cond.notified >= 1
    assert hearing._waiting == 0
