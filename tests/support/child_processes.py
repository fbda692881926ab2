"""Child processes the tests start (a local server, the CLI), never left running."""

from __future__ import annotations

import contextlib
import os
import subprocess
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any


@contextlib.contextmanager
def started(argv: Sequence[str], **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """Start ``argv`` with its stdout on a text pipe; on the way out kill it if it still runs.

    ``popen`` goes to :class:`subprocess.Popen` (``stderr=``, ``env=``...). The
    pipes are closed after the process is gone.
    """
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, **popen)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def in_forked_child(child: Callable[[], bytes]) -> bytes:
    """Run ``child()`` in a forked child process and return the bytes it returned.

    An exception in the child comes back as its repr. The child ends with
    ``os._exit``, so nothing of the parent (atexit hooks, pytest) runs twice.
    """
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            outcome = child()
        except BaseException as exc:
            outcome = repr(exc).encode()
        os.write(write_end, outcome)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        outcome = reader.read()
    os.waitpid(pid, 0)
    return outcome
