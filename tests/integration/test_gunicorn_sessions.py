"""Real gunicorn workers (gevent, monkey-patched; gthread) opening a session per request.

Each mode runs 2 workers serving session_app under concurrent load: every
view connects, speaks, reads events until ``tts_playback_complete`` and
closes; others make REST calls with the same module-level client. Every
answer is checked, the workers are asked for sayna threads left over, and a
SIGTERM must stop the workers cleanly (no worker timeout, no SIGKILL).
"""

from __future__ import annotations

import pathlib
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from sayna.testing import FakeServer
from tests.integration.processes import Process, ask_json, start_gunicorn

pytest.importorskip("gevent")  # in the test extra; the gevent worker needs it

REQUESTS = 40
CALLERS = 10
WORKERS = 2

MODES = {
    # Imported after gunicorn's worker patched everything.
    "gevent": ["--worker-class=gevent", "--worker-connections=50"],
    # Imported (and the client made) in the master, before the fork and the patching.
    "gevent-preload": ["--preload", "--worker-class=gevent", "--worker-connections=50"],
    "gthread-preload": ["--preload", "--worker-class=gthread", "--threads=4"],
}


class Gunicorn:
    """One gunicorn master and its workers, serving session_app."""

    def __init__(self, process: Process, base: str) -> None:
        self.process = process
        self.base = base

    def ask(self, path: str, text: str = "") -> dict[str, Any]:
        return ask_json(f"{self.base}{path}?{urllib.parse.urlencode({'text': text})}", timeout=120)


@pytest.fixture(params=sorted(MODES))
def gunicorn(
    request: pytest.FixtureRequest, workdir: pathlib.Path, sayna_local: FakeServer
) -> Iterator[Gunicorn]:
    """gunicorn on session_app in one worker mode, stopped (at the latest) at the end."""
    process, base = start_gunicorn(
        f"sessions-{request.param}",
        "session_app:app",
        [f"--workers={WORKERS}", "--graceful-timeout=60", *MODES[request.param]],
        workers=WORKERS,
        workdir=workdir,
        sayna_url=sayna_local.url,
    )
    try:
        yield Gunicorn(process, base)
    finally:
        process.stop()


def _load(server: Gunicorn, path: str) -> list[tuple[str, dict[str, Any]]]:
    texts = [f"{path[1:]} caller {n} asks about invoice {n * 11}" for n in range(REQUESTS)]
    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        answers = list(pool.map(lambda text: server.ask(path, text), texts))
    return list(zip(texts, answers, strict=True))


def _threads_left(server: Gunicorn) -> dict[int, dict[str, Any]]:
    """Ask until both workers have answered /alive (bounded); their last answers."""
    seen: dict[int, dict[str, Any]] = {}
    # A closed session's threads end promptly but not instantly (the shared
    # pinger ends after its last member): a generous bounded wait, no timing.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = server.ask("/alive")
        seen[answer["pid"]] = answer
        if len(seen) == WORKERS and all(not a["threads"] for a in seen.values()):
            break
        time.sleep(0.05)
    return seen


def test_sessions_and_rest_under_concurrent_load(gunicorn: Gunicorn) -> None:
    """40 sessions and 40 REST calls over 10 callers: all right, no thread left, clean exit."""
    started = time.monotonic()
    sessions = _load(gunicorn, "/session")
    rest = _load(gunicorn, "/rest")
    took = time.monotonic() - started
    left = _threads_left(gunicorn)

    wrong = [(t, a) for t, a in sessions + rest if a.get("text") != t]
    assert wrong == []
    for _, answer in sessions:
        # Nothing lost: ready, every audio chunk, then the playback completion.
        kinds = answer["kinds"]
        assert kinds[0] == "ReadyEvent"
        assert kinds[-1] == "TTSPlaybackCompleteEvent"
        assert kinds.count("TTSAudioEvent") == answer["chunks"] > 0
    pids = {a["pid"] for _, a in sessions + rest}
    assert len(pids) == WORKERS
    assert {pid: a["threads"] for pid, a in left.items()} == {pid: [] for pid in left}
    assert len(left) == WORKERS

    exited = gunicorn.process.terminate(timeout=90)
    log = gunicorn.process.output()
    print(
        f"\n{gunicorn.process.name}: {2 * REQUESTS} requests in {took:.1f} s over"
        f" {len(pids)} workers; greenlets alive after: "
        f"{sorted(a['greenlets'] for a in left.values())}; SIGTERM to exit: {exited}"
    )
    assert exited is not None, log[-4000:]
    assert "WORKER TIMEOUT" not in log
    assert "SIGKILL" not in log
    assert "Traceback" not in log
    assert log.count("Worker exiting") == WORKERS
