"""Refusing sessions in a process whose server would never run their threads.

A session reads its socket on a thread of its own. uWSGI's Python plugin,
unless threads are enabled, keeps the GIL while a worker waits for the next
request: the reader (and the keep-alive pinger, and callbacks) would run only
while a request is being served, so pings go unanswered and events pile up
between requests. Measured on uWSGI 2.0.26: a thread ticking every 50 ms
ticked 10 times in the 2.5 s from one request's end to the next one's
(each tick during that 0.5 s request), against 51 with ``--enable-threads``.
The check reads what uWSGI itself decided (``uwsgi.has_threads``):
``--enable-threads`` and ``--threads N`` both set it, and recent uWSGI
(2.0.30 checked) always sets it (the option became a no-op).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from sayna._errors import SaynaThreadsDisabledError

__all__ = ["require_threads"]

_MESSAGE = (
    "uWSGI runs this process without Python threads, so a session's reader thread would"
    " never run between requests (events, pings and callbacks would stall): start uWSGI"
    " with --enable-threads (enable-threads = true in its ini file); --threads N enables"
    " them too. REST calls do not need them."
)


def _threads_enabled(uwsgi: object) -> bool:
    has_threads = getattr(uwsgi, "has_threads", None)
    if isinstance(has_threads, int):
        return bool(has_threads)
    # A uWSGI without has_threads: read the options it was started with.
    options = getattr(uwsgi, "opt", None)
    if isinstance(options, Mapping):
        return any(
            options.get(name) not in (None, False, b"false", "false")
            for name in ("enable-threads", "threads")
        )
    return True  # not uWSGI's module after all: nothing to refuse


def require_threads() -> None:
    """Raise :class:`SaynaThreadsDisabledError` under uWSGI without threads."""
    # uWSGI puts its embedded module in sys.modules before loading the app;
    # anywhere else there is no "uwsgi" module to find.
    uwsgi = sys.modules.get("uwsgi")
    if uwsgi is not None and not _threads_enabled(uwsgi):
        raise SaynaThreadsDisabledError(_MESSAGE)
