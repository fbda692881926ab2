"""Fixtures shared by the whole suite (the ``sayna_server`` fixture comes from our plugin).

A test module may define its own ``server``, ``session`` or ``pair``; it then replaces these.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from sayna import Sayna, Session
from sayna.testing import FakeServer, FakeSession
from tests.support.speech_configs import STT, TTS, TTS_16K


@pytest.fixture
def client(sayna_server: FakeServer) -> Iterator[Sayna]:
    """A client for the local server, closed after the test."""
    with Sayna(sayna_server.url) as c:
        yield c


@pytest.fixture
def pair(sayna_server: FakeServer, client: Sayna) -> Iterator[tuple[Session, FakeSession]]:
    """A session (speech_configs' STT and TTS) and its server side, on ``sayna_server``."""
    with client.connect(STT, TTS) as session:
        yield session, sayna_server.wait_for_session()


@pytest.fixture
def no_sayna_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own SAYNA_* variables must not leak into the test."""
    for name in ("SAYNA_URL", "SAYNA_API_KEY", "SAYNA_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A local server (auth off) whose TTS runs 50 times faster than real time."""
    with FakeServer(tts_speedup=50) as srv:
        yield srv


@pytest.fixture
def session(server: FakeServer) -> Iterator[Session]:
    """A ready session on ``server``: STT and TTS_16K of ``speech_configs``."""
    with Sayna(server.url) as client, client.connect(stt_config=STT, tts_config=TTS_16K) as sess:
        yield sess


@pytest.fixture
def traced() -> Iterator[None]:
    """Python allocations are traced (tracemalloc) for the length of the test."""
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()
