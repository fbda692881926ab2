"""The sessions of this process that are still open, closed at interpreter exit.

Weak references only: a session garbage-collected is gone from the registry
(its finalizer warns and closes it). A forked child skips its parent's
sessions: their connections are not its to close.
"""

from __future__ import annotations

import atexit
import logging
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sayna._realtime.core import SessionCore

__all__ = ["close_all_at_exit", "forget", "register"]

logger = logging.getLogger("sayna")

_live: weakref.WeakSet[SessionCore] = weakref.WeakSet()


def register(core: SessionCore) -> None:
    """A new session: closed at exit unless it is closed first."""
    _live.add(core)


def forget(core: SessionCore) -> None:
    """A session closed (or abandoned): nothing left to do at exit."""
    _live.discard(core)


def close_all_at_exit() -> None:
    """Close every session of this process still open (registered with atexit)."""
    for core in list(_live):
        if core.in_this_process and core.is_live:
            try:
                core.close(0.0, raise_errors=False)
            except Exception:  # pragma: no cover - exit must go on
                logger.debug("closing a session at exit failed", exc_info=True)


atexit.register(close_all_at_exit)
