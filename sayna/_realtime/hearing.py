"""Whether the server has answered every byte of audio sent: ``Session.finish()``.

The server does not acknowledge audio (docs/protocol.rst §4.10, §5.2): results
come when the recogniser has something to say, after its endpointing delay,
and audio without speech gets no answer at all. So "answered" is a rule over
what the reader saw, kept here:

* a turn is open (a result with text since the last ``is_speech_final``):
  not answered until the turn ends — the server always ends a turn, making
  up the marker when the provider is late. This holds whoever's audio it
  is: speech heard in the room counts as much as audio we sent;
* no audio was ever sent: nothing to answer;
* the last turn ended after the last audio frame: answered once
  ``TURN_QUIET`` passes without a result (a server working through
  buffered audio may start another turn right after);
* otherwise (no speech in the audio, or its turn ended before the audio
  did): answered once ``SETTLE`` passes after the last frame and the last
  result: a recogniser hearing speech reports it well within a second (its
  endpointing delay; the stand-in's is 500 ms), so a second of nothing
  means the audio held none.

The connection's reader hands every ``stt_result`` to :meth:`Hearing.results`
(once per read, before the events reach the log) and the core calls
:meth:`Hearing.audio_sent` for every frame, so the rule sees results no
consumer has read yet. After a reconnect the new server has heard nothing of
what the old one was working on: that audio is over (``ReconnectedEvent``
reports what was lost), and only audio sent since counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from sayna._errors import SaynaTimeoutError
from sayna._events import STTResultEvent

__all__ = ["SETTLE", "TURN_QUIET", "Hearing", "finish"]

#: Seconds without results after the last audio frame that mean "no more speech".
SETTLE = 1.0
#: Seconds without results after an end of turn that mean "no further turn".
TURN_QUIET = 0.3


class Hearing:
    """The audio sent and the results received, as times (``time.monotonic()``)."""

    __slots__ = ("_cond", "_ended_at", "_lock", "_open", "_result_at", "_waiting", "audio_at")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        # Threads in wait_answered(): the reader notifies only when there are
        # any (Condition.notify_all costs ~2 us of Python per result).
        self._waiting = 0
        self.audio_at: float | None = None
        self._result_at = 0.0
        self._ended_at: float | None = None
        self._open = False

    def audio_sent(self, now: float) -> None:
        # No notify: nobody waits for audio, only for results.
        self.audio_at = now

    def results(self, events: Sequence[STTResultEvent], now: float) -> None:
        """The ``stt_result`` events of one read, in order, all received at ``now``.

        The reader hands them over once per read, not once per result (a
        lock round trip each was a tenth of its time on a stream of results).
        """
        # Only the last result that ends or opens a turn decides whether one
        # is open. An open turn makes the end time irrelevant until the next
        # end sets it anew, so the scan stops there, usually at the last result.
        turn_open: bool | None = None
        for event in reversed(events):
            if event.is_speech_final:
                turn_open = False
                break
            # Blank results never open a turn: a recogniser may report
            # silence as empty interims, and no end of turn follows them.
            if event.transcript.strip():
                turn_open = True
                break
        with self._lock:
            self._result_at = now
            if turn_open is not None:
                self._open = turn_open
                if not turn_open:
                    self._ended_at = now
            if self._waiting:
                self._cond.notify_all()

    def reconnected(self) -> None:
        """A new connection is ready: audio sent before it will never be answered now."""
        with self._cond:
            self.audio_at = None
            self._open = False
            self._cond.notify_all()

    def _answered_at(self) -> float | None:
        """When everything sent counts as answered if nothing more arrives; None: not yet."""
        # An open turn first: the speech may be the room's (a caller heard
        # through LiveKit), not audio we sent, and its end is still ours to wait for.
        if self._open:
            return None
        audio = self.audio_at
        if audio is None:
            return 0.0
        ended = self._ended_at
        if ended is not None and ended >= audio:
            return self._result_at + TURN_QUIET
        return max(audio, self._result_at) + SETTLE

    def wait_answered(self, deadline: float, stop: Callable[[], bool]) -> bool:
        """Block until the audio sent is answered (True) or ``deadline``/``stop()`` (False)."""
        with self._cond:
            self._waiting += 1
            try:
                while True:
                    now = time.monotonic()
                    answered = self._answered_at()
                    if answered is not None and now >= answered:
                        return True
                    if now >= deadline or stop():
                        return False
                    until = deadline if answered is None else min(deadline, answered)
                    # Short slices: the session's end is not signalled on this condition.
                    self._cond.wait(min(until - now, 0.1))
            finally:
                self._waiting -= 1


def finish(
    hearing: Hearing, timeout: float, *, live: Callable[[], bool], close: Callable[[], None]
) -> None:
    """``Session.finish()``: wait for the answer to the audio sent, then ``close()``."""
    deadline = time.monotonic() + timeout
    answered = hearing.wait_answered(deadline, lambda: not live())
    # Not answered while the session still ran: the time was too short. A
    # session the server ended meanwhile has nothing more to answer.
    timed_out = not answered and live()
    close()
    if timed_out:
        raise SaynaTimeoutError(
            f"the server had not answered all audio within {timeout:g} s; the session is closed"
        )
