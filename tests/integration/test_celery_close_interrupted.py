"""A soft time limit that strikes while session() closes, in a real prefork worker (issue 22, 12).

The server stops reading, so the session's Close is never answered and the
close waits; Celery's soft time limit arrives in that wait. The task must
fail with ``SessionInterrupted`` (not ``SoftTimeLimitExceeded``) and leave no
sayna thread in the pool process.
"""

from __future__ import annotations

import time

from celery import Celery

from sayna.contrib.celery import SessionInterrupted
from sayna.testing import FakeServer
from tests.integration.processes import WorkerFactory
from tests.integration.test_celery_interrupted import _final, _open_session, _threads_after

SOFT_LIMIT = 4.0


def test_a_soft_time_limit_during_close_fails_with_session_interrupted(
    workers: WorkerFactory, sender: Celery, sayna_local: FakeServer
) -> None:
    """The limit lands in close(): SessionInterrupted, the session ended, no thread left."""
    worker = workers("closing", concurrency=1, queues="closing")
    result = sender.send_task(
        "worker_app.close_under_limit",
        args=["limit-in-close"],
        queue="closing",
        soft_time_limit=SOFT_LIMIT,
    )
    call = _open_session(sayna_local, "limit-in-close")
    opened = time.monotonic()
    call.pause_reading()  # our Close will go unanswered
    # Leave the block about 1 s before the limit: the close then waits 2 s.
    time.sleep(max(0.0, opened + SOFT_LIMIT - 1.2 - time.monotonic()))
    call.send_event(_final("that is all"))
    result.get(timeout=60, propagate=False)

    assert "closing limit-in-close" in worker.output()  # the limit came after the block
    assert result.failed()
    assert isinstance(result.result, SessionInterrupted), repr(result.result)
    assert result.result.reason == "soft_time_limit"
    assert _threads_after(worker, result.id) in ([], ["sayna-keepalive"])
    call.resume_reading()
    assert call.closed.wait(10)
