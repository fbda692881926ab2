"""Hold realtime sessions and make REST calls from Celery tasks.

::

    from sayna.contrib.celery import SessionInterrupted, session

    @app.task(autoretry_for=(SessionInterrupted,), max_retries=3, default_retry_delay=1)
    def transcribe_upload(path):
        with session(stt_config=STT, tts_config=TTS) as live:
            return live.transcribe(path)

Three things a Celery worker would otherwise get wrong, and nothing more:

- **One client per worker process.** :func:`client` returns this process's
  :class:`~sayna.Sayna`, created on first use in the process that calls it
  (never inherited across ``fork()``) and closed when the pool process exits
  (``worker_process_shutdown``; ``worker_shutdown`` for the solo and threads
  pools), which closes every session still open. :func:`configure` sets its
  arguments; by default it reads ``SAYNA_URL`` and ``SAYNA_API_KEY``.
- **Sessions end cleanly when the task is cut short.** Inside :func:`session`,
  Celery's soft time limit (``SoftTimeLimitExceeded``) and a warm shutdown of
  the worker (``SIGTERM``) both close the session — close frame sent, its
  threads joined — and the task fails with :class:`SessionInterrupted`. That
  holds when they strike while the block's session is closing too: the close
  is finished (a limit cuts the wait for the server's answer) and the task
  fails with :class:`SessionInterrupted`, never ``SoftTimeLimitExceeded``.
- **A cut-short session is a failure you can retry, never a success.** On a
  warm shutdown the worker's main process tells each pool process running a
  task (``SIGUSR2``); a task inside :func:`session` is interrupted there, so
  code after the ``with`` block (storing a half-heard transcript) does not
  run. A pool process told to stop refuses to open new sessions.

The shutdown notice needs the prefork pool (Celery's default), where each
task runs in the main thread of its own process; it uses ``SIGUSR2`` in the
pool processes, so do not set ``CELERY_RDBSIG`` there. With the solo and
threads pools a warm shutdown waits for sessions to end, as Celery waits for
any task (and those pools have no soft time limit either).

What plain ``sayna`` already does and needs nothing from here: a session whose
connection drops raises :class:`~sayna.SaynaConnectionClosedError` from
``events()``, ``wait_for()`` and sends, so the task fails; a REST client
created at import time in the worker's main process is safe to use in its
forked pool processes. Importing this module connects its handlers to
Celery's signals; import it from your tasks module, which the worker imports
before it forks the pool.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

from celery import signals
from celery.exceptions import SoftTimeLimitExceeded

# The public names: this module does not depend on how the package is split inside.
from sayna import Sayna, SaynaConnectionError, SaynaValidationError, Session

__all__ = ["SessionInterrupted", "client", "configure", "session"]

#: The signal the worker's main process sends its pool processes on a warm shutdown.
SHUTDOWN_NOTICE = signal.SIGUSR2


class SessionInterrupted(SaynaConnectionError):
    """The task's realtime session was cut short; it did not run to its end.

    ``reason`` is ``"soft_time_limit"`` or ``"worker_shutdown"``. It is a
    :class:`~sayna.SaynaConnectionError`, so ``autoretry_for=(SessionInterrupted,)``
    (or ``(SaynaConnectionError,)``, which also covers a dropped connection)
    sends the task back to the queue for another worker.
    """

    _arg_names: ClassVar[tuple[str, ...]] = ("reason",)

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class _ProcessState:
    """What this module keeps per process; replaced whole in a forked child."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.client: Sayna | None = None
        self.stopping = False
        # Open session() blocks in this process's main thread: where a shutdown
        # notice can be raised as an exception.
        self.active = 0
        # session() blocks closing now: a notice then only marks the process.
        self.closing = 0


_options: dict[str, Any] = {}
_state = _ProcessState()
# Clients inherited from a parent process: kept referenced so that they are
# neither used nor garbage-collected (with a ResourceWarning) in the child.
_inherited: list[Sayna] = []


def _after_fork_in_child() -> None:
    global _state
    if _state.client is not None:
        _inherited.append(_state.client)
    _state = _ProcessState()


os.register_at_fork(after_in_child=_after_fork_in_child)


