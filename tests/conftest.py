"""Fixtures shared by the whole suite (the ``sayna_server`` fixture comes from our plugin).

Two markers configure them per test, per class or per module (``pytestmark``), so a
module states how its server or session differs instead of redefining the fixture:

- ``@pytest.mark.fake_server(**keywords)``: ``server`` is ``FakeServer(**keywords)``
  (exactly those keywords; without the marker, ``FakeServer(tts_speedup=50)``);
- ``@pytest.mark.connect(**keywords)``: ``session`` and ``pair`` pass these keywords to
  ``client.connect`` on top of (or in place of) their default configurations.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from sayna import Sayna, Session
from sayna.testing import FakeServer, FakeSession
from tests.support import held_stream as stand_in_stream
from tests.support.speech_configs import STT, TTS, TTS_16K

#: The ``server`` fixture's keywords when no fake_server marker applies.
DEFAULT_SERVER: dict[str, Any] = {"tts_speedup": 50}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fake_server(**keywords): the FakeServer keywords of the `server` fixture"
    )
    config.addinivalue_line(
        "markers",
        "connect(**keywords): client.connect keywords of the `session` and `pair` fixtures",
    )


def _marker_keywords(request: pytest.FixtureRequest, name: str) -> dict[str, Any] | None:
    """The keywords of the closest ``name`` marker (test, then class, then module), if any."""
    marker = request.node.get_closest_marker(name)
    if marker is None:
        return None
    if marker.args:
        raise TypeError(f"the {name} marker takes keywords only, got {marker.args!r}")
    return dict(marker.kwargs)


def _connect_keywords(request: pytest.FixtureRequest, **defaults: Any) -> dict[str, Any]:
    """``defaults`` updated by the connect marker's keywords."""
    return {**defaults, **(_marker_keywords(request, "connect") or {})}


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
    """A local server (auth off): ``FakeServer(tts_speedup=50)`` or the fake_server marker's."""
    keywords = _marker_keywords(request, "fake_server")
    with FakeServer(**(DEFAULT_SERVER if keywords is None else keywords)) as srv:
        yield srv


@pytest.fixture
def session(server: FakeServer, request: pytest.FixtureRequest) -> Iterator[Session]:
    """A ready session on ``server``: STT and TTS_16K of ``speech_configs``, then connect's."""
    keywords = {
        "stt_config": STT,
        "tts_config": TTS_16K,
        **(_marker_keywords(request, "connect") or {}),
    }
    with Sayna(server.url) as client, client.connect(**keywords) as sess:
        yield sess


@pytest.fixture
def client(sayna_server: FakeServer) -> Iterator[Sayna]:
    """A client for the local server, closed after the test."""
    with Sayna(sayna_server.url) as c:
        yield c


@pytest.fixture
def pair(
    sayna_server: FakeServer, client: Sayna, request: pytest.FixtureRequest
) -> Iterator[tuple[Session, FakeSession]]:
    """A session (STT and TTS of ``speech_configs``, then connect's) and its server side."""
    keywords = {
        "stt_config": STT,
        "tts_config": TTS,
        **(_marker_keywords(request, "connect") or {}),
    }
    with client.connect(**keywords) as session:
        yield session, sayna_server.wait_for_session()


@pytest.fixture
def held_stream(monkeypatch: pytest.MonkeyPatch) -> stand_in_stream.HeldStream:
    """Every Speaker opened in the test plays into this stand-in stream (no sound card)."""
    return stand_in_stream.install(monkeypatch)


@pytest.fixture
def no_sayna_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own SAYNA_* variables must not leak into the test."""
    for name in ("SAYNA_URL", "SAYNA_API_KEY", "SAYNA_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def traced() -> Iterator[None]:
    """Python allocations are traced (tracemalloc) for the length of the test."""
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()
