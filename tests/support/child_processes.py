"""Child processes the tests start (a local server, the CLI), never left running."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Sequence
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
