"""A reconnecting session on a FakeServer of its own, for tests that stop that server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sayna import ReconnectPolicy, Sayna, Session
from sayna.testing import FakeServer
from tests.support.speech_configs import STT, TTS


@contextlib.contextmanager
def reconnecting_session(policy: ReconnectPolicy) -> Iterator[tuple[FakeServer, Session]]:
    """A ready session with ``policy`` on a new server; the session, then the server, end after.

    The test may stop the server itself (stopping is idempotent).
    """
    server = FakeServer().start()
    try:
        with Sayna(server.url) as client:
            session = client.connect(STT, TTS, reconnect=policy, timeout=2)
            server.wait_for_session()
            yield server, session
            session.close()
    finally:
        server.stop()
