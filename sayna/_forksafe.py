"""HTTP connection pools that never cross a ``fork()``.

A pooled keep-alive socket is one file description shared by the parent and
every child forked after it was opened. Two processes writing requests into it
interleave their bytes, and each reads whichever answer arrives first: another
process's synthesized speech, a ``400`` for a mangled body, a hang. So every
``requests.Session`` a :class:`~sayna.Sayna` client uses is registered here,
and in a forked child each one gets fresh, empty pools before anything else
runs. The child's copies of the parent's sockets are closed (which sends
nothing on the wire: the parent still holds them), never read or written.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable

import requests
from requests.adapters import HTTPAdapter

__all__ = ["ForkAware", "fork_generation", "reset_connection_pools"]


def reset_connection_pools(session: requests.Session) -> None:
    """Give every :class:`HTTPAdapter` of ``session`` new, empty pools.

    Done the way requests rebuilds an adapter when unpickling it (a call to
    ``init_poolmanager`` with the adapter's saved sizes), so subclasses that
    customise their pools through that hook (TLS contexts, socket options)
    keep doing so. Mounts, retries, headers, cookies and proxies settings are
    untouched. The old pool managers are dropped rather than cleared (clearing
    takes the managers' locks, which a parent thread may have held at the
    moment of the fork); urllib3's finalizer closes the child's copies of
    their sockets when they are collected.
    """
    for adapter in list(session.adapters.values()):
        if not isinstance(adapter, HTTPAdapter):
            continue  # a custom transport: its pooling is its own (see docs)
        # The sizes init_poolmanager saved (requests' own pickling state).
        saved = vars(adapter)
        adapter.proxy_manager = {}
        adapter.init_poolmanager(
            saved["_pool_connections"], saved["_pool_maxsize"], block=saved["_pool_block"]
        )


class ForkAware:
    """Calls ``on_fork`` in a forked child before the object is used there.

    Two triggers, so that no path misses it: ``os.register_at_fork`` runs it
    in the child right after ``fork()`` (single-threaded, before any user
    code), and :meth:`check_pid` catches forks made by C code that bypasses
    Python's at-fork hooks.
    """

    def __init__(self, on_fork: Callable[[], None]) -> None:
        # A weak reference, so that the guard does not keep its owner alive
        # (an unclosed client must still be collected, and warn, promptly).
        self._on_fork = weakref.WeakMethod(on_fork)
        self._pid = os.getpid()
        _registry.add(self)

    def check_pid(self) -> None:
        """Run the fork handler if this process is not the one that made us."""
        if self._pid != os.getpid():
            self._forked()

    def _forked(self) -> None:
        self._pid = os.getpid()
        on_fork = self._on_fork()
        if on_fork is not None:
            on_fork()


_registry: weakref.WeakSet[ForkAware] = weakref.WeakSet()
# Bumped in every forked child: what was made under an older generation
# belongs to an ancestor process.
_generation = 0


def fork_generation() -> int:
    """How many ``fork()`` calls separate this process from the one that imported sayna."""
    return _generation


def _after_fork_in_child() -> None:
    global _generation
    _generation += 1
    for guard in list(_registry):
        guard._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
