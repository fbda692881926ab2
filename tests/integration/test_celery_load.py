"""Hundreds of tasks through a real Redis broker and two real prefork worker nodes.

The worker app (worker_app.py) makes its REST calls with a module-level client
that it already used at import time, before the pool forked: the case where
forked processes must never share a connection. Every answer is checked.
"""

from __future__ import annotations

import collections
import time

from celery import Celery

from tests.integration.processes import Process

REST_TASKS = 400
REALTIME_TASKS = 100


def test_every_task_answered_right_across_two_nodes(nodes: list[Process], sender: Celery) -> None:
    """Hundreds of REST and realtime tasks on 2 nodes of 4 processes: none lost, none wrong."""
    started = time.monotonic()
    rest = {
        f"rest order {n} for customer {n * 7 % 13}": sender.send_task(
            "worker_app.speak_rest", args=[f"rest order {n} for customer {n * 7 % 13}"]
        )
        for n in range(REST_TASKS)
    }
    realtime = {
        f"session turn {n} about parcel {n * 3}": sender.send_task(
            "worker_app.round_trip", args=[f"session turn {n} about parcel {n * 3}"]
        )
        for n in range(REALTIME_TASKS)
    }

    wrong: list[tuple[str, object]] = []
    lost: list[str] = []
    pids: collections.Counter[int] = collections.Counter()
    for text, result in rest.items():
        try:
            answer = result.get(timeout=120, propagate=False)
        except Exception as exc:  # a timeout: the task never finished
            lost.append(f"{text}: {exc!r}")
            continue
        if result.failed() or answer.get("text") != text:
            wrong.append((text, answer))
        else:
            pids[answer["pid"]] += 1
    for text, result in realtime.items():
        try:
            answer = result.get(timeout=120, propagate=False)
        except Exception as exc:
            lost.append(f"{text}: {exc!r}")
            continue
        if result.failed() or (answer.get("spoken"), answer.get("heard")) != (text, text):
            wrong.append((text, answer))
        else:
            pids[answer["pid"]] += 1
    elapsed = time.monotonic() - started

    print(
        f"\n{REST_TASKS + REALTIME_TASKS} tasks ({REST_TASKS} REST, {REALTIME_TASKS} realtime) "
        f"in {elapsed:.1f} s on {len(pids)} processes: {len(wrong)} wrong, {len(lost)} lost"
    )
    assert wrong == []
    assert lost == []
    # The work was spread over both nodes' pool processes, not one.
    assert len(pids) >= 5, pids
