"""One daemon thread pings every live session of the process.

A worker process may hold a hundred sessions; one pinger thread each would
double their thread count. Members decide for themselves (``keepalive_tick``)
whether a ping is due or an answer overdue, and say when they next want to be
asked. The thread starts with the first member and ends with the last.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Protocol

__all__ = ["KeepAliveMember", "add", "remove"]

logger = logging.getLogger("sayna")

# Upper bound on a sleep, so a clock oddity can never park the thread for long.
_MAX_SLEEP = 5.0


class KeepAliveMember(Protocol):
    """What the keep-alive thread needs from a session."""

    def keepalive_tick(self, now: float) -> float:
        """Ping or give up if due; return the ``time.monotonic()`` of the next check."""
        ...


class _KeepAlive:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._members: set[KeepAliveMember] = set()
        # Added since the thread last looked: checked at once, alone. Waking
        # the thread to check every member on each add made opening N
        # sessions cost O(N^2) (user CPU per connect doubled from the first
        # to the last 250 of 1,000 sessions in the benchmark).
        self._fresh: list[KeepAliveMember] = []
        self._thread: threading.Thread | None = None

    def add(self, member: KeepAliveMember) -> None:
        with self._lock:
            self._members.add(member)
            self._fresh.append(member)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sayna-keepalive", daemon=True
                )
                self._thread.start()
            else:
                self._wake.notify()

    def remove(self, member: KeepAliveMember) -> None:
        with self._lock:
            self._members.discard(member)
            if self._members:
                return
            thread = self._thread
            self._wake.notify()
        # The last member gone: let the thread finish now, so that closing every
        # session leaves no thread behind (a re-run notebook cell must not leak).
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)

    def _run(self) -> None:
        wake_at = 0.0  # when every member is next checked
        while True:
            with self._lock:
                if not self._members:
                    self._thread = None
                    self._fresh = []
                    return
                fresh, self._fresh = self._fresh, []
                now = time.monotonic()
                every = now >= wake_at
                # Woken by add() before wake_at: the others' next checks still stand.
                members = list(self._members) if every else [m for m in fresh if m in self._members]
            if every:
                wake_at = now + _MAX_SLEEP
            for member in members:
                try:
                    due = member.keepalive_tick(now)
                except Exception:  # a bug here must not stop pings for the others
                    logger.exception("keep-alive check failed")
                    due = now + 1.0
                wake_at = min(wake_at, due)
            with self._lock:
                delay = wake_at - time.monotonic()
                if self._members and delay > 0 and not self._fresh:
                    self._wake.wait(delay)


# Made by the first add(), not at import: its lock and condition must be the
# ones in force when sessions run. gunicorn's gevent worker monkey-patches
# after a --preload master imported sayna (and after the fork); a real lock
# made before that would block the whole event loop in the pinger's waits,
# freezing every request of the worker (each for up to _MAX_SLEEP seconds).
_keepalive: _KeepAlive | None = None
# Held only to make the singleton: nothing inside can block or switch.
_making = threading.Lock()


def _current() -> _KeepAlive:
    global _keepalive
    with _making:
        if _keepalive is None:
            _keepalive = _KeepAlive()
        return _keepalive


def add(member: KeepAliveMember) -> None:
    """Start pinging ``member`` (starts the thread when needed)."""
    _current().add(member)


def remove(member: KeepAliveMember) -> None:
    """Stop pinging ``member``; the thread ends with the last member."""
    keepalive = _keepalive
    if keepalive is not None:
        keepalive.remove(member)


def _after_fork_in_child() -> None:
    # The thread does not exist in a forked child, and its lock may have been
    # held at fork time: the next add() starts from scratch, with the locks
    # of the child's threading module (monkey-patched by then, under gevent).
    global _keepalive, _making
    _keepalive = None
    _making = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
