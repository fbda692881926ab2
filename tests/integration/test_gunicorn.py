"""gunicorn ``--preload`` serving views that make REST calls, under concurrent load.

The app's client was used in the master before the fork; every worker (sync
processes, or gthread processes with several threads each) must use only the
connections it opened. Every answer is checked.
"""

from __future__ import annotations

import json
import pathlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from sayna.testing import FakeServer
from tests.integration.processes import BIN, HERE, Process, free_port

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
    port = free_port()
    server = Process(
        f"gunicorn {request.param}",
        [
            str(BIN / "gunicorn"),
            "--preload",
            f"--bind=127.0.0.1:{port}",
            "--timeout=60",
            *WORKER_MODES[request.param],
            "wsgi_app:app",
        ],
        log=workdir / f"gunicorn-{request.param}.log",
        cwd=HERE,
        env={"SAYNA_URL": sayna_local.url, "SAYNA_API_KEY": ""},
    )
    try:
        server.wait_until(
            lambda: server.output().count("Booting worker") >= 2, "workers booting", timeout=60
        )
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _ask(base: str, text: str) -> dict[str, object]:
    url = f"{base}/speak?{urllib.parse.urlencode({'text': text})}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=60) as response:
            answer: dict[str, object] = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # the view's 502: a failed REST call
        with exc:
            answer = {"status": exc.code, **json.loads(exc.read())}
    return answer


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
