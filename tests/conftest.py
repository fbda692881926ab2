"""Fixtures shared by the whole suite (the ``sayna_server`` fixture comes from our plugin)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sayna import Sayna
from sayna.testing import FakeServer


@pytest.fixture
def client(sayna_server: FakeServer) -> Iterator[Sayna]:
    """A client for the local server, closed after the test."""
    with Sayna(sayna_server.url) as c:
        yield c
