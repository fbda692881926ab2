"""pytest plugin registered through the ``pytest11`` entry point.

Provides the ``sayna_server`` fixture. h11/wsproto are imported only when the
fixture is used, so the plugin loads even without the ``testing`` extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sayna.testing._server import FakeServer


@pytest.fixture
def sayna_server() -> Iterator[FakeServer]:
    """A started :class:`sayna.testing.FakeServer` (auth off), stopped after the test."""
    from sayna.testing._server import FakeServer

    with FakeServer() as server:
        yield server