def configure(**options: Any) -> None:
    """Set the :class:`~sayna.Sayna` arguments (``url``, ``api_key``, ``timeout``...).

    Applies to clients created afterwards, so call it at import time of your
    tasks module (or in ``worker_process_init``). Unknown names are refused.
    """
    accepted = set(inspect.signature(Sayna).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise SaynaValidationError(
            f"configure() got unknown Sayna argument(s): {', '.join(unknown)}",
            field=unknown[0],
        )
    _options.clear()
    _options.update(options)


def client() -> Sayna:
    """This process's :class:`~sayna.Sayna` client, created on first use.

    Each pool process gets its own; a closed one is replaced. Thread-safe (the
    threads pool shares one client per process).
    """
    state = _state
    with state.lock:
        if state.client is None or state.client.closed:
            state.client = Sayna(**_options)
        return state.client


def _close_client(**_: Any) -> None:
    state = _state
    state.stopping = True
    with state.lock:
        current, state.client = state.client, None
    if current is not None:
        current.close()


def _shutdown_interruption() -> SessionInterrupted:
    return SessionInterrupted(
        "the worker is shutting down; the session was closed before its end",
        reason="worker_shutdown",
    )


def _on_shutdown_notice(signum: int, frame: Any) -> None:
    state = _state
    state.stopping = True
    if state.active and not state.closing and threading.current_thread() is threading.main_thread():
        raise _shutdown_interruption()


def _process_started(**_: Any) -> None:
    signal.signal(SHUTDOWN_NOTICE, _on_shutdown_notice)


def _relay_shutdown(**_: Any) -> None:
    """On the worker's warm (or cold) shutdown, in its main process: notify the pool at work."""
    from celery.worker import state as worker_state

    _state.stopping = True
    me = os.getpid()
    for request in list(worker_state.active_requests):
        pid = request.worker_pid
        if pid and pid != me:
            with contextlib.suppress(OSError):  # it may have just exited
                os.kill(pid, SHUTDOWN_NOTICE)


signals.worker_process_init.connect(_process_started, weak=False)
signals.worker_process_shutdown.connect(_close_client, weak=False)
signals.worker_shutdown.connect(_close_client, weak=False)
signals.worker_shutting_down.connect(_relay_shutdown, weak=False)


@contextlib.contextmanager
def session(**connect_options: Any) -> Iterator[Session]:
    """Open a realtime session on :func:`client` for the ``with`` block.

    Takes the arguments of :meth:`Sayna.connect() <sayna.Sayna.connect>`. The
    session is closed when the block ends, however it ends. A soft time limit
    or a warm shutdown of the worker inside the block raises
    :class:`SessionInterrupted` once the session is closed; so does entering
    the block after the process was told to stop.
    """
    state = _state
    if state.stopping:
        raise SessionInterrupted(
            "the worker is shutting down; no new session is opened", reason="worker_shutdown"
        )
    counted = False
    opened: Session | None = None
    try:
        # A notice that arrives while connecting only marks the process (the
        # handshake is not interrupted halfway); it is checked right after.
        opened = client().connect(**connect_options)
        if threading.current_thread() is threading.main_thread():
            state.active += 1
            counted = True
        if state.stopping:
            raise _shutdown_interruption()
        yield opened
    except SoftTimeLimitExceeded as exc:
        raise _soft_limit() from exc
    finally:
        if counted:
            state.active -= 1
        if opened is not None:
            cut = _close_through(opened, state)
            if isinstance(cut, SoftTimeLimitExceeded):
                raise _soft_limit() from cut
            if cut is not None or (sys.exc_info()[0] is None and _notice_pending(state)):
                # A notice that came while this block closed, inside an
                # outer block that is still open: it takes effect now.
                raise _shutdown_interruption() from cut


def _notice_pending(state: _ProcessState) -> bool:
    # A function, not an inline test: the handler sets ``stopping`` while the
    # block runs, which a type checker's narrowing cannot know.
    return (
        state.stopping
        and state.active > 0
        and threading.current_thread() is threading.main_thread()
    )


def _soft_limit() -> SessionInterrupted:
    return SessionInterrupted(
        "the task reached its soft time limit; the session was closed before its end",
        reason="soft_time_limit",
    )


def _close_through(opened: Session, state: _ProcessState) -> BaseException | None:
    """Close ``opened`` to the end, through interruptions; return the first one.

    A soft time limit can strike inside ``close()``; the session then shut its
    socket down, and closing again finishes it (threads joined, end recorded).
    A shutdown notice meanwhile only marks the process (``state.closing``).
    """
    state.closing += 1
    interruption: BaseException | None = None
    try:
        while True:
            # The session's own exit: an exception already propagating is not
            # replaced by errors of its callbacks (they are logged instead).
            exc_info: tuple[Any, Any, Any] = sys.exc_info()
            if interruption is not None:
                exc_info = (type(interruption), interruption, interruption.__traceback__)
            try:
                opened.__exit__(*exc_info)
                return interruption
            except (SoftTimeLimitExceeded, SessionInterrupted) as exc:
                if interruption is None:
                    interruption = exc
    finally:
        state.closing -= 1
