"""Sessions cut short in real workers: a soft time limit, and SIGTERM (warm shutdown).

A session cut short is closed cleanly (a Close frame reaches the server, no
sayna thread is left in the pool process), the task fails with the retryable
``SessionInterrupted`` instead of returning what it heard so far, and a warm
shutdown ends within 15 s while calls are in progress.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection

from celery import Celery

from sayna.contrib.celery import SessionInterrupted
from sayna.testing import FakeServer, FakeSession
from tests.integration.processes import Process, WorkerFactory


def _open_session(server: FakeServer, tag: str, *, not_in: Collection[int] = ()) -> FakeSession:
    """Wait for a ready, still open session with stream id ``tag`` (other than ``not_in``)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for session in server.sessions:
            if (
                session.stream_id == tag
                and session.ready
                and not session.closed.is_set()
                and session.index not in not_in
            ):
                return session
        time.sleep(0.05)
    raise AssertionError(f"no open session {tag} within 60 s")


def _final(text: str) -> dict[str, object]:
    return {
        "type": "stt_result",
        "transcript": text,
        "is_final": True,
        "is_speech_final": True,
        "confidence": 0.9,
    }


def _threads_after(worker: Process, task_id: str) -> list[str]:
    """The sayna threads the pool process reported alive after ``task_id`` (see worker_app)."""
    deadline = time.monotonic() + 30
    pattern = re.compile(rf"after {re.escape(task_id)} sayna threads: \[(.*?)\]")
    while time.monotonic() < deadline:
        found = pattern.search(worker.output())
        if found:
            return [name.strip(" '") for name in found.group(1).split(",") if name.strip()]
        time.sleep(0.05)
    raise AssertionError(f"no thread report for {task_id}:\n{worker.output()[-3000:]}")


def test_soft_time_limit_closes_the_session_and_fails_the_task(
    workers: WorkerFactory, sender: Celery, sayna_local: FakeServer
) -> None:
    """At the soft time limit the session closes with 1000, no thread stays, the task fails."""
    worker = workers("limit", concurrency=1, queues="limit")
    result = sender.send_task(
        "worker_app.listen_once", args=["soft-limit"], queue="limit", soft_time_limit=2
    )
    call = _open_session(sayna_local, "soft-limit")
    # The caller speaks, but the server never ends the session: only the limit does.
    call.send_event(_final("half a sentence"))
    result.get(timeout=60, propagate=False)

    assert call.closed.wait(10)
    assert call.client_close_code == 1000
    assert _threads_after(worker, result.id) in ([], ["sayna-keepalive"])
    assert result.failed()
    assert isinstance(result.result, SessionInterrupted), repr(result.result)
    assert result.result.reason == "soft_time_limit"


def test_warm_shutdown_interrupts_sessions_which_finish_on_another_node(
    workers: WorkerFactory, sender: Celery, sayna_local: FakeServer
) -> None:
    """SIGTERM with 4 sessions open: exit in 15 s, tasks retried elsewhere, no partial result."""
    tags = [f"shutdown-{n}" for n in range(4)]
    doomed = workers("gamma", queues="calls")
    results = {
        tag: sender.send_task("worker_app.listen", args=[tag], queue="calls") for tag in tags
    }
    first = {tag: _open_session(sayna_local, tag) for tag in tags}
    for tag, session in first.items():
        session.send_event(_final(f"partial words for {tag}"))
    # Queued behind the sessions: gamma's 4 processes are busy, so these wait.
    queued = {
        f"queued order {n}": sender.send_task(
            "worker_app.speak_rest", args=[f"queued order {n}"], queue="calls"
        )
        for n in range(40)
    }
    workers("delta", queues="calls")  # the other machine, idle until the retries arrive

    shutdown_seconds = doomed.terminate(timeout=30)
    print(f"\nwarm shutdown with 4 sessions open: {shutdown_seconds} s")
    assert shutdown_seconds is not None
    assert shutdown_seconds < 15
    assert not doomed.group_alive()
    for session in first.values():
        assert session.closed.wait(10)
        assert session.client_close_code == 1000
    for result in results.values():  # the first attempts, in gamma's pool processes
        assert _threads_after(doomed, result.id) in ([], ["sayna-keepalive"])

    # The tasks went back to the queue and the other node took them; this time
    # the server says everything and ends the sessions normally.
    seen = {s.index for s in first.values()}
    for tag in tags:
        again = _open_session(sayna_local, tag, not_in=seen)
        again.send_event(_final(f"all the words for {tag}"))
        again.close(1000)

    answers = {tag: result.get(timeout=60) for tag, result in results.items()}
    assert {tag: a["transcript"] for tag, a in answers.items()} == {
        tag: f"all the words for {tag}" for tag in tags
    }
    assert {a["node"].split("@")[0] for a in answers.values()} == {"delta"}
    # Nothing queued was lost in the shutdown, and every answer is right.
    assert {text: r.get(timeout=60)["text"] for text, r in queued.items()} == {
        text: text for text in queued
    }
