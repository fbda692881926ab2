"""A real uWSGI (the pyuwsgi wheel): sessions refused without threads, served with them.

uWSGI up to 2.0.26 starts Python without threads unless told
(``--enable-threads``, or ``--threads N`` which implies it); later releases
always enable them. The refusal is therefore tested on pyuwsgi 2.0.26, the
version the test extra installs below Python 3.13 (its wheels stop at 3.12);
with a newer uWSGI that test is skipped and the others still run.
"""

from __future__ import annotations

import json
import pathlib
import urllib.request
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import pytest

from sayna.testing import FakeServer
from tests.integration.processes import BIN, HERE, Process, free_port

pytest.importorskip("pyuwsgi")

VERSION = tuple(int(part) for part in metadata.version("pyuwsgi").split(".")[:3])
THREADS_BY_DEFAULT = VERSION >= (2, 0, 27)


class UWSGI:
    """``uwsgi --http-socket`` serving uwsgi_app with one worker and the given options."""

    def __init__(self, workdir: pathlib.Path, url: str, name: str, options: list[str]) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.process = Process(
            f"uwsgi {name}",
            [
                str(BIN / "uwsgi"),
                f"--http-socket=127.0.0.1:{port}",
                "--module=uwsgi_app:application",
                "--master",
                "--processes=1",
                "--need-app",
                "--die-on-term",  # SIGTERM stops it (uWSGI 2.0 would reload)
                *options,
            ],
            log=workdir / f"uwsgi-{name}.log",
            cwd=HERE,
            env={"SAYNA_URL": url, "SAYNA_API_KEY": ""},
        )

    def __enter__(self) -> UWSGI:
        try:
            self.process.wait_for_output("spawned uWSGI worker 1", timeout=120)
        except BaseException:
            self.process.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()

    def connect(self) -> dict[str, Any]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{self.base}/connect", timeout=120) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer


@pytest.fixture
def uwsgi(workdir: pathlib.Path, sayna_local: FakeServer) -> Iterator[Any]:
    """Start uWSGI with some options (stopped at the test's end)."""
    started: list[UWSGI] = []

    def start(name: str, *options: str) -> UWSGI:
        server = UWSGI(workdir, sayna_local.url, name, list(options))
        started.append(server)
        return server.__enter__()

    try:
        yield start
    finally:
        for server in started:
            server.__exit__()


@pytest.mark.skipif(
    THREADS_BY_DEFAULT,
    reason=f"uWSGI {VERSION} always enables threads: the refusal needs pyuwsgi 2.0.26,"
    " the last release without threads by default (wheels up to Python 3.12)",
)
def test_connect_refused_without_enable_threads(uwsgi: Any) -> None:
    """Without --enable-threads, connect() raises SaynaThreadsDisabledError naming the option."""
    answer = uwsgi("plain").connect()
    assert answer["has_threads"] == 0
    assert answer["error"] == "SaynaThreadsDisabledError"
    assert "--enable-threads" in answer["message"]
    assert "enable-threads = true" in answer["message"]
    assert "reader thread would never run" in answer["message"]


@pytest.mark.parametrize(
    "options",
    [["--enable-threads"], ["--threads=2"], ["--threads=1"]],
    ids=["enable-threads", "threads-2", "threads-1"],
)
def test_connect_served_with_threads(uwsgi: Any, options: list[str]) -> None:
    """With --enable-threads, or --threads N (which implies it), the session speaks."""
    answer = uwsgi(options[0].strip("-").replace("=", "-"), *options).connect()
    assert answer["has_threads"] == 1
    assert answer.get("error") is None, answer
    assert answer["text"] == "served by uWSGI"
