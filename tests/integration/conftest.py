"""Fixtures for the integration tests: a real broker, real workers, one local Sayna.

The broker (redis-server), the Celery worker nodes and the local Sayna server
live for a test module, so that nothing of them is left when the rest of the
suite checks for stray threads; each test that stops a process starts its
own. Everything started here is stopped here, in ``finally`` blocks, down to
the last forked child.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
from celery import Celery

from sayna.testing import FakeServer
from tests.integration.processes import Process, WorkerFactory, start_redis


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A folder for the processes' logs and data."""
    return tmp_path_factory.mktemp("integration")


@pytest.fixture(scope="module")
def broker(workdir: pathlib.Path) -> Iterator[str]:
    """The URL of a redis-server started for this test session."""
    server, url = start_redis(workdir)
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sayna_local() -> Iterator[FakeServer]:
    """The local Sayna server every worker talks to."""
    with FakeServer(record=False, tts_speedup=0) as server:
        yield server


@pytest.fixture(scope="module")
def worker_env(broker: str, sayna_local: FakeServer) -> dict[str, str]:
    """The environment of a worker process: where Sayna and the broker are."""
    return {"SAYNA_URL": sayna_local.url, "SAYNA_TEST_BROKER": broker, "SAYNA_API_KEY": ""}


@pytest.fixture(scope="module")
def sender(broker: str) -> Iterator[Celery]:
    """A Celery app in the test process that sends tasks by name and reads their results."""
    app = Celery("sender", broker=broker, backend=broker)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
    )
    try:
        yield app
    finally:
        # The result consumer's pub/sub thread, stopped before the interpreter exits.
        app.backend.result_consumer.stop()
        app.close()


@pytest.fixture(scope="module")
def nodes(workdir: pathlib.Path, worker_env: dict[str, str]) -> Iterator[list[Process]]:
    """Two worker nodes ("two machines") of 4 prefork processes each on one broker."""
    factory = WorkerFactory(workdir, worker_env)
    try:
        yield [factory("alpha"), factory("beta")]
    finally:
        factory.stop_all()


@pytest.fixture
def workers(workdir: pathlib.Path, worker_env: dict[str, str]) -> Iterator[WorkerFactory]:
    """Start extra worker nodes in a test; they are stopped when it ends."""
    factory = WorkerFactory(workdir, worker_env)
    try:
        yield factory
    finally:
        factory.stop_all()
