"""gunicorn ``--preload`` serving views that make REST calls, under concurrent load.

The app's client was used in the master before the fork; every worker (sync
processes, or gthread processes with several threads each) must use only the
connections it opened. Every answer is checked.
"""

from __future__ import annotations

import pathlib
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from sayna.testing import FakeServer
from tests.integration.processes import ask_json, start_gunicorn

REQUESTS = 200

WORKER_MODES = {
    "sync": ["--worker-class=sync", "--workers=4"],
    "gthread": ["--worker-class=gthread", "--workers=2", "--threads=4"],
}


@pytest.fixture(params=sorted(WORKER_MODES))
def gunicorn(
    request: pytest.FixtureRequest, workdir: pathlib.Path, sayna_local: FakeServer
) -> Iterator[str]:
    """``gunicorn --preload`` on wsgi_app in one worker mode; yields its base URL."""
    process, base = start_gunicorn(
        request.param,
        "wsgi_app:app",
        ["--preload", *WORKER_MODES[request.param]],
        workers=2,
        workdir=workdir,
        sayna_url=sayna_local.url,
        timeout=60,
    )
    try:
        yield base
    finally:
        process.stop()


def _ask(base: str, text: str) -> dict[str, Any]:
    return ask_json(f"{base}/speak?{urllib.parse.urlencode({'text': text})}", timeout=60)


def test_preloaded_client_answers_every_view_right(gunicorn: str) -> None:
    """200 concurrent requests to views sharing a client made before the fork: all right."""
    texts = [f"gunicorn caller {n} asks about invoice {n * 11}" for n in range(REQUESTS)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda text: _ask(gunicorn, text), texts))
    wrong = [(text, a) for text, a in zip(texts, answers, strict=True) if a.get("text") != text]
    pids = {a["pid"] for a in answers if "pid" in a}
    print(f"\n{REQUESTS} requests, {len(pids)} worker processes, {len(wrong)} wrong")
    assert wrong == []
    assert len(pids) >= 2
