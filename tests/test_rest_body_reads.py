"""A REST answer with a Content-Length is read in one call and its connection is reused."""

from __future__ import annotations

import pytest
import urllib3.response

from sayna import Sayna, TTSConfig
from sayna.testing import FakeServer

TTS = TTSConfig(provider="deepgram", model="aura-asteria-en")


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes urllib3 returned for each body read, recorded."""
    seen: list[int] = []
    original = urllib3.response.HTTPResponse.read

    def read(self: urllib3.response.HTTPResponse, *args: object, **kwargs: object) -> bytes:
        data: bytes = original(self, *args, **kwargs)  # type: ignore[arg-type]
        seen.append(len(data))
        return data

    monkeypatch.setattr(urllib3.response.HTTPResponse, "read", read)
    return seen


def test_a_complete_body_takes_one_read_and_no_end_of_body_read(
    sayna_server: FakeServer, reads: list[int]
) -> None:
    """health() and speak_rest() read their bodies once: no read that returns nothing."""
    with Sayna(sayna_server.url) as client:
        assert client.health().status == "OK"
        audio, _ = client.speak_rest("hello", TTS)
    assert audio
    assert 0 not in reads
    assert len(reads) == 2


def test_the_connection_goes_back_to_the_pool(sayna_server: FakeServer) -> None:
    """Answers read to their Content-Length leave their connection reusable: one for ten calls."""
    with Sayna(sayna_server.url) as client:
        for _ in range(5):
            client.health()
            client.speak_rest("hello", TTS)
        pools = client._http.get_adapter(sayna_server.url).poolmanager.pools
        (pool,) = [pools[key] for key in pools.keys()]  # noqa: SIM118 - it is not iterable
        assert pool.num_connections == 1
        assert pool.num_requests == 10
