"""The daemon threads a loopback server starts, kept so that ``stop()`` can join them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Tasks"]

log = logging.getLogger("sayna.testing")


class Tasks:
    """Starts named daemon threads that log a crash instead of dying silently."""

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def spawn(self, target: Callable[[], None], name: str) -> None:
        """Run ``target`` on a new daemon thread called ``name``."""

        def run() -> None:
            try:
                target()
            except Exception:
                log.exception("%s task %s failed", self._owner, name)

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            # Finished threads are dropped here, so a long-running server keeps few.
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def join(self, deadline: float) -> list[str]:
        """Join every thread until ``deadline`` (``time.monotonic()``); the names still running."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            return [t.name for t in self._threads if t.is_alive()]
